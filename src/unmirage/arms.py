"""A study's arms: what each model is made from (its spec and key), where it lives, whether a
saved one was made for another setup, and training it.

Every model records its spec (`artefacts.py`): a rerun reuses a saved model only when that
record matches, and otherwise stops (or, with `stale: retrain`, trains it again) rather than
evaluate a model of another world.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

from accelerate import PartialState
from transformers import set_seed

from .artefacts import key_of, record, staleness, without_unkeyed
from .config import ArmConfig, StudyConfig, to_dict
from .data.layout import DataDir, DataSets
from .data.records import Sample
from .errors import ConfigError
from .io import read_json
from .methods.base import METHODS, key_params
from .methods.train import Checkpoints, remove_checkpoints, train_arm
from .mixes import training_mix
from .world.build import world_spec
from .models.load import is_saved_model, load_model, model_from_config

log = logging.getLogger(__name__)


class Arms:
    def __init__(self, cfg: StudyConfig, run_dir: Path, data: DataDir, show_progress: bool = True):
        self.cfg, self.run_dir, self.data, self.show_progress = cfg, run_dir, data, show_progress

    # ------------------------------------------------------------ what a model is made from
    def data_spec(self) -> dict:
        """What the data is: the world's config, or the digests of a given data directory's files."""
        if not self.cfg.data_dir:
            return {"world": world_spec(self.cfg.world)}
        return {"data": self.data.digests()}

    def spec(self, name: str) -> dict:
        """What arm `name`'s model is made from: its arm (its method's params with their defaults
        spelt out, but those added later at their old behaviour: `key_params`), the seed it trains
        with, the model config, the data's key and the key of the model it starts from."""
        arm = self.cfg.arms[name]
        if arm.method == "none":
            return {"pretrained": self.cfg.model.name} if arm.init == "pretrained" else self.spec(arm.init)
        start = ("scratch" if arm.init == "scratch" else {"pretrained": self.cfg.model.name}
                 if arm.init == "pretrained" else key_of(self.spec(arm.init)))
        # the form models have been recorded with since keys began, when `mix` was called `data`:
        # renaming a config key must not make every saved model stale, nor adding one (UNKEYED_DEFAULTS)
        recorded_as = {("data" if k == "mix" else k): v
                       for k, v in without_unkeyed(to_dict(arm), ArmConfig.UNKEYED_DEFAULTS).items()}
        resolved = {**recorded_as, "params": key_params(METHODS.get(arm.method)(arm.params))}
        return {"arm": resolved, "seed": self.cfg.arm(name).seed, "model": to_dict(self.cfg.model),
                "data": key_of(self.data_spec()), "init": start}

    def path(self, name: str) -> Path | str:
        """Where arm `name`'s model is: its directory under models/, or, for an arm without
        training (method none), the model it starts from (`model.name` for init pretrained)."""
        arm = self.cfg.arms[name]
        if arm.method != "none":
            return self.run_dir / "models" / name
        return self.cfg.model.name if arm.init == "pretrained" else self.path(arm.init)

    def is_trained(self, name: str) -> bool:
        return self.cfg.arms[name].method != "none" and is_saved_model(self.run_dir / "models" / name)

    # ------------------------------------------------------------ stale models
    def stale(self) -> dict[str, list[str]]:
        """Arms of this run whose saved model was made from something else, with what differs."""
        out = {}
        for name in self.cfg.run_order():
            if self.is_trained(name) and (diffs := staleness(self.run_dir / "models" / name, self.spec(name))):
                out[name] = spelt_out(diffs, self.cfg.arms[name].method)
        return out

    def check_stale(self) -> set[str]:
        """Stop on stale models (the default), or return the arms to train again (`stale: retrain`)."""
        stale = self.stale()
        if stale and self.cfg.stale != "retrain":
            lines = "\n".join(f"  {name}: " + "; ".join(d[:4]) + (" ..." if len(d) > 4 else "")
                              for name, d in stale.items())
            raise ConfigError(f"{self.run_dir} holds models trained for another setup:\n{lines}\n"
                              "Run under another name to keep both (--set name=NEW), or replace them "
                              "(--set stale=retrain).")
        for name, diffs in stale.items():
            log.warning("arm %s: its model was trained for another setup (%s); training it again", name, diffs[0])
        return set(stale)

    # ------------------------------------------------------------ training
    def mix(self, name: str, sets: DataSets) -> tuple[list[Sample], list[Sample] | None]:
        """(main, retain) samples arm `name` trains on."""
        arm = self.cfg.arm(name)
        return training_mix(arm.mix, sets, arm.seed, arm.safety_repeat)

    def checkpoints(self, name: str) -> Checkpoints:
        """Where arm `name` keeps its checkpoints: `checkpoints/ARM/KEY`, so that a run resumes only
        from checkpoints made for the same setup; those of another are removed."""
        root, key = self.run_dir / "checkpoints" / name, key_of(self.spec(name))
        if root.is_dir() and PartialState().is_main_process:
            for other in root.iterdir():
                if other.name != key:
                    log.info("arm %s: removing checkpoints of another setup in %s", name, other)
                    shutil.rmtree(other, ignore_errors=True)
        return Checkpoints(root / key, self.cfg.train.save_steps)

    def fresh_model(self, sets: DataSets, seed: int):
        """A tiny model from scratch, its tokenizer trained on every text of the data."""
        texts = [s.instruction + " " + s.response for s in sets.corpus + sets.safety + sets.test + sets.forget]
        texts += [s.instruction for s in sets.utility]
        set_seed(seed)
        return model_from_config(self.cfg.model, texts, self.cfg.world.image_size)

    def train(self, name: str, sets: DataSets, retrain: bool = False) -> dict | None:
        """Train arm `name` (unless its model is saved and `retrain` is off); its training record."""
        arm = self.cfg.arm(name)
        if arm.method == "none":
            return None
        out = self.run_dir / "models" / name
        if is_saved_model(out) and not retrain:
            log.info("arm %s: model already trained in %s", name, out)
            log_path = out / "train_log.json"
            return read_json(log_path) if log_path.is_file() else None
        if arm.init == "scratch":
            if self.cfg.model.name != "tiny":
                raise ConfigError(f"arm {name} starts from scratch, which needs model.name=tiny; "
                                  "start real models from init: pretrained")
            model, processor = self.fresh_model(sets, arm.seed)
        else:
            start = self.path(arm.init) if arm.init != "pretrained" else self.cfg.model.name
            if isinstance(start, Path) and not is_saved_model(start):
                raise ConfigError(f"arm {name} starts from arm {arm.init}, whose model is not in {start}")
            model, processor = load_model(start, self.cfg.model.trust_remote_code)
        main, retain = self.mix(name, sets)
        checkpoints = self.checkpoints(name)
        log_record = train_arm(model, processor, arm, main, retain, self.data.images, out, self.cfg.model,
                               self.show_progress, checkpoints)
        state = PartialState()
        if state.is_main_process:
            record(out, self.spec(name))
        state.wait_for_everyone()
        remove_checkpoints(checkpoints)  # only once the model is on disk with its record
        return log_record


_DIFF = re.compile(r"^arm\.(params\.)?(\w+): (.*) -> (.*)$")


def spelt_out(diffs: list[str], method: str) -> list[str]:
    """`diffs` with an arm field or a method param that a model's key leaves out at its default
    (`UNKEYED_DEFAULTS`) shown at that default where one side lacks it: "steer: 'answer' ->
    'text'", not "-> (absent)"."""
    unkeyed = {"params.": getattr(METHODS.get(method).Params, "UNKEYED_DEFAULTS", {}), "": ArmConfig.UNKEYED_DEFAULTS}
    out = []
    for line in diffs:
        m = _DIFF.match(line)
        prefix = (m.group(1) or "") if m else ""
        if m and m.group(2) in unkeyed[prefix]:
            default = repr(unkeyed[prefix][m.group(2)])
            old, new = (default if side == "(absent)" else side for side in m.group(3, 4))
            line = f"arm.{prefix}{m.group(2)}: {old} -> {new}"
        out.append(line)
    return out
