"""What a run records about where its numbers come from: unmirage's version, the commit, and the
versions of the libraries that can change them."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from . import __version__

# libraries whose version can change the numbers of a run (recorded in run.json beside torch's)
LIBRARIES = ("transformers", "accelerate", "peft", "tokenizers", "safetensors", "numpy", "pillow", "snowballstemmer")


def git_hash() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name ("model name" in Linux's cpuinfo, else what `platform` knows)."""
    try:
        for line in Path(cpuinfo).read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine() -> dict:
    """What a run's numbers can move with beside the libraries: the CPU, its cores, torch's
    threads and the GPUs (numbers move by a few points from one CPU to another)."""
    import torch

    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "gpus": gpus}


def stamp() -> dict[str, str]:
    """The version and commit every results.json and run.json carries."""
    return {"version": __version__, "git": git_hash()}
