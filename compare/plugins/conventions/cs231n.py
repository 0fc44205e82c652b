"""The ``cs231n`` convention: a ``params`` dict ``W1, b1, …`` with W of shape (in, out) (or torch's (out, in)
when unambiguous) and ``loss(X, y)`` → ``(loss, grads)`` (scores when ``y`` is None)."""

from __future__ import annotations

import inspect
import sys

import numpy as np

from compare import architecture
from compare.plugins.conventions import cs231n_layers as layers
from compare.plugins.protocol import (
    Implementation,
    PluginError,
    Slot,
    bias_layout,
    chain_of,
    check_names,
    register,
    weight_layout,
)


class WatchedDict(dict):
    """A cs231n ``params`` dict that remembers where each key was last assigned (``file:line``), so a
    plug-in that replaces a parameter during a step is told the line that did it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sites: dict[str, str] = {}

    def __setitem__(self, key, value):
        caller = sys._getframe(1)
        self.sites[key] = f"{caller.f_code.co_filename}:{caller.f_lineno}"
        super().__setitem__(key, value)


NATIVE = {"affine": {"weight": "W", "bias": "b"}, "norm": {"weight": "gamma", "bias": "beta"}}  # torch's → the course's


@register
class CS231n(Implementation):
    """``params`` = {W1, b1, …} with W (in, out); ``loss(X, y)`` → (loss, grads); ``loss(X)`` → scores."""

    name = "cs231n"
    layer_slots = ("norm", "dropout")
    needs = "cs231n a params dict and loss()"
    priority = 20

    @classmethod
    def matches(cls, obj) -> bool:
        return isinstance(getattr(obj, "params", None), dict) and callable(getattr(obj, "loss", None))

    @staticmethod
    def first(params) -> int:
        """The number of the first layer: W1 as the course numbers them, or W0 (numbered from 0)."""
        return 0 if "W0" in params else 1

    @classmethod
    def layer_sizes(cls, obj) -> list[int]:
        count, start = sum(1 for n in obj.params if n[:1] == "W" and n[1:].isdigit()), cls.first(obj.params)
        return chain_of([np.shape(obj.params[f"W{k}"]) for k in range(start, start + count)])

    def _slots(self):
        params = getattr(self.obj, "params", None)
        if not isinstance(params, dict) or not callable(getattr(self.obj, "loss", None)):
            raise PluginError(f"{self.label}: a cs231n model needs a params dict of W1, b1, … and loss(X, y)")
        start = self.first(params)  # W1, b1, … or W0, b0, … (numbered from 0)
        self.rule = layers.check(self.label, self.obj, self.spec)  # its normalization and dropout, as the run's
        expected = [
            f"{NATIVE[e.layer.kind.slot][e.name.rsplit('.', 1)[1]]}{e.layer.index - 1 + start}"
            for e in architecture.parameters(self.spec)
        ]
        try:
            check_names(self.label, expected, list(params))
        except PluginError as e:
            raise PluginError(layers.hint(str(e), self.spec)) from None
        if not isinstance(params, WatchedDict):  # to name the line that replaces a parameter, if one does
            try:
                self.obj.params = WatchedDict(params)
                params = self.obj.params
            except Exception:  # a read-only property: its dict as it is (no line named)
                pass
        slots = []
        for e in architecture.parameters(self.spec):
            key = f"{NATIVE[e.layer.kind.slot][e.name.rsplit('.', 1)[1]]}{e.layer.index - 1 + start}"
            if e.role.penalised:  # an affine weight: (in, out) as the course has it, or torch's (out, in)
                native_shape, layout = weight_layout(np.shape(params[key]), e.layer.fan_in, e.layer.fan_out)
            else:  # a bias, γ or β: (F,) or (1, F)
                native_shape, layout = bias_layout(np.shape(params[key]), e.shape[0], default=e.shape)
            slots.append(
                Slot(
                    e.name,
                    e.shape,
                    key,
                    native_shape,
                    layout,
                    get=lambda key=key: self.obj.params[key],
                    set=lambda v, key=key: self.obj.params.__setitem__(key, v),
                )
            )
        return slots

    def rebinding_site(self, slot) -> str | None:
        params = self.obj.params
        return params.sites.get(slot.native) if isinstance(params, WatchedDict) else None

    def _forward(self, x):
        return self.obj.loss(x)  # the scores: in test mode (running statistics, no dropout)

    # -- batchnorm, layernorm and dropout the CS231n way (compare.plugins.conventions.cs231n_layers)
    backprop_in_test_mode = False  # loss(X, y) is training mode; loss(X) gives test-mode scores only
    train_logits = False  # and no training-mode scores at all
    running_var_biased = True  # the handout's running variance is the batch's biased one

    def train(self, mode: bool) -> None:
        self.training = mode  # loss(X, y) trains, loss(X) tests: nothing to set

    def buffers(self) -> dict[str, np.ndarray]:
        return layers.read_running(self.obj, self.spec)

    def load_buffers(self, state: dict[str, np.ndarray]) -> None:
        layers.write_running(self.label, self.obj, self.spec, state, self.dtype)

    def feed_masks(self, masks: dict[str, np.ndarray]) -> None:
        self.masks = masks

    def mapping_lines(self) -> list[str]:
        return super().mapping_lines() + ["  " + line for line in layers.notes(self.spec, self.rule)]

    def take_reg(self, l2: float) -> bool:
        if super().take_reg(l2):
            return True
        try:  # assignment 1's TwoLayerNet.loss(X, y=None, reg=0.0): λ per call
            takes = "reg" in inspect.signature(self.obj.loss).parameters
        except (TypeError, ValueError):
            takes = False
        if takes:
            self.reg_per_call, self.reg_route = l2, "loss(X, y, reg=λ), per call"
        return takes

    def _backward(self, x, y):
        reg = getattr(self, "reg_per_call", None)
        masks, self.masks = getattr(self, "masks", None), None
        with layers.judged_masks(self.label, self.spec, masks, self.rule) as draws:
            result = self.obj.loss(x, y) if reg is None else self.obj.loss(x, y, reg=reg)
        draws.check()
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            raise PluginError(f"{self.label}: loss(X, y) must return (loss, grads dict), got {type(result).__name__}")
        loss, grads = result
        by_native = {s.native: s.name for s in self.slots}
        return loss, None, {by_native[k]: v for k, v in grads.items() if k in by_native}
