"""The ``layers`` convention, Neural Networks from Scratch's: a list of layer objects (or an object with a
``layers`` list): dense layers with ``weights`` (in, out) and ``biases`` (1, out), ``forward(inputs)``
setting ``.output`` and ``backward(dvalues)`` setting ``.dweights``, ``.dbiases``, ``.dinputs``; a trailing
loss object of that book's style is used, else the harness supplies the loss and its gradient."""

from __future__ import annotations

import numpy as np

import manual
from compare.plugins.conventions.cs231n_layers import judged_masks
from compare.plugins.protocol import (
    Implementation,
    PluginError,
    Slot,
    bias_layout,
    chain_of,
    positional_count,
    register,
    weight_layout,
)


@register
class Layers(Implementation):
    """A list of layer objects: dense ones (``weights`` (in, out), ``biases`` (1, out)), activations,
    and optionally a trailing loss object of the book's style."""

    name = "layers"
    needs = "layers a list of layer objects"
    priority = 30
    layer_slots = ("dropout",)  # the book's Layer_Dropout (chapter 15); it has no normalization
    backprop_in_test_mode = False  # its dropout's backward reads the last training mask: test mode's scores only

    @classmethod
    def matches(cls, obj) -> bool:
        layers = obj if isinstance(obj, (list, tuple)) else getattr(obj, "layers", None)
        return (
            isinstance(layers, (list, tuple))
            and bool(layers)
            and all(hasattr(layer, "forward") and hasattr(layer, "backward") for layer in layers)
        )

    @classmethod
    def layer_sizes(cls, obj) -> list[int]:
        layers = obj if isinstance(obj, (list, tuple)) else obj.layers
        return chain_of([np.shape(layer.weights) for layer in layers if is_dense(layer)])

    def __init__(self, obj, spec, dtype, **kw):
        layers = obj if isinstance(obj, (list, tuple)) else getattr(obj, "layers", None)
        if not isinstance(layers, (list, tuple)):
            raise PluginError(
                f"{kw['label']}: no dense layer (an object with weights and biases) in the list: a "
                f"{type(obj).__name__} is neither a list of layers nor has a layers list"
            )
        self.layers = list(layers)
        dense = [i for i, l in enumerate(self.layers) if is_dense(l)]
        if not dense:
            raise PluginError(f"{kw['label']}: no dense layer (an object with weights and biases) in the list")
        self.body, self.head = self.layers[: dense[-1] + 1], self.layers[dense[-1] + 1 :]
        self.dense = [self.layers[i] for i in dense]
        self.criterion = None if self.head else manual.LOSSES[spec.loss]()
        super().__init__(obj, spec, dtype, **kw)

    def _slots(self):
        self._slots_dropout()
        if len(self.dense) != len(self.sizes) - 1:
            raise PluginError(
                f"{self.label}: {len(self.dense)} dense layers (objects with weights and biases), "
                f"the spec {self.spec.describe()} needs {len(self.sizes) - 1}"
            )
        slots = []
        for k, (layer, fan_in, fan_out) in enumerate(zip(self.dense, self.sizes[:-1], self.sizes[1:]), start=1):
            i = self.layers.index(layer)
            w_shape, w_layout = weight_layout(np.shape(layer.weights), fan_in, fan_out)
            b_shape, b_layout = bias_layout(np.shape(layer.biases), fan_out, default=(1, fan_out))
            slots.append(
                Slot(
                    f"layer{k}.weight",
                    (fan_out, fan_in),
                    f"layers[{i}].weights",
                    w_shape,
                    w_layout,
                    get=lambda l=layer: l.weights,
                    set=lambda v, l=layer: setattr(l, "weights", v),
                )
            )
            slots.append(
                Slot(
                    f"layer{k}.bias",
                    (fan_out,),
                    f"layers[{i}].biases",
                    b_shape,
                    b_layout,
                    get=lambda l=layer: l.biases,
                    set=lambda v, l=layer: setattr(l, "biases", v),
                )
            )
        return slots

    training = True

    def _fwd(self, layer, inputs):
        if positional_count(layer.forward) >= 2:  # the book's later forward(inputs, training)
            layer.forward(inputs, self.training)
        else:
            layer.forward(inputs)
        return layer.output

    def _forward(self, x):
        out = x
        for layer in self.body:
            out = self._fwd(layer, out)
        return out

    # -- the book's dropout: its rate checked against --dropout, its masks the judge's through its own draws
    def train(self, mode: bool) -> None:
        self.training = mode

    def feed_masks(self, masks: dict[str, np.ndarray]) -> None:
        self.masks = masks

    def mapping_lines(self) -> list[str]:
        lines = super().mapping_lines()
        if self.spec.dropout:
            lines.append(
                f"  dropout: its dropout layers keep {1 - self.spec.dropout:g} of the units; their masks are the "
                "judge's, through its own np.random.binomial draws (the same masks go to the reference)"
            )
        return lines

    def _slots_dropout(self) -> None:
        drops = [layer for layer in self.body if is_dropout(layer)]
        hidden = len(self.sizes) - 2
        keep = 1.0 - self.spec.dropout
        if self.spec.dropout and len(drops) != hidden:
            raise PluginError(
                f"{self.label}: the run has --dropout {self.spec.dropout:g} after each of its {hidden} hidden layers, "
                f"and the list has {len(drops)} dropout layer(s): give the factory dropout, or run without --dropout"
            )
        if not self.spec.dropout and drops:
            raise PluginError(
                f"{self.label}: the list has dropout layers (keeping {drops[0].rate:g}) and the run none: judge it "
                f"with --dropout {1 - drops[0].rate:g}"
            )
        for layer in drops:
            if abs(layer.rate - keep) > 1e-12:
                raise PluginError(
                    f"{self.label}: a dropout layer keeps {layer.rate:g} of its units and --dropout "
                    f"{self.spec.dropout:g} keeps {keep:g}: give the run the net's dropout"
                )

    def _backward(self, x, y):
        masks, self.masks = getattr(self, "masks", None), None
        with judged_masks(self.label, self.spec, masks, "below keep") as draws:
            loss, logits, grads = self._step(x, y)
        draws.check()
        return loss, logits, grads

    def _step(self, x, y):
        logits = self._forward(x)
        if self.criterion is not None:
            loss = self.criterion(logits, y)
            d = self.criterion.backward()
        else:
            inp = logits
            for layer in self.head[:-1]:
                inp = self._fwd(layer, inp)
            last = self.head[-1]
            loss = last.calculate(inp, y) if hasattr(last, "calculate") else last.forward(inp, y)
            out = getattr(last, "output", None)
            last.backward(out if out is not None else inp, y)
            d = last.dinputs
            for layer in reversed(self.head[:-1]):
                layer.backward(d)
                d = layer.dinputs
        for layer in reversed(self.body):
            layer.backward(d)
            d = getattr(layer, "dinputs", None)
        grads = {}
        for k, layer in enumerate(self.dense, start=1):
            grads[f"layer{k}.weight"] = getattr(layer, "dweights", None)
            grads[f"layer{k}.bias"] = getattr(layer, "dbiases", None)
        return loss, logits, grads


def is_dense(layer) -> bool:
    return hasattr(layer, "weights") and hasattr(layer, "biases")


def is_dropout(layer) -> bool:
    """The book's Layer_Dropout: a ``rate`` (the fraction kept) and no weights."""
    return isinstance(getattr(layer, "rate", None), (int, float)) and not is_dense(layer)
