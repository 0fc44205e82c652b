"""The learner's optimizer in training (``compare --plugin-optimizer``): the update of the hand-written twin."""

from __future__ import annotations

import math

import numpy as np

from compare.errors import ConfigError
from compare.optimcheck.styles import CS231nRule, NNFSLayer, NNFSOptimizer, StepOptimizer, load
from compare.plugins import PluginError

# --- the plug-in's optimizer in training (compare / train) ---------------------------------------
TORCH_FLAG = {
    "lr": "--lr",
    "momentum": "--momentum",
    "alpha": "--alpha",
    "eps": "--eps",
    "beta1": "--betas",
    "beta2": "--betas",
}


def cfg_hyper(cfg) -> dict:
    return {
        "lr": cfg.lr,
        "momentum": cfg.momentum,
        "alpha": cfg.alpha,
        "eps": cfg.eps,
        "beta1": cfg.betas[0],
        "beta2": cfg.betas[1],
    }


class TrainingOptimizer:
    """The plug-in's optimizer behind the interface the judge's training loop uses (``step()``,
    ``param_groups``, ``state_dict()``), updating the judge's parameter views in place.

    Before training, its hyper-parameters are compared with the run's: a difference is one line naming
    it (exit 2), never a silent difference of defaults; so is a rule of another kind than --optimizer."""

    def __init__(self, target: str, cfg, params: dict):
        self.target, self.params = target, params  # torch name → manual.Parameter (torch layout)
        overrides = {k: v for k, v in cfg_hyper(cfg).items()}
        self.impl = load(target, {})
        if isinstance(self.impl, CS231nRule):  # the config is ours to give: the run's values
            self.impl.hyper = {h: overrides[h] for h in self.impl.hyper}
        want = {"sgd": "sgd", "rmsprop": "rmsprop", "adagrad": "adagrad", "adam": "adam"}.get(cfg.optimizer)
        if want != self.impl.rule:
            raise ConfigError(
                f"--plugin-optimizer {target} is {self.impl.rule}, the run's --optimizer is "
                f"{cfg.optimizer}: give --optimizer {self.impl.rule} so torch runs the same rule"
            )
        if self.impl.rule == "sgd" and bool(self.impl.hyper.get("momentum", 0.0)) != bool(cfg.momentum):
            raise ConfigError(
                f"--plugin-optimizer {target}: momentum {self.impl.hyper.get('momentum', 0.0):g} "
                f"against the run's --momentum {cfg.momentum:g}; give the same to both"
            )
        for h, mine in self.impl.hyper.items():
            theirs = overrides[h]
            if not math.isclose(mine, theirs, rel_tol=1e-12, abs_tol=0.0):
                shown = (
                    f"{TORCH_FLAG[h]} {theirs:g}"
                    if h not in ("beta1", "beta2")
                    else f"--betas {cfg.betas[0]:g},{cfg.betas[1]:g}"
                )
                raise ConfigError(
                    f"--plugin-optimizer {target}: its {h} is {mine:g}, the run's {shown}; the "
                    f"hyper-parameters differ before training - give {TORCH_FLAG[h]} "
                    f"{mine:g} (or change yours) so both sides run the same"
                )
        if isinstance(self.impl, NNFSOptimizer) and self.impl.decay:
            raise ConfigError(
                f"--plugin-optimizer {target}: decay {self.impl.decay:g} lowers the learning rate "
                "every step, which no --schedule of this run does; use decay=0 (or optimcheck, "
                "which maps it)"
            )
        if cfg.schedule != "none":
            raise ConfigError(
                f"--plugin-optimizer {target} keeps its own learning rate: use --schedule none "
                f"(the run's is {cfg.schedule})"
            )
        if cfg.weight_decay:
            raise ConfigError(
                f"--plugin-optimizer {target}: --weight-decay {cfg.weight_decay:g} has no counterpart "
                "in the plug-in's rule; use --weight-decay 0"
            )
        self.param_groups = [{"lr": cfg.lr}]
        self.steps = 0

    def step(self) -> None:
        names = [k for k, p in self.params.items() if p.grad is not None]
        arrays = {k: self.params[k].data for k in names}
        before = {k: id(a) for k, a in arrays.items()}
        self.impl.step(arrays, {k: self.params[k].grad for k in names})
        self.steps += 1
        if self.steps == 1 and isinstance(self.impl, CS231nRule):
            self._check_config()
        assert all(id(arrays[k]) == before[k] for k in names)  # written in place into the judge's views

    def _check_config(self) -> None:
        """A rule that overwrote the hyper-parameters it was given (a hard-coded epsilon) is named."""
        for k, config in self.impl.configs.items():
            for h, key in self.impl.config_keys.items():
                if key in config and not math.isclose(float(config[key]), self.impl.hyper[h], rel_tol=1e-12):
                    raise PluginError(
                        f"{self.impl.label}: {self.impl.name} changed config['{key}'] from "
                        f"{self.impl.hyper[h]:g} to {float(config[key]):g} (hard-coded?); the run's "
                        f"{TORCH_FLAG[h]} is {self.impl.hyper[h]:g}"
                    )
            break

    def mapping(self) -> list[str]:
        return self.impl.mapping()

    def header(self) -> str:
        return f"optimizer: {self.target} ({self.impl.style}) ↔ torch.optim's {self.impl.rule}"

    def state_dict(self) -> dict:
        """Its state as arrays (checkpoints): cs231n configs, or the book's layer attributes and counter."""
        state = {}
        if isinstance(self.impl, CS231nRule):
            for k, config in self.impl.configs.items():
                for key, value in config.items():
                    state[f"{k}|{key}"] = np.asarray(value)
        elif isinstance(self.impl, StepOptimizer):
            # its own attributes that are numbers, arrays or lists of arrays (moments, velocities, the count)
            for attr, value in vars(self.impl.obj).items() if self.impl.obj is not None else ():
                if isinstance(value, (int, float, np.ndarray)) and not isinstance(value, bool):
                    state[f"~|{attr}"] = np.asarray(value)
                elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
                    for i, v in enumerate(value):
                        state[f"~|{attr}|{i}"] = v
        else:
            for name, layer in self.impl.layers.items():
                for attr, value in vars(layer).items():
                    state[f"{name}|{attr}"] = np.asarray(value)
            state["|iterations"] = np.asarray(getattr(self.impl.obj, "iterations", 0))
        return {"param_group": {"lr": self.param_groups[0]["lr"], "steps": self.steps}, "state": state}

    def load_state_dict(self, saved: dict) -> None:
        self.steps = int(saved["param_group"].get("steps", 0))
        pending = {}
        for key, value in saved["state"].items():
            owner, attr = key.split("|", 1)
            value = np.array(value)
            plain = value.item() if value.ndim == 0 else value
            if owner == "~":  # a step() object's attributes, set once it is built
                pending[attr] = plain
                continue
            if isinstance(self.impl, CS231nRule):
                self.impl.configs.setdefault(owner, {})[attr] = plain
            elif owner:
                layer = self.impl.layers.setdefault(owner, NNFSLayer.__new__(NNFSLayer))
                setattr(layer, attr, plain)
            else:
                self.impl.obj.iterations = int(plain)
        if pending and isinstance(self.impl, StepOptimizer):
            self.impl.pending = pending
