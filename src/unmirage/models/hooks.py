"""Forward hooks on a language model's decoder layers, for every family.

`output_hidden_states` gives the input of every layer and, as its last entry, the state *after*
the final norm, which feeds the output head. A method that steers the output of decoder layer
ℓ (RMU) must take that output from the layer module itself, never from `hidden_states[ℓ + 1]`:
at the last layer that entry has passed through the frozen final norm.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import torch

from ..errors import ConfigError

# `model.language_model.layers.N` (LLaVA, Qwen2-VL), `language_model.model.layers.N` (older
# transformers), `model.text_model.layers.N` (Idefics3, SmolVLM), under any prefix (PEFT, DDP)
_LAYER = re.compile(r"(?:^|\.)(?:language_model|text_model)\.(?:model\.)?layers\.(\d+)$")


def decoder_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The language model's decoder layers, in order."""
    found = {int(m.group(1)): module for name, module in model.named_modules() if (m := _LAYER.search(name))}
    if not found:
        raise ConfigError(f"{type(model).__name__}: found no language-model decoder layers "
                          "(modules named like '...language_model.layers.N')")
    return [found[i] for i in sorted(found)]


def decoder_layer(model: torch.nn.Module, index: int) -> torch.nn.Module:
    layers = decoder_layers(model)
    if not 0 <= index < len(layers):
        raise ConfigError(f"decoder layer {index} does not exist: the language model has {len(layers)} "
                          f"layers (0..{len(layers) - 1})")
    return layers[index]


class Captured:
    """What a hooked module produced in the last forward pass (`output`: (batch, seq, hidden))."""

    output: torch.Tensor | None = None

    def get(self) -> torch.Tensor:
        if self.output is None:
            raise RuntimeError("the hooked layer did not run in this forward pass")
        return self.output


@contextmanager
def capture_output(module: torch.nn.Module) -> Iterator[Captured]:
    """Within the block, every forward pass of `module` stores its output (the hidden states,
    the first element where a layer returns a tuple) in the yielded `Captured`."""
    captured = Captured()

    def hook(_module, _inputs, output):
        captured.output = output[0] if isinstance(output, (tuple, list)) else output

    handle = module.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()
