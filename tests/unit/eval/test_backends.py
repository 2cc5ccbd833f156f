"""Choosing a generation backend, and the eval config's checks."""

from __future__ import annotations

import pytest

from unmirage.config import EvalConfig, from_dict
from unmirage.errors import ConfigError
from unmirage.eval.backends import (
    make_generator,
    model_source,
    resolve_backend,
    vllm_available,
)
from unmirage.eval.generate import HFGenerator


@pytest.mark.parametrize("name, has_vllm, has_cuda, chosen", [
    ("hf", True, True, "hf"),
    ("vllm", True, False, "vllm"),
    ("auto", True, True, "vllm"),
    ("auto", True, False, "hf"),
    ("auto", False, True, "hf"),
])
def test_resolve_backend(name, has_vllm, has_cuda, chosen):
    assert resolve_backend(name, has_vllm, has_cuda) == chosen


def test_missing_vllm_says_how_to_install():
    with pytest.raises(ConfigError, match=r"pip install unmirage\[vllm\]"):
        resolve_backend("vllm", has_vllm=False, has_cuda=True)


def test_hf_backend_by_default(eval_processor, eval_images):
    import torch

    model = torch.nn.Linear(1, 1)  # any module: the hf generator only keeps it until it generates
    model.dtype = torch.float32
    gen = make_generator(EvalConfig(max_new_tokens=7), model, eval_processor, eval_images)
    assert isinstance(gen, HFGenerator)
    assert gen.settings == {"backend": "hf", "dtype": "torch.float32", "max_new_tokens": 7, "greedy": True}


@pytest.mark.skipif(vllm_available(), reason="vLLM is installed here")
def test_requesting_vllm_without_it_fails_before_loading(eval_processor, eval_images):
    with pytest.raises(ConfigError, match="vLLM is not installed"):
        make_generator(EvalConfig(backend="vllm"), object(), eval_processor, eval_images)


def test_vllm_needs_a_model_on_disk():
    class Built:
        name_or_path = ""

    with pytest.raises(ConfigError, match="save it first"):
        model_source(Built())


def test_eval_config_checks_its_values():
    with pytest.raises(ConfigError, match="Did you mean 'vllm'"):
        EvalConfig(backend="vlm")
    with pytest.raises(ConfigError, match="judge_style"):
        from_dict(EvalConfig, {"judge_style": "llamaguard"})
    with pytest.raises(ConfigError, match="judge_batch_size"):
        EvalConfig(judge_batch_size=0)
    cfg = from_dict(EvalConfig, {"backend": "auto", "cache": False, "judge": "vlm", "judge_model": "a/b"})
    assert cfg.backend == "auto" and cfg.cache is False and cfg.judge_model == "a/b"
