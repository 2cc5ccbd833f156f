"""Generation backends behind one small interface: transformers (`hf`, always there) and vLLM
(`vllm`, optional: `pip install unmirage[vllm]`), chosen by `EvalConfig.backend`.

Both build the prompt with the processor's chat template (`data.inputs.generation_prompt`) and
decode greedily, so the same model gives the same kind of answer through either; `auto` picks
vLLM when it is importable and a CUDA GPU is present, transformers otherwise.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Protocol

import torch

from ..config import EvalConfig
from ..data.inputs import ImageCache, generation_prompt
from ..data.records import Sample
from ..errors import ConfigError
from .generate import HFGenerator

log = logging.getLogger(__name__)


class Generator(Protocol):
    """Answers a batch of samples; `settings` names what, besides the model, prompt and image,
    decides an answer (backend, decoding), so that cached answers are reused only when it agrees."""

    settings: dict

    def generate(self, samples: list[Sample]) -> list[str]: ...


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


def resolve_backend(name: str, has_vllm: bool | None = None, has_cuda: bool | None = None) -> str:
    """`hf` or `vllm` for a configured backend name; `vllm` requested but missing is an error."""
    has_vllm = vllm_available() if has_vllm is None else has_vllm
    has_cuda = torch.cuda.is_available() if has_cuda is None else has_cuda
    if name == "hf":
        return "hf"
    if name == "vllm":
        if not has_vllm:
            raise ConfigError("eval.backend=vllm but vLLM is not installed; install it with "
                              "`pip install unmirage[vllm]` (needs a CUDA GPU) or set eval.backend=hf")
        return "vllm"
    if name == "auto":
        return "vllm" if has_vllm and has_cuda else "hf"
    raise ConfigError(f"unknown eval.backend {name!r}; one of hf, vllm, auto")


def model_source(model) -> str:
    """The local directory or hub id a transformers model was loaded from (vLLM loads it again)."""
    source = getattr(model, "name_or_path", "") or ""
    if not source:
        raise ConfigError("the vllm backend needs a model saved to disk or a hub id (this model was built in "
                          "memory); save it first, or set eval.backend=hf")
    return source


class VLLMGenerator:
    """vLLM offline generation: one image per prompt, greedy (temperature 0)."""

    name = "vllm"

    def __init__(self, source: str | Path, processor, image_root: str | Path, max_new_tokens: int = 24,
                 trust_remote_code: bool = False, seed: int = 0):
        # vLLM is an optional dependency, imported only when this backend is used.
        from vllm import LLM, SamplingParams

        self.processor, self.max_new_tokens = processor, max_new_tokens
        self.images = ImageCache(processor, image_root)
        self.llm = LLM(model=str(source), limit_mm_per_prompt={"image": 1}, trust_remote_code=trust_remote_code,
                       seed=seed)
        self.params = SamplingParams(temperature=0, max_tokens=max_new_tokens)

    @property
    def settings(self) -> dict:
        return {"backend": self.name, "max_new_tokens": self.max_new_tokens, "greedy": True}

    def generate(self, samples: list[Sample]) -> list[str]:
        requests = [{"prompt": generation_prompt(self.processor, s),
                     "multi_modal_data": {"image": self.images.pil(s.image)}} for s in samples]
        outputs = self.llm.generate(requests, self.params, use_tqdm=False)
        return [o.outputs[0].text.strip() for o in outputs]


def make_generator(cfg: EvalConfig, model, processor, image_root: str | Path,
                   device: torch.device | str | None = None) -> Generator:
    """The generation backend `cfg.backend` asks for, over `model` (loaded with transformers).
    With `hf`, a model still on the CPU moves to `device` (e.g. this process's GPU)."""
    backend = resolve_backend(cfg.backend)
    log.info("generation backend: %s", backend)
    if backend == "vllm":
        return VLLMGenerator(model_source(model), processor, image_root, cfg.max_new_tokens,
                             cfg.trust_remote_code)
    if device is not None and torch.device(device).type != "cpu" and model.device.type == "cpu":
        model = model.to(device)
    return HFGenerator(model, processor, image_root, cfg.max_new_tokens)
