"""The ``ours`` convention: the interface of ``manual.SimpleNet`` (``named_parameters()`` of objects
with ``.data``/``.grad``, ``__call__(x)`` → logits, ``backward(dL/dlogits)``, ``zero_grad()``), torch names
and layout; an optional ``criterion`` attribute (``forward(logits, y)`` → loss, ``backward()`` →
dL/dlogits), else the harness's NumPy loss.  Our own twin (``--manual manual``) comes in through it."""

from __future__ import annotations

import numpy as np

import manual
import manual.train
from compare import architecture
from compare.plugins.protocol import Implementation, PluginError, Slot, check_names, register, short, where


def our_twin(
    sizes, activation="relu", dtype=np.float32, output_activation="none", norm="none", dropout=0.0
) -> manual.SimpleNet:
    """The hand-written twin of this project, ``manual.SimpleNet``."""
    return manual.SimpleNet(
        sizes[0],
        tuple(sizes[1:-1]),
        sizes[-1],
        activation,
        output_activation,
        norm,
        dropout,
        dtype=dtype,
        rng=np.random.default_rng(0),
    )


class Named:
    """The plug-in's network as ``forward_backward`` calls it: each call through the judge's door
    (``Implementation.call``) under its own name, so an error or an exit names the forward or the backward
    it happened in; a forward that gives no array of logits is said so before the loss reads it."""

    def __init__(self, impl: Implementation, obj):
        self.impl, self.obj = impl, obj

    def zero_grad(self):
        return self.impl.call("zero_grad()", self.obj.zero_grad)

    def __call__(self, x):
        logits = self.impl.call("forward (__call__)", self.obj, x)
        if not isinstance(logits, np.ndarray):
            raise PluginError(
                f"{self.impl.label}: the forward (__call__) returned a {type(logits).__name__}, not an array of logits"
            )
        return self.impl._check_logits(logits, len(x))

    def backward(self, grad_logits):
        return self.impl.call("backward(dL/dlogits)", self.obj.backward, grad_logits)


class NamedCriterion:
    """The loss ``forward_backward`` calls (the plug-in's own ``criterion``, or the harness's), named."""

    def __init__(self, impl: Implementation, criterion):
        self.impl, self.criterion = impl, criterion

    def forward(self, logits, y):
        return self.impl.call("criterion.forward(logits, y)", self.criterion.forward, logits, y)

    def backward(self):
        return self.impl.call("criterion.backward()", self.criterion.backward)


@register
class Ours(Implementation):
    """``manual.SimpleNet``'s interface: torch names and layout, nothing to map."""

    name = "ours"
    layer_slots = ("norm", "dropout")
    needs = "ours needs named_parameters() and backward()"
    priority = 10
    aliases = {"manual": "compare.plugins.conventions.ours:our_twin"}

    @classmethod
    def matches(cls, obj) -> bool:
        return callable(getattr(obj, "named_parameters", None)) and callable(getattr(obj, "backward", None))

    @classmethod
    def layer_sizes(cls, obj) -> list[int]:
        own = dict(obj.named_parameters())
        shapes = [
            np.shape(own[architecture.affine_weight(k)].data) for k in range(1, architecture.affine_count(own) + 1)
        ]
        return [s[1] for s in shapes[:1]] + [s[0] for s in shapes]

    def __init__(self, obj, spec, dtype, **kw):
        self.model = obj
        self.criterion = getattr(obj, "criterion", None) or manual.LOSSES[spec.loss]()
        super().__init__(obj, spec, dtype, **kw)
        self.named, self.named_criterion = Named(self, obj), NamedCriterion(self, self.criterion)

    def _slots(self):
        if not callable(getattr(self.model, "named_parameters", None)) or not callable(
            getattr(self.model, "backward", None)
        ):
            raise PluginError(
                f"{self.label}: the ours convention needs named_parameters(), __call__(x) and "
                f"backward(dL/dlogits); a {type(self.model).__name__} lacks them"
            )
        try:
            own = dict(self.model.named_parameters())
        except Exception as e:
            raise PluginError(
                f"{self.label}: named_parameters() raised {short(e)} at {where(e, self.files)}", e
            ) from None
        expected = self.expected_slots()
        check_names(self.label, [n for n, _ in expected], list(own))
        slots = []
        for name, shape in expected:
            p = own[name]
            slots.append(
                Slot(name, shape, name, shape, "same", get=lambda p=p: p.data, set=lambda v, p=p: setattr(p, "data", v))
            )
        self.own = own
        return slots

    def _bind(self):
        self.params = self.own  # the model's own parameter objects: updates land in place
        self.bound = {slot.name: slot.get() for slot in self.slots}

    def _forward(self, x):
        return self.model(x)

    def _backward(self, x, y):
        # the twin's own step (manual.train.forward_backward: zero_grad, forward, criterion.forward(logits,
        # y) as docs/plugins.md has it, backward), each call through the judge's door under its own name;
        # the judge adds a run's penalty itself (raw_gradients)
        loss, logits = manual.train.forward_backward(self.named, self.named_criterion, x, y)
        return loss, logits, {name: p.grad for name, p in self.own.items()}

    # -- the spec's layers with a mode, running statistics and masks: our SimpleNet's surface
    # (train(mode), named_buffers(), a dropout module per drop{k} taking its next forward's .mask)
    def train(self, mode: bool) -> None:
        if callable(getattr(self.model, "train", None)):
            self.call("train(mode)", self.model.train, mode)
        else:
            super().train(mode)

    def buffers(self) -> dict[str, np.ndarray]:
        if not callable(getattr(self.model, "named_buffers", None)):
            return {}
        own = dict(self.call("named_buffers()", lambda: list(self.model.named_buffers())))
        return {e.name: np.array(own[e.name], copy=True) for e in architecture.buffers(self.spec) if e.name in own}

    def load_buffers(self, state: dict[str, np.ndarray]) -> None:
        if not callable(getattr(self.model, "named_buffers", None)):
            return super().load_buffers(state)
        own = dict(self.call("named_buffers()", lambda: list(self.model.named_buffers())))
        check_names(self.label, sorted(state), sorted(own))
        for name, value in state.items():
            own[name][...] = value

    def feed_masks(self, masks: dict[str, np.ndarray]) -> None:
        for name, keep in masks.items():
            layer = getattr(self.model, name, None)
            if layer is None or not hasattr(layer, "mask"):
                raise PluginError(
                    f"{self.label}: the run has dropout and the net no dropout module {name} with a mask attribute "
                    "(its next forward's keep-mask, docs/plugins.md): give it one, or judge it without --dropout"
                )
            layer.mask = keep

    def check_bound(self) -> None:
        """Also new parameter objects: ``named_parameters()`` must still yield the ones the judge holds."""
        super().check_bound()
        now = dict(self.call("named_parameters()", lambda: list(self.model.named_parameters())))
        for name, p in self.own.items():
            if now.get(name) is not p:
                raise PluginError(
                    f"{self.label}: named_parameters() now yields a new object for {name}: the "
                    "judge updates the parameter objects it was given in place, so keep them "
                    "(assign to p.data[...], never a new parameter)"
                )
