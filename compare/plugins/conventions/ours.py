"""The ``ours`` convention: the interface of ``manual.SimpleNet`` (``named_parameters()`` of objects
with ``.data``/``.grad``, ``__call__(x)`` → logits, ``backward(dL/dlogits)``, ``zero_grad()``), torch names
and layout; an optional ``criterion`` attribute (``forward(logits, y)`` → loss, ``backward()`` →
dL/dlogits), else the harness's NumPy loss.  Our own twin (``--manual manual``) comes in through it."""

from __future__ import annotations

import numpy as np

import manual
import manual.train
from compare.plugins.protocol import Implementation, PluginError, Slot, check_names, register, short, where


def our_twin(sizes, activation="relu", dtype=np.float32, output_activation="none") -> manual.SimpleNet:
    """The hand-written twin of this project, ``manual.SimpleNet``."""
    return manual.SimpleNet(
        sizes[0],
        tuple(sizes[1:-1]),
        sizes[-1],
        activation,
        output_activation,
        dtype=dtype,
        rng=np.random.default_rng(0),
    )


@register
class Ours(Implementation):
    """``manual.SimpleNet``'s interface: torch names and layout, nothing to map."""

    name = "ours"
    needs = "ours needs named_parameters() and backward()"
    priority = 10
    aliases = {"manual": "compare.plugins.conventions.ours:our_twin"}

    @classmethod
    def matches(cls, obj) -> bool:
        return callable(getattr(obj, "named_parameters", None)) and callable(getattr(obj, "backward", None))

    @classmethod
    def layer_sizes(cls, obj) -> list[int]:
        shapes = [np.shape(p.data) for n, p in obj.named_parameters() if n.endswith(".weight")]
        return [s[1] for s in shapes[:1]] + [s[0] for s in shapes]

    def __init__(self, obj, spec, dtype, **kw):
        self.model = obj
        self.criterion = getattr(obj, "criterion", None) or manual.LOSSES[spec.loss]()
        super().__init__(obj, spec, dtype, **kw)

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
        # the protocol's step, as manual.train.forward_backward takes it (zero_grad, forward, the criterion's
        # forward(logits, y) and backward(), backward(dL/dlogits)), each call named for its own errors; the
        # judge adds a run's penalty itself (raw_gradients)
        model, criterion = self.model, self.criterion
        self.call("zero_grad()", model.zero_grad)
        logits = self.call("forward (__call__)", model, x)
        if not isinstance(logits, np.ndarray):
            raise PluginError(
                f"{self.label}: the forward (__call__) returned a {type(logits).__name__}, not an array of logits"
            )
        logits = self._check_logits(logits, len(x))
        loss = self.call("criterion.forward(logits, y)", criterion.forward, logits, y)
        grad_logits = self.call("criterion.backward()", criterion.backward)
        self.call("backward(dL/dlogits)", model.backward, grad_logits)
        return loss, logits, {name: p.grad for name, p in self.own.items()}

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
