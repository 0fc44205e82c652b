"""The nnfs book's optimizer objects: a class or factory returning an object with ``update_params(layer)``,
called with the run's hyper-parameters under the book's names."""

from __future__ import annotations

import inspect

import numpy as np

from compare.optimcheck.styles.registry import Style, register
from compare.plugins import PluginError, call_learner

NNFS = {
    "sgd": {"lr": "learning_rate", "momentum": "momentum"},
    "adagrad": {"lr": "learning_rate", "eps": "epsilon"},
    "rmsprop": {"lr": "learning_rate", "alpha": "rho", "eps": "epsilon"},
    "adam": {"lr": "learning_rate", "beta1": "beta_1", "beta2": "beta_2", "eps": "epsilon"},
}
NNFS_STATE = {  # rule → the book's layer attributes (weight_…, bias_…) ↔ torch's state names
    "sgd": {"momentums": "momentum_buffer"},
    "adagrad": {"cache": "sum"},
    "rmsprop": {"cache": "square_avg"},
    "adam": {"momentums": "exp_avg", "cache": "exp_avg_sq"},
}


class NNFSLayer:
    """A stand-in dense layer of the book: weights (in, out), biases (1, out) and their gradients."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray):
        self.weights, self.biases = weight.T.copy(), bias[None, :].copy()


class NNFSOptimizer:
    """An optimizer object of the book: pre_update_params(), update_params(layer), post_update_params()."""

    style = "nnfs object style"

    def __init__(self, obj, label: str, files):
        self.obj, self.label, self.files = obj, label, files
        kind = type(obj).__name__.lower()
        self.rule = next((r for r in ("adagrad", "rmsprop", "adam", "sgd") if r in kind), None)
        if self.rule is None:
            self.rule = (
                "adam"
                if hasattr(obj, "beta_1")
                else "rmsprop"
                if hasattr(obj, "rho")
                else "sgd"
                if hasattr(obj, "momentum")
                else "adagrad"
            )
        self.hyper = {h: float(getattr(obj, a)) for h, a in NNFS[self.rule].items() if hasattr(obj, a)}
        self.decay = float(getattr(obj, "decay", 0.0) or 0.0)
        self.layers: dict[str, NNFSLayer] = {}

    def lr_at(self, t: int) -> float:
        """The book's decay: lr / (1 + decay·(t − 1)) at step t (its iterations count from 0)."""
        return self.hyper["lr"] / (1 + self.decay * (t - 1))

    def mapping(self) -> list[str]:
        lines = [
            f"{a} = {getattr(self.obj, a):g} ↔ {h} = {self.hyper[h]:g}"
            for h, a in NNFS[self.rule].items()
            if hasattr(self.obj, a)
        ]
        if self.decay:
            lines.append(
                f"decay = {self.decay:g} ↔ lr_t = lr / (1 + decay·(t − 1)) each step (torch: LambdaLR stepped per step)"
            )
        return lines

    def call(self, what, fn, *args):
        return call_learner(f"{self.label}: {what}", fn, *args, files=self.files)

    def step(self, params: dict, grads: dict) -> None:
        names = sorted({k.rsplit(".", 1)[0] for k in params})
        for layer_name in names:
            w, b = params[f"{layer_name}.weight"], params[f"{layer_name}.bias"]
            layer = self.layers.setdefault(layer_name, NNFSLayer(w, b))
            layer.weights, layer.biases = w.T.copy(), b[None, :].copy()  # the parameters as they are now
            layer.dweights = np.array(grads[f"{layer_name}.weight"]).T.copy()
            layer.dbiases = np.array(grads[f"{layer_name}.bias"])[None, :].copy()
        if hasattr(self.obj, "pre_update_params"):
            self.call("pre_update_params()", self.obj.pre_update_params)
        for layer_name in names:
            self.call("update_params(layer)", self.obj.update_params, self.layers[layer_name])
        if hasattr(self.obj, "post_update_params"):
            self.call("post_update_params()", self.obj.post_update_params)
        for layer_name in names:
            layer = self.layers[layer_name]
            params[f"{layer_name}.weight"][...] = np.asarray(layer.weights).T
            params[f"{layer_name}.bias"][...] = np.asarray(layer.biases).reshape(-1)

    def state(self) -> dict[str, dict]:
        out = {}
        for layer_name, layer in self.layers.items():
            for which in ("weight", "bias"):
                for suffix, torch_name in NNFS_STATE[self.rule].items():
                    attr = f"{which}_{suffix}"
                    if hasattr(layer, attr):
                        value = np.asarray(getattr(layer, attr))
                        out.setdefault(f"{layer_name}.{which}", {})[torch_name] = (
                            value.T if which == "weight" else value.reshape(-1)
                        )
        return out


BOOK_NAMES = {
    "lr": "learning_rate",
    "momentum": "momentum",
    "eps": "epsilon",
    "alpha": "rho",
    "beta1": "beta_1",
    "beta2": "beta_2",
}


def build(fn, name, factory, overrides, target):
    kwargs = {}
    try:
        accepted = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        accepted = {}
    for h, v in overrides.items():
        if BOOK_NAMES.get(h) in accepted:
            kwargs[BOOK_NAMES[h]] = v
    obj = call_learner(f"--plugin-optimizer {target}: {name}({', '.join(kwargs)})", fn, files=factory.files, **kwargs)
    if not callable(getattr(obj, "update_params", None)):
        raise PluginError(
            f"--plugin-optimizer {target}: a {type(obj).__name__} has no update_params(layer); "
            "give a cs231n function (sgd, sgd_momentum, rmsprop, adam) or an nnfs optimizer"
        )
    return NNFSOptimizer(obj, factory.label, factory.files)


def takes_three(fn) -> bool:
    try:
        return len(inspect.signature(fn).parameters) >= 3
    except (TypeError, ValueError):
        return False


register(Style("nnfs", priority=50, claims=lambda fn: inspect.isclass(fn) or not takes_three(fn), build=build))
