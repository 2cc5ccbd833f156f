"""Representation Misdirection for Unlearning."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from accelerate.utils import send_to_device

from ..errors import ConfigError
from ..models.families import image_token_id
from ..models.hooks import capture_output, decoder_layer
from ..models.scope import layer_pattern
from .base import METHODS, model_inputs, precompute
from .losses import answer_state_mask, rmu_forget, rmu_retain
from .unlearning import RetainParams, UnlearningMethod

STEER = ("text", "answer")


@dataclass
class RMUParams(RetainParams):
    layer: int = -1  # ℓ, the decoder layer whose output is steered; -1 = the middle layer
    coeff: float = 0.0  # c; 0 = calibrate as coeff_scale × the mean activation norm at ℓ on forget inputs
    coeff_scale: float = 4.0
    trainable_layers: list[int] = field(default_factory=list)  # [] = layers ℓ-2..ℓ
    trainable_modules: str = "mlp"  # which sub-modules of those layers train (a regex)
    seed: int | None = None  # seeds the random direction u; None = the arm's training seed
    retain_method_weight: float = 10.0  # α
    steer: str = "text"  # which forget positions are steered: "text" (prompt and answer) or "answer"
    UNKEYED_DEFAULTS: ClassVar[dict[str, Any]] = {"steer": "text"}  # added later; "text" is what RMU did before

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steer not in STEER:
            raise ConfigError(f"rmu steer {self.steer!r}: one of {', '.join(STEER)}")


def random_direction(seed: int, dim: int) -> torch.Tensor:
    """RMU's u: a unit vector drawn uniform in [0, 1)^dim and normalised, as WMDP's RMU draws it.
    All its components are positive, so whatever the seed it lies near the all-ones direction
    (cosine about 0.87)."""
    u = torch.rand(dim, generator=torch.Generator().manual_seed(seed))
    return u / u.norm()


def model_config(model):
    """The model's config, also when DDP or DeepSpeed wrap it (as `.module`) during training."""
    return getattr(model, "module", model).config


def text_layers(model) -> int:
    config = model_config(model)
    return getattr(config, "text_config", config).num_hidden_layers


def text_token_mask(model, batch) -> torch.Tensor:
    """Attention mask without image tokens: RMU steers text tokens of prompt and answer only."""
    mask = batch["attention_mask"].bool()
    image_token = image_token_id(model_config(model))
    if image_token is not None:
        mask &= batch["input_ids"] != image_token
    return mask


@METHODS.register("rmu")
class RMU(UnlearningMethod):
    """RMU (Li et al. 2024, WMDP, arXiv 2403.03218): steer forget activations at layer ℓ to a random direction.

    Objective: E_f[||h_θ^ℓ(x_f) − c·u||²] + γ·(E_r[−log π_θ(y|x)] + α·E_r[||h_θ^ℓ(x_r) − h_θ0^ℓ(x_r)||²]),
    over text tokens of prompt and answer (no image tokens, no padding); with `steer: answer` the
    forget term covers only the positions that predict the answer's tokens. h^ℓ is the output of
    decoder layer ℓ itself, taken with a forward hook as WMDP's RMU does (never the post-norm
    state that feeds the output head, which `hidden_states[-1]` is at the last layer). u is a
    fixed unit vector seeded by `seed` (default the arm's training seed); h_θ0 (the frozen
    model's activations on retain inputs) is computed once in `prepare`. Trains only the MLPs of
    layers ℓ-2..ℓ unless configured otherwise.
    """

    name = "rmu"
    Params = RMUParams

    def _layer(self, model) -> int:
        n = text_layers(model)
        layer = self.params.layer if self.params.layer >= 0 else n // 2
        if layer >= n:
            raise ConfigError(f"rmu layer {layer} does not exist: the language model has {n} layers (0..{n - 1})")
        return layer

    def trainable(self, model):
        layer = self._layer(model)
        layers = self.params.trainable_layers or list(range(max(0, layer - 2), layer + 1))
        return [layer_pattern(layers, self.params.trainable_modules)]  # any family, with or without PEFT

    def hooked_layer(self, model) -> torch.nn.Module:
        return decoder_layer(model, self._layer(model))

    def hidden(self, model, batch) -> torch.Tensor:
        """(batch, seq, dim) output of decoder layer ℓ."""
        with capture_output(self.hooked_layer(model)) as captured:
            model(**model_inputs(batch))
        return captured.get()

    def retain_forward(self, model, retain):
        with capture_output(self.hooked_layer(model)) as captured:
            out = super().retain_forward(model, retain)
        self._retain_hidden = captured.get()
        return out

    @torch.no_grad()
    def prepare(self, model, data, collate):
        super().prepare(model, data, collate)
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        norms = []
        for start in range(0, len(data.main), 32):
            batch = send_to_device(collate(data.main[start:start + 32]), device)
            h = self.hidden(model, batch)
            norms.append(h.norm(dim=-1)[text_token_mask(model, batch)].float().cpu())
        model.train(was_training)

        def frozen_hidden(model, batch):  # per example: activations at ℓ without its (right) padding
            return [hi[:n] for hi, n in zip(self.hidden(model, batch), batch["attention_mask"].sum(-1).tolist())]

        precompute(model, data.retain or [], collate, frozen_hidden, "ref_hidden")
        self.direction = random_direction(self.direction_seed, h.shape[-1])
        mean_norm = torch.cat(norms).mean().item()
        self.coeff = self.params.coeff or self.params.coeff_scale * mean_norm
        self.calibration = {"mean_norm": mean_norm, "coeff": self.coeff, "layer": self._layer(model),
                            "direction_seed": self.direction_seed}

    @property
    def direction_seed(self) -> int:
        return self.seed if self.params.seed is None else self.params.seed

    def forget_loss(self, model, forget):
        h = self.hidden(model, forget)
        mask = text_token_mask(model, forget)
        if self.params.steer == "answer":
            mask = mask & answer_state_mask(forget["labels"])
        return rmu_forget(h, self.direction.to(h.device), self.coeff, mask)

    def retain_term(self, model, retain, out):
        return rmu_retain(self._retain_hidden, retain["ref_hidden"], text_token_mask(model, retain))
