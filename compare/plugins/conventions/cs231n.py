"""The ``cs231n`` convention: a ``params`` dict ``W1, b1, …`` with W of shape (in, out) (or torch's (out, in)
when unambiguous) and ``loss(X, y)`` → ``(loss, grads)`` (scores when ``y`` is None)."""

from __future__ import annotations

import inspect
import sys

import numpy as np

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


@register
class CS231n(Implementation):
    """``params`` = {W1, b1, …} with W (in, out); ``loss(X, y)`` → (loss, grads); ``loss(X)`` → scores."""

    name = "cs231n"
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
        count, start = sum(1 for n in obj.params if n[:1] == "W"), cls.first(obj.params)
        return chain_of([np.shape(obj.params[f"W{k}"]) for k in range(start, start + count)])

    def _slots(self):
        params = getattr(self.obj, "params", None)
        if not isinstance(params, dict) or not callable(getattr(self.obj, "loss", None)):
            raise PluginError(f"{self.label}: a cs231n model needs a params dict of W1, b1, … and loss(X, y)")
        layers, start = len(self.sizes) - 1, self.first(params)  # W1, b1, … or W0, b0, … (numbered from 0)
        expected = [f"{p}{k}" for k in range(start, start + layers) for p in ("W", "b")]
        check_names(self.label, expected, list(params))
        if not isinstance(params, WatchedDict):  # to name the line that replaces a parameter, if one does
            try:
                self.obj.params = WatchedDict(params)
                params = self.obj.params
            except Exception:  # a read-only property: its dict as it is (no line named)
                pass
        slots = []
        for k, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            own = k - 1 + start  # the plug-in's own number for torch's layer k
            w_shape, w_layout = weight_layout(np.shape(params[f"W{own}"]), fan_in, fan_out)
            b_shape, b_layout = bias_layout(np.shape(params[f"b{own}"]), fan_out, default=(fan_out,))
            for key, name, shape, native_shape, layout in (
                (f"W{own}", f"layer{k}.weight", (fan_out, fan_in), w_shape, w_layout),
                (f"b{own}", f"layer{k}.bias", (fan_out,), b_shape, b_layout),
            ):
                slots.append(
                    Slot(
                        name,
                        shape,
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
        return self.obj.loss(x)

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
        result = self.obj.loss(x, y) if reg is None else self.obj.loss(x, y, reg=reg)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            raise PluginError(f"{self.label}: loss(X, y) must return (loss, grads dict), got {type(result).__name__}")
        loss, grads = result
        by_native = {s.native: s.name for s in self.slots}
        return loss, None, {by_native[k]: v for k, v in grads.items() if k in by_native}
