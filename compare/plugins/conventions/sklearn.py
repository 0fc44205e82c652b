"""The ``sklearn`` convention: scikit-learn's ``MLPClassifier`` through its own ``_forward_pass`` and
``_backprop``; ``--manual sklearn`` builds one (``sklearn_mlp``)."""

from __future__ import annotations

import numpy as np

from compare.plugins.protocol import Implementation, PluginError, Slot, accepts, register

SKLEARN_ACTIVATIONS = {"relu": "relu", "sigmoid": "logistic", "tanh": "tanh"}


def sklearn_mlp(sizes, activation="relu", dtype=np.float64):
    """scikit-learn's ``MLPClassifier`` with ``alpha=0`` (no L2 term: the loss is the plain mean
    cross-entropy) and its coefficients allocated for ``sizes``; the harness overwrites them."""
    try:
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        raise PluginError(
            "--manual sklearn needs scikit-learn: pip install scikit-learn "
            "(or pip install -e '.[dev]' in this repository)"
        ) from None
    est = MLPClassifier(
        hidden_layer_sizes=tuple(sizes[1:-1]), activation=SKLEARN_ACTIVATIONS[activation], alpha=0.0, solver="sgd"
    )
    est.n_layers_, est.n_outputs_, est.out_activation_ = len(sizes), sizes[-1], "softmax"
    est.n_features_in_ = sizes[0]
    est.coefs_ = [np.zeros((a, b), dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    est.intercepts_ = [np.zeros(b, dtype=dtype) for b in sizes[1:]]
    return est


@register
class SKLearn(Implementation):
    """``MLPClassifier``: ``coefs_[k]`` (in, out), ``intercepts_[k]`` (out,); its own ``_forward_pass``
    gives the logits (output activation set to identity for that call) and ``_backprop`` the loss
    and gradients (``alpha`` must be 0: the L2 term is no part of the plain cross-entropy)."""

    name = "sklearn"
    needs = "sklearn an MLPClassifier"
    priority = 0
    aliases = {"sklearn": "compare.plugins.conventions.sklearn:sklearn_mlp"}

    @classmethod
    def matches(cls, obj) -> bool:
        return type(obj).__name__ == "MLPClassifier" and hasattr(obj, "_backprop")

    @classmethod
    def layer_sizes(cls, obj) -> list[int]:
        return [obj.coefs_[0].shape[0]] + [c.shape[1] for c in obj.coefs_]

    def _slots(self):
        est = self.obj
        if not callable(getattr(est, "_backprop", None)):
            raise PluginError(f"{self.label}: a {type(est).__name__} is not scikit-learn's MLPClassifier")
        if not self.spec.plain:
            raise PluginError(
                f"{self.label}: MLPClassifier has softmax outputs and the cross-entropy; this run "
                f"has {self.spec.output_activation} outputs and the {self.spec.loss} loss"
            )
        if getattr(est, "alpha", 0.0) != 0.0:
            raise PluginError(
                f"{self.label}: MLPClassifier(alpha={est.alpha}) adds an L2 term to the loss; "
                "use alpha=0 to compare with the plain cross-entropy"
            )
        if not hasattr(est, "coefs_"):
            raise PluginError(
                f"{self.label}: the MLPClassifier has no coefs_ yet; build it with "
                "compare.plugins.conventions.sklearn.sklearn_mlp(sizes, activation, dtype) or fit it once"
            )
        layers = len(self.sizes) - 1
        if len(est.coefs_) != layers:
            raise PluginError(
                f"{self.label}: {len(est.coefs_)} weight matrices in coefs_, the spec "
                f"{self.spec.describe()} needs {layers}"
            )
        slots = []
        for k, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            slots.append(
                Slot(
                    f"layer{k + 1}.weight",
                    (fan_out, fan_in),
                    f"coefs_[{k}]",
                    (fan_in, fan_out),
                    "transposed",
                    get=lambda k=k: est.coefs_[k],
                    set=lambda v, k=k: est.coefs_.__setitem__(k, v),
                )
            )
            slots.append(
                Slot(
                    f"layer{k + 1}.bias",
                    (fan_out,),
                    f"intercepts_[{k}]",
                    (fan_out,),
                    "same",
                    get=lambda k=k: est.intercepts_[k],
                    set=lambda v, k=k: est.intercepts_.__setitem__(k, v),
                )
            )
        self.onehot = np.eye(self.sizes[-1], dtype=self.dtype)
        return slots

    def _activations(self, x):
        return [x] + [None] * (self.obj.n_layers_ - 1)

    def _forward(self, x):
        est = self.obj
        saved = est.out_activation_
        est.out_activation_ = "identity"
        try:
            return est._forward_pass(self._activations(x))[-1]
        finally:
            est.out_activation_ = saved

    def _backward(self, x, y):
        est = self.obj
        n = est.n_layers_ - 1
        coef_grads, intercept_grads = [None] * n, [None] * n
        args = [x, self.onehot[y], self._activations(x), [None] * n, coef_grads, intercept_grads]
        if accepts(est._backprop, "sample_weight"):
            args.insert(2, None)
        loss, coef_grads, intercept_grads = est._backprop(*args)
        grads = {}
        for k in range(n):
            grads[f"layer{k + 1}.weight"], grads[f"layer{k + 1}.bias"] = coef_grads[k], intercept_grads[k]
        return loss, None, grads
