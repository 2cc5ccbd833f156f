"""The dataset registry: a name → loader map so configs and the CLI can name a benchmark.

Every loader is `loader(path, image_root=None, check_images=True, **options) -> list[Sample]`;
the samples' `image` fields are relative to `image_root` (each loader documents its default).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..registry import Registry
from .figstep import load_figstep
from .generic import load_generic
from .loading import check_image_paths
from .mirage import load_mirage
from .mmsafety import load_mmsafety
from .records import Sample
from .spavl import load_spavl
from .vlguard import load_vlguard
from .vqa import load_vqa

Loader = Callable[..., list[Sample]]


def load_vlguard_checked(path: str | Path, image_root: str | Path | None = None,
                         check_images: bool = True) -> list[Sample]:
    """VLGuard JSON (train.json / test.json); images relative to `image_root` (default: the file's folder)."""
    root = Path(path).parent if image_root is None else image_root
    return check_image_paths(load_vlguard(path), root, str(path), check_images)


DATASETS: Registry[Loader] = Registry("dataset")
for _name, _loader in {"vlguard": load_vlguard_checked, "mirage": load_mirage, "spavl": load_spavl,
                       "mmsafety": load_mmsafety, "figstep": load_figstep, "generic": load_generic,
                       "vqa": load_vqa}.items():
    DATASETS.register(_name)(_loader)


def load_dataset(name: str, path: str | Path, **options: Any) -> list[Sample]:
    """Load the dataset registered as `name` from `path`; an unknown option is a `ConfigError`."""
    loader = DATASETS.get(name)
    params = inspect.signature(loader).parameters
    unknown = [k for k in options if k not in params or k == "path"]
    if unknown:
        allowed = [p for p in params if p != "path"]
        raise ConfigError(f"dataset {name!r} has no option(s) {unknown}; its options are {allowed}")
    return loader(path, **options)
