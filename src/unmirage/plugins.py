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
    "judge": ("unmirage.eval.keyword", "unmirage.eval.vlm", "unmirage.eval.classifier", "unmirage.eval.fitted",
              "unmirage.world.oracle"),
    "dataset": ("unmirage.data.datasets",),
    "attack": ("unmirage.attacks.one_word", "unmirage.attacks.prefill", "unmirage.attacks.depth", "unmirage.attacks.relearn",
               "unmirage.attacks.image_cue", "unmirage.attacks.trigger"),
}
ENTRY_POINTS = "unmirage.plugins"
_loaded: set[str] = set()  # kinds whose every module imported
_loading: set[str] = set()  # kinds being imported now (a plugin module may look its own registry up)


def load(kind: str) -> None:
    """Import the modules that register plugins of `kind`, and the entry points' modules. A kind
    counts as loaded only once every import succeeded, so a failed import fails every lookup
    again rather than leave a registry without some of its plugins."""
    if kind in _loaded or kind in _loading:
        return
    _loading.add(kind)
    try:
        for module in PLUGINS.get(kind, ()):
            importlib.import_module(module)
        for entry in metadata.entry_points(group=ENTRY_POINTS):
            importlib.import_module(entry.module)  # "package.module" or "package.module:attr"
        _loaded.add(kind)
    finally:
        _loading.discard(kind)
