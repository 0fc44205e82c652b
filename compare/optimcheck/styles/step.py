"""Torch-shaped optimizers: ``FACTORY(params, lr=…, …)`` then ``step()`` over objects with ``.data`` and
``.grad``, as most hand-written ``MyAdam(params)`` classes (and micrograd's loops) are."""

from __future__ import annotations

import inspect

import numpy as np

from compare.optimcheck.styles.registry import Style, register
from compare.plugins import PluginError, call_learner


class _Param:
    """What a torch-style optimizer steps: ``.data`` and ``.grad``, torch's names."""

    def __init__(self, data):
        self.data, self.grad = data, None


TORCH_DEFAULTS = {
    "sgd": {"lr": 1e-3, "momentum": 0.0},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8},
    "adagrad": {"lr": 1e-2, "eps": 1e-10},
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}


class StepOptimizer:
    """An optimizer in torch.optim's shape, ``FACTORY(params, lr=…, …)`` then ``step()``, as most hand-written
    ``MyAdam(params)`` classes (and micrograd's loops) are: built on objects with ``.data`` and ``.grad``.
    The rule is read from its name (…sgd…, …rmsprop…, …adagrad…, …adam…); the hyper-parameters it takes
    are given explicitly, the same to both sides."""

    style = "step() object style"

    def __init__(self, fn, name: str, label: str, files, overrides: dict):
        self.fn, self.label, self.files = fn, label, files
        lowered = name.lower()
        self.rule = next((r for r in ("rmsprop", "adagrad", "adam", "sgd") if r in lowered), None)
        if self.rule is None:
            raise PluginError(
                f"{label}: cannot tell which rule {name} is; its name should say sgd, rmsprop, adagrad or adam"
            )
        accepted = inspect.signature(fn).parameters
        defaults = {k: v.default for k, v in accepted.items() if v.default is not inspect.Parameter.empty}
        self.kwargs, self.hyper = {}, dict(TORCH_DEFAULTS[self.rule])
        for h in self.hyper:
            if h in ("beta1", "beta2") and "betas" in accepted:
                betas = overrides.get(h) if h in overrides else tuple(defaults.get("betas", (0.9, 0.999)))[h == "beta2"]
                self.hyper[h] = float(betas)
            elif h in accepted:
                self.hyper[h] = float(overrides.get(h, defaults.get(h, self.hyper[h])))
                self.kwargs[h] = self.hyper[h]
        if "betas" in accepted:
            self.kwargs["betas"] = (self.hyper["beta1"], self.hyper["beta2"])
        self.obj, self.params = None, {}

    def mapping(self) -> list[str]:
        return [f"{k} = {v} ↔ {k} = {v}" for k, v in self.kwargs.items()]

    def step(self, params: dict, grads: dict) -> None:
        if self.obj is None:
            self.params = {k: _Param(v) for k, v in params.items()}
            self.obj = call_learner(
                f"{self.label}: building it on the parameters",
                self.fn,
                list(self.params.values()),
                files=self.files,
                **self.kwargs,
            )
            self._restore(getattr(self, "pending", {}))
        for k, p in self.params.items():
            p.grad = np.array(grads[k])
        call_learner(f"{self.label}: step()", self.obj.step, files=self.files)
        for k, p in self.params.items():
            if p.data is not params[k]:  # rebound (p.data = p.data − …): copied back, bound again
                params[k][...] = p.data
                p.data = params[k]

    def _restore(self, pending: dict) -> None:
        """A checkpoint's attributes back into the freshly built object (lists of arrays element-wise)."""
        lists: dict[str, dict[int, np.ndarray]] = {}
        for attr, value in pending.items():
            name, _, index = attr.partition("|")
            if index:
                lists.setdefault(name, {})[int(index)] = value
            else:
                setattr(self.obj, name, value)
        for name, items in lists.items():
            setattr(self.obj, name, [items[i] for i in sorted(items)])

    def state(self) -> dict[str, dict]:
        return {}


def first_is_params(fn) -> bool:
    """``MyAdam(params, lr=…)``: built on the parameters, the shape of torch.optim's constructors."""
    try:
        first = next(iter(inspect.signature(fn).parameters), None)
    except (TypeError, ValueError):
        return False
    return first in ("params", "parameters")


register(
    Style(
        "step",
        priority=10,
        claims=first_is_params,
        build=lambda fn, name, factory, overrides, target: StepOptimizer(
            fn, name, factory.label, factory.files, overrides
        ),
    )
)
