"""Processors without torchvision: the image path of processor classes that also hold a video processor."""

from __future__ import annotations

import inspect
import types
from functools import cache
from pathlib import Path

import transformers

from ..errors import ConfigError


class NoVideo:
    """Stands in for a video processor: its defaults are unset and a video is a clear error."""

    num_frames = fps = None

    def __call__(self, *args, **kwargs):
        raise ConfigError("video inputs need a video processor, which needs torchvision: install it")


@cache
def image_only(processor_cls: type) -> type:
    """`processor_cls` without its video processor, for machines without torchvision.

    Qwen2-VL's, Qwen2.5-VL's, LLaVA-OneVision's and SmolVLM's processor classes take a video
    processor, and every transformers video processor needs torchvision. Their image path
    does not. This subclass keeps the class's name and behaviour (prompt expansion, image
    tokens, `mm_token_type_ids`, saving and loading its settings) but lists only the image
    processor and the tokenizer as sub-processors, so `ProcessorMixin` neither builds nor
    checks a video processor. Its `__init__` is the parent's own code with the video processor
    defaulting to None (`from_pretrained` reads the argument names off that code object). A
    directory saved from it loads with `AutoProcessor` where torchvision is installed.
    """
    init = processor_cls.__init__
    params = [p for p in inspect.signature(init).parameters.values()
              if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    names = [p.name for p in params]
    if "video_processor" not in names:
        return processor_cls
    defaults = tuple(None if p.default is inspect.Parameter.empty else p.default
                     for p in params[names.index("video_processor"):])
    new_init = types.FunctionType(init.__code__, init.__globals__, init.__name__, defaults, init.__closure__)
    new_init.__kwdefaults__ = init.__kwdefaults__
    attributes = [a for a in processor_cls.get_attributes() if a != "video_processor"]
    return type(processor_cls.__name__, (processor_cls,), {
        "__init__": new_init, "__doc__": image_only.__doc__, "__module__": __name__,
        "get_attributes": classmethod(lambda cls: list(attributes)),
        "video_processor": NoVideo(),  # a class attribute: never saved with the instance's settings
    })


def has_torchvision() -> bool:
    try:
        import torchvision  # noqa: F401
    except ImportError:
        return False
    return True


def processor_class(name_or_path: str | Path) -> type | None:
    """The transformers processor class registered for a saved model's `model_type` (None: unknown)."""
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    try:
        config = transformers.AutoConfig.from_pretrained(name_or_path, trust_remote_code=False)
    except ValueError:  # a model type transformers does not know (remote code): let AutoProcessor say why
        return None
    name = PROCESSOR_MAPPING_NAMES.get(config.model_type)
    return getattr(transformers, name, None) if isinstance(name, str) else None


def load_processor(name_or_path: str | Path, trust_remote_code: bool = False):
    """`AutoProcessor.from_pretrained`, or, without torchvision, the image-only variant of the
    model's processor class where that class would need a video processor."""
    if not trust_remote_code and not has_torchvision():
        cls = processor_class(name_or_path)
        if cls is not None and image_only(cls) is not cls:
            return image_only(cls).from_pretrained(name_or_path)
    return transformers.AutoProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
