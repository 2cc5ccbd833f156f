"""Every plugin, in one place: the modules whose import registers a method, a judge or a dataset.

A registry loads its kind's modules the first time a name is looked up in it (`Registry.get`,
`in`, iteration), so that a lookup sees every plugin whatever the caller imported. Nothing
registers by being imported for its side effect elsewhere.

A package of one's own adds plugins without editing this file, through the entry-point group
`unmirage.plugins` (each entry point names a module to import), e.g. in its pyproject.toml:

    [project.entry-points."unmirage.plugins"]
    my_method = "my_package.my_method"
"""

from __future__ import annotations

import importlib
from importlib import metadata

PLUGINS: dict[str, tuple[str, ...]] = {
    "method": ("unmirage.methods.sft", "unmirage.methods.dpo", "unmirage.methods.ga", "unmirage.methods.npo",
               "unmirage.methods.rmu"),
    "judge": ("unmirage.eval.keyword", "unmirage.eval.vlm", "unmirage.world.oracle"),
    "dataset": ("unmirage.data.datasets",),
}
ENTRY_POINTS = "unmirage.plugins"
_loaded: set[str] = set()


def load(kind: str) -> None:
    """Import the modules that register plugins of `kind` (and the entry points', once)."""
    if kind in _loaded:
        return
    _loaded.add(kind)  # first: a module being imported may look its own registry up
    for module in PLUGINS.get(kind, ()):
        importlib.import_module(module)
    if ENTRY_POINTS not in _loaded:
        _loaded.add(ENTRY_POINTS)
        for entry in metadata.entry_points(group=ENTRY_POINTS):
            importlib.import_module(entry.value)
