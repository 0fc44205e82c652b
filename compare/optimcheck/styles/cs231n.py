"""CS231n's functional rules: ``sgd``, ``sgd_momentum``, ``rmsprop``, ``adam`` over ``(w, dw, config)``, one config
dict per parameter (the assignment's usage).  The fallback style: any callable no other style claims."""

from __future__ import annotations

import numpy as np

from compare.optimcheck.styles.registry import Style, register
from compare.plugins import PluginError, call_learner

# the cs231n functions: torch rule, and each torch hyper-parameter ↔ the config key and its default
CS231N = {
    "sgd": ("sgd", {"lr": ("learning_rate", 1e-2)}),
    "sgd_momentum": ("sgd", {"lr": ("learning_rate", 1e-2), "momentum": ("momentum", 0.9)}),
    "rmsprop": ("rmsprop", {"lr": ("learning_rate", 1e-2), "alpha": ("decay_rate", 0.99), "eps": ("epsilon", 1e-8)}),
    "adam": (
        "adam",
        {"lr": ("learning_rate", 1e-3), "beta1": ("beta1", 0.9), "beta2": ("beta2", 0.999), "eps": ("epsilon", 1e-8)},
    ),
}
# their state keys ↔ torch's state names
CS231N_STATE = {"velocity": "momentum_buffer", "cache": "square_avg", "m": "exp_avg", "v": "exp_avg_sq", "t": "step"}
# the nnfs classes: attributes ↔ torch hyper-parameters


class CS231nRule:
    """One cs231n update function, one config dict per parameter (the assignment's usage)."""

    style = "cs231n functional style"

    def __init__(self, fn, name: str, label: str, files, overrides: dict):
        if name not in CS231N:
            raise PluginError(f"{label}: {name!r} is not one of the cs231n update rules ({', '.join(CS231N)})")
        self.fn, self.name, self.label, self.files = fn, name, label, files
        self.rule, keys = CS231N[name]
        self.hyper = {h: overrides.get(h, default) for h, (_, default) in keys.items()}
        self.config_keys = {h: key for h, (key, _) in keys.items()}
        self.configs: dict[str, dict] = {}

    def mapping(self) -> list[str]:
        torch_name = {
            "lr": "lr",
            "momentum": "momentum",
            "alpha": "alpha",
            "eps": "eps",
            "beta1": "betas[0]",
            "beta2": "betas[1]",
        }
        return [f"config['{self.config_keys[h]}'] = {v:g} ↔ {torch_name[h]} = {v:g}" for h, v in self.hyper.items()]

    def step(self, params: dict, grads: dict) -> None:
        for k, w in params.items():
            config = self.configs.setdefault(k, {self.config_keys[h]: v for h, v in self.hyper.items()})
            result = call_learner(
                f"{self.label}: {self.name}(w, dw, config)", self.fn, w, grads[k], config, files=self.files
            )
            if not (isinstance(result, tuple) and len(result) == 2):
                raise PluginError(
                    f"{self.label}: {self.name}(w, dw, config) must return (next_w, config), got "
                    f"{type(result).__name__}"
                )
            next_w, new_config = result
            if np.shape(next_w) != w.shape:
                raise PluginError(
                    f"{self.label}: {self.name} returned next_w of shape {np.shape(next_w)} for a {w.shape} parameter"
                )
            if next_w is not w:
                w[...] = next_w
            if isinstance(new_config, dict):
                self.configs[k] = new_config

    def state(self) -> dict[str, dict]:
        out = {}
        for k, config in self.configs.items():
            out[k] = {CS231N_STATE[key]: value for key, value in config.items() if key in CS231N_STATE}
        return out


register(
    Style(
        "cs231n",
        priority=90,
        claims=lambda fn: True,
        build=lambda fn, name, factory, overrides, target: CS231nRule(
            fn, name, factory.label, factory.files, overrides
        ),
    )
)
