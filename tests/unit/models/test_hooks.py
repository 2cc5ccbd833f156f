"""The output of a decoder layer, taken with a forward hook, in every family: RMU steers it."""

from __future__ import annotations

import pytest
import torch

from unmirage.config import ModelConfig
from unmirage.data.inputs import Collator, Encoder, model_inputs
from unmirage.data.samples_io import read_samples
from unmirage.errors import ConfigError
from unmirage.models.families import FAMILIES, fresh_tiny
from unmirage.models.hooks import capture_output, decoder_layer, decoder_layers

CFG = {"text_hidden": 32, "text_intermediate": 64, "text_layers": 3, "text_heads": 2, "vision_hidden": 32,
       "vision_layers": 1, "vision_heads": 2, "max_length": 128}


@pytest.mark.parametrize("family", FAMILIES.names())
def test_hooked_layer_output_is_the_layer_s_own_output(tiny_world, family):
    if family == "smolvlm":
        pytest.importorskip("num2words", reason="SmolVLM's processor needs num2words")
    samples = read_samples(tiny_world / "corpus.jsonl")
    torch.manual_seed(0)
    model, processor = fresh_tiny(ModelConfig(family=family, **CFG), [s.instruction + " " + s.response for s in samples],
                                  32)
    model.eval()
    encoder = Encoder(processor, tiny_world / "images", 128)
    batch = Collator(processor.tokenizer.pad_token_id, encoder.images)([encoder.encode(s) for s in samples[:3]])
    layers = decoder_layers(model)
    assert len(layers) == CFG["text_layers"]
    with torch.no_grad():
        hidden = model(**model_inputs(batch), output_hidden_states=True).hidden_states
        for i in range(len(layers)):
            with capture_output(decoder_layer(model, i)) as got:
                model(**model_inputs(batch))
            if i < len(layers) - 1:  # below the last layer, hidden_states[i + 1] is the layer's output
                torch.testing.assert_close(got.get(), hidden[i + 1])
        # at the last layer hidden_states[-1] comes after the final norm; the hook sees the pre-norm output
        last = got.get()
        assert not torch.allclose(last, hidden[-1], atol=1e-3)
        norm = model.get_decoder().norm if hasattr(model.get_decoder(), "norm") else None
        if norm is None:  # Idefics3 / SmolVLM: the text model's own norm
            norm = next(m for n, m in model.named_modules() if n.endswith("text_model.norm"))
        torch.testing.assert_close(norm(last), hidden[-1])


def test_missing_layer_is_a_clear_error(tiny_world):
    samples = read_samples(tiny_world / "corpus.jsonl")
    model, _ = fresh_tiny(ModelConfig(**CFG), [s.instruction for s in samples], 32)
    with pytest.raises(ConfigError, match="has 3 layers"):
        decoder_layer(model, 3)
    with pytest.raises(ConfigError, match="no language-model decoder layers"):
        decoder_layers(torch.nn.Linear(2, 2))
