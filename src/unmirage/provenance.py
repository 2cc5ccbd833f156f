"""What a run records about where its numbers come from: unmirage's version, the commit, and the
versions of the libraries that can change them."""

from __future__ import annotations

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


def stamp() -> dict[str, str]:
    """The version and commit every results.json and run.json carries."""
    return {"version": __version__, "git": git_hash()}
