"""The styles of hand-written optimizer the judge drives as they are written: CS231n's functional rules
(``sgd``, ``sgd_momentum``, ``rmsprop``, ``adam`` over ``(w, dw, config)``), the nnfs book's optimizer objects
(``update_params(layer)``) and torch-shaped objects (``step()``), and how a target is resolved to one."""

from __future__ import annotations

import inspect

import numpy as np

from compare.plugins import PluginError, call_learner, resolve_factory

SHAPES = {"layer1.weight": (5, 6), "layer1.bias": (5,), "layer2.weight": (3, 5), "layer2.bias": (3,)}

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


# --- the two styles ------------------------------------------------------------------------------
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


def load(target: str, overrides: dict):
    """``FILE_OR_MODULE:NAME``: a cs231n function (NAME = sgd, sgd_momentum, rmsprop, adam) or a factory /
    class returning an nnfs-style optimizer object (called with no arguments, or with those of ``overrides``
    it accepts under the book's names)."""
    if ":" not in target:
        raise PluginError(f"--plugin-optimizer {target!r}: give FILE_OR_MODULE:NAME, e.g. optim.py:adam")
    factory = resolve_factory(target, "--plugin-optimizer")
    fn, name = factory.fn, target.rpartition(":")[2]
    if _first_is_params(fn):
        return StepOptimizer(fn, name, factory.label, factory.files, overrides)
    if inspect.isclass(fn) or not _takes_three(fn):
        book = {
            "lr": "learning_rate",
            "momentum": "momentum",
            "eps": "epsilon",
            "alpha": "rho",
            "beta1": "beta_1",
            "beta2": "beta_2",
        }
        kwargs = {}
        try:
            accepted = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            accepted = {}
        for h, v in overrides.items():
            if book.get(h) in accepted:
                kwargs[book[h]] = v
        obj = call_learner(
            f"--plugin-optimizer {target}: {name}({', '.join(kwargs)})", fn, files=factory.files, **kwargs
        )
        if not callable(getattr(obj, "update_params", None)):
            raise PluginError(
                f"--plugin-optimizer {target}: a {type(obj).__name__} has no update_params(layer); "
                "give a cs231n function (sgd, sgd_momentum, rmsprop, adam) or an nnfs optimizer"
            )
        return NNFSOptimizer(obj, factory.label, factory.files)
    return CS231nRule(fn, name, factory.label, factory.files, overrides)


def _first_is_params(fn) -> bool:
    """``MyAdam(params, lr=…)``: built on the parameters, the shape of torch.optim's constructors."""
    try:
        first = next(iter(inspect.signature(fn).parameters), None)
    except (TypeError, ValueError):
        return False
    return first in ("params", "parameters")


def _takes_three(fn) -> bool:
    try:
        return len(inspect.signature(fn).parameters) >= 3
    except (TypeError, ValueError):
        return False
