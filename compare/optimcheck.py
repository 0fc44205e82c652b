"""The learner's own optimizer, judged step by step against torch.optim (``simplenet optimcheck``).

Two styles of hand-written optimizer are driven as they are written:

* **cs231n** (the assignment's ``optim.py``): functions ``sgd``, ``sgd_momentum``, ``rmsprop``, ``adam``
  taking ``(w, dw, config)`` and returning ``(next_w, config)``; the state lives in ``config``.
* **nnfs** (the Neural Networks from Scratch book): an object with ``pre_update_params()``,
  ``update_params(layer)`` and ``post_update_params()``, its state kept on the layers
  (``weight_momentums``, ``weight_cache`` …), weights ``(in, out)`` and biases ``(1, out)``.

Both sides get the same parameters and the same gradient stream; after every step the parameters
and every piece of state (mapped to torch's names) are compared.  When they part, the classic bugs
are re-enacted on torch's rule (``VARIANTS``) and the one that reproduces the plug-in's trajectory is
named - the same idea as the gradient catalogue.  Equivalent forms (CS231n's ``v = μv − lr·dw``
momentum, Adam's "efficient" form) are told apart from bugs.
"""

from __future__ import annotations

import copy
import inspect
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from compare.errors import ConfigError
from compare.plugins import PluginError, call_learner, resolve_factory
from compare.verdicts import OPTIMCHECK as TOLERANCE

SHAPES = {"layer1.weight": (5, 6), "layer1.bias": (5,), "layer2.weight": (3, 5), "layer2.bias": (3,)}
TINY = 1e-300

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


def rel(a, b) -> float:
    """max |a − b| relative to the larger magnitude; inf for other shapes and for any NaN or inf on
    either side (a non-finite number is never within tolerance)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return float("inf")
    scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)), TINY)
    return float(np.abs(a - b).max(initial=0.0)) / scale


# --- torch's rules, and the bugs, re-enacted in NumPy -------------------------------------------
@dataclass(frozen=True)
class Variant:
    code: str
    rules: tuple[str, ...]
    message: str
    equivalent: bool = False  # a correct form that differs from torch's only in rounding or eps


VARIANTS = [
    Variant(
        "cs231n-momentum-form",
        ("sgd",),
        "v = μv − lr·dw, w += v: CS231n's momentum form, equal to torch's "
        "b = μb + g, w −= lr·b under a constant learning rate",
        equivalent=True,
    ),
    Variant(
        "adam-efficient-form",
        ("adam",),
        'Adam\'s "efficient" form (Kingma & Ba, sec. 2): lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ), '
        "w −= lr_t·m/(√v + ε) - it differs from torch.optim.Adam only in where ε enters (ε·√(1−β₂ᵗ) in "
        "torch's terms); a variant, not a bug",
        equivalent=True,
    ),
    Variant(
        "adam-no-bias-correction",
        ("adam",),
        "no bias correction: m and v are used as they are, not divided by (1 − β₁ᵗ) and (1 − β₂ᵗ)",
    ),
    Variant(
        "adam-step-count-late",
        ("adam",),
        "the bias correction is one step late: t is incremented before "
        "use from a default of 1 (t = 2 at the first step), where torch uses t = 1",
    ),
    Variant(
        "adam-step-count-fixed",
        ("adam",),
        "the step count never changes: the bias correction is that of one fixed step (t stays where it started) "
        "at every step",
    ),
    Variant(
        "eps-inside-sqrt",
        ("adam", "rmsprop"),
        "ε is added inside the square root (√(v + ε)), where torch adds it outside (√v + ε)",
    ),
    Variant(
        "state-not-stored",
        ("sgd", "rmsprop", "adam"),
        "the state (velocity, cache or moments) is never written back: each step starts from zeros again",
    ),
    Variant(
        "nesterov-instead-of-classic",
        ("sgd",),
        "Nesterov momentum where classic momentum belongs (w += −μ·v_prev + (1 + μ)·v)",
    ),
    Variant("momentum-lr-twice", ("sgd",), "the learning rate is applied twice: v = μv + lr·dw, then w −= lr·v"),
]


def reference(rule: str, hyper: dict, params: dict, grads_seq: list[dict], variant: str = "", lr_at=None) -> list[dict]:
    """torch's ``rule`` (or a variant of it) applied to copies of ``params`` over ``grads_seq``; the
    parameters after every step.  ``lr_at(t)`` gives a per-step learning rate (the nnfs decay)."""
    w = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    state = {k: {} for k in w}
    out = []
    for t, grads in enumerate(grads_seq, start=1):
        lr = lr_at(t) if lr_at else hyper["lr"]
        for k, g in grads.items():
            g = np.asarray(g, dtype=np.float64)
            s = state[k] if variant != "state-not-stored" else {}
            if rule == "sgd":
                mu = hyper.get("momentum", 0.0)
                if not mu:
                    w[k] -= lr * g
                    continue
                b = s.get("b")
                if variant == "nesterov-instead-of-classic":
                    prev = s.get("v", np.zeros_like(g))
                    v = mu * prev - lr * g
                    w[k] += -mu * prev + (1 + mu) * v
                    s["v"] = v
                elif variant == "momentum-lr-twice":
                    b = lr * g if b is None else mu * b + lr * g
                    w[k] -= lr * b
                    s["b"] = b
                elif variant == "cs231n-momentum-form" or variant == "state-not-stored":
                    v = mu * s.get("v", np.zeros_like(g)) - lr * g
                    w[k] += v
                    s["v"] = v
                else:
                    b = g.copy() if b is None else mu * b + g
                    w[k] -= lr * b
                    s["b"] = b
            elif rule in ("rmsprop", "adagrad"):
                cache = s.get("cache", np.zeros_like(g))
                alpha = hyper.get("alpha", 0.99)
                cache = cache + g * g if rule == "adagrad" else alpha * cache + (1 - alpha) * g * g
                denom = np.sqrt(cache + hyper["eps"]) if variant == "eps-inside-sqrt" else np.sqrt(cache) + hyper["eps"]
                w[k] -= lr * g / denom
                s["cache"] = cache
            elif rule == "adam":
                b1, b2, eps = hyper["beta1"], hyper["beta2"], hyper["eps"]
                step = s.get("t", 0) + 1
                used = {"adam-step-count-late": step + 1, "adam-step-count-fixed": 1}.get(variant, step)
                m = b1 * s.get("m", np.zeros_like(g)) + (1 - b1) * g
                v = b2 * s.get("v", np.zeros_like(g)) + (1 - b2) * g * g
                if variant == "adam-no-bias-correction":
                    w[k] -= lr * m / (np.sqrt(v) + eps)
                elif variant == "adam-efficient-form":
                    w[k] -= lr * math.sqrt(1 - b2**used) / (1 - b1**used) * m / (np.sqrt(v) + eps)
                elif variant == "eps-inside-sqrt":
                    w[k] -= lr * (m / (1 - b1**used)) / np.sqrt(v / (1 - b2**used) + eps)
                else:  # torch: θ −= (lr/(1−β₁ᵗ))·m/(√v/√(1−β₂ᵗ) + ε)
                    w[k] -= (lr / (1 - b1**used)) * (m / (np.sqrt(v) / math.sqrt(1 - b2**used) + eps))
                s.update(m=m, v=v, t=step)
        out.append({k: v.copy() for k, v in w.items()})
    return out


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


def torch_trajectory(rule: str, hyper: dict, params: dict, grads_seq: list[dict], lr_at=None):
    """torch.optim itself over the same stream: parameters and state after every step."""
    import torch

    tensors = {k: torch.tensor(np.array(v, dtype=np.float64), requires_grad=True) for k, v in params.items()}
    kw = {
        "sgd": lambda: dict(momentum=hyper.get("momentum", 0.0)),
        "rmsprop": lambda: dict(alpha=hyper.get("alpha", 0.99), eps=hyper["eps"]),
        "adagrad": lambda: dict(eps=hyper["eps"]),
        "adam": lambda: dict(betas=(hyper["beta1"], hyper["beta2"]), eps=hyper["eps"]),
    }[rule]()
    cls = {
        "sgd": torch.optim.SGD,
        "rmsprop": torch.optim.RMSprop,
        "adagrad": torch.optim.Adagrad,
        "adam": torch.optim.Adam,
    }[rule]
    opt = cls(list(tensors.values()), lr=hyper["lr"], foreach=False, **kw)
    out = []
    for t, grads in enumerate(grads_seq, start=1):
        if lr_at is not None:
            opt.param_groups[0]["lr"] = lr_at(t)
        for k, q in tensors.items():
            q.grad = torch.tensor(np.array(grads[k], dtype=np.float64))
        opt.step()
        state = {}
        for k, q in tensors.items():
            s = opt.state[q]
            state[k] = {n: (float(v) if v.ndim == 0 else v.detach().numpy().copy()) for n, v in s.items()}
        out.append(({k: q.detach().numpy().copy() for k, q in tensors.items()}, state))
    return out


@dataclass
class OptimReport:
    plugin: str
    style: str
    rule: str
    steps: int
    dtype: str
    tolerance: float
    mapping: list[str]
    worst: dict
    first_divergence: dict | None
    state: dict
    diagnosis: dict | None
    verdict: str = field(default="AGREE")

    @property
    def passed(self) -> bool:
        return self.verdict in ("AGREE", "VARIANT")

    ok = passed

    def __str__(self) -> str:
        return format_report(self)

    def to_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def check(
    target: str,
    *,
    steps: int = 50,
    dtype: str = "float64",
    seed: int = 0,
    overrides: dict | None = None,
    shapes: dict = SHAPES,
) -> OptimReport:
    """Apply the plug-in's optimizer and torch.optim's to the same parameters and gradients for ``steps``
    steps; compare parameters and state after each; diagnose where they part."""
    if steps < 1:
        raise ConfigError(f"--steps {steps} must be at least 1")
    opt = load(target, overrides or {})
    tol = TOLERANCE[dtype]
    rng = np.random.default_rng(seed)
    init = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    grads_seq = [{k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()} for _ in range(steps)]
    lr_at = opt.lr_at if isinstance(opt, NNFSOptimizer) and opt.decay else None
    theirs = {k: v.copy() for k, v in init.items()}
    trajectory = []
    for grads in grads_seq:
        opt.step(theirs, {k: g.copy() for k, g in grads.items()})
        # the state as it is after this step: copies (the nnfs book's Adagrad adds to its cache in place)
        trajectory.append(({k: v.copy() for k, v in theirs.items()}, copy.deepcopy(opt.state())))
    truth = torch_trajectory(opt.rule, opt.hyper, init, grads_seq, lr_at)
    worst = {"rel_err": 0.0, "step": 0, "parameter": None}
    first = None
    state_err: dict[str, float] = {}
    for t, ((mine, my_state), (ref, ref_state)) in enumerate(zip(trajectory, truth), start=1):
        for k in shapes:
            e = rel(mine[k], ref[k])
            if e > worst["rel_err"]:
                worst = {"rel_err": e, "step": t, "parameter": k}
            if first is None and e > tol:
                first = {
                    "step": t,
                    "parameter": k,
                    "rel_err": e,
                    "state": diverged_state(my_state.get(k, {}), ref_state.get(k, {}), opt, tol),
                }
        for k, pieces in my_state.items():
            for name, value in pieces.items():
                e = state_error(name, value, ref_state.get(k, {}), opt)
                if e is not None:
                    state_err[name] = max(state_err.get(name, 0.0), e)
    report = OptimReport(
        plugin=target,
        style=opt.style,
        rule=opt.rule,
        steps=steps,
        dtype=dtype,
        tolerance=tol,
        mapping=opt.mapping(),
        worst=worst,
        first_divergence=first,
        state=state_err,
        diagnosis=None,
    )
    if first is None:
        return report
    bad = non_finite(trajectory[first["step"] - 1][0], truth[first["step"] - 1][0], first)
    if bad is not None:
        report.diagnosis, report.verdict = bad, "MISMATCH"
        return report
    mine_seq = [m for m, _ in trajectory]
    for variant in VARIANTS:
        if opt.rule not in variant.rules:
            continue
        re = reference(opt.rule, opt.hyper, init, grads_seq, variant.code, lr_at)
        if all(
            rel(m[k], r[k]) <= max(tol, 1e-10 if dtype == "float64" else tol)
            for m, r in zip(mine_seq, re)
            for k in shapes
        ):
            report.diagnosis = {"code": variant.code, "message": variant.message, "equivalent": variant.equivalent}
            report.verdict = "VARIANT" if variant.equivalent else "MISMATCH"
            return report
    report.diagnosis = {
        "code": "unexplained",
        "message": "no known optimizer bug reproduces your trajectory; "
        "compare your update line by line with torch.optim's (docs/plugins.md, Check your optimizer)",
    }
    report.verdict = "MISMATCH"
    return report


def non_finite(mine: dict, ref: dict, first: dict) -> dict | None:
    """The diagnosis when the first divergence is a NaN or inf (in the plug-in's parameters or torch's)."""
    k, t = first["parameter"], first["step"]
    for side, values in (("your update rule", mine[k]), ("torch.optim", ref[k])):
        a = np.asarray(values, dtype=np.float64)
        if a.shape == np.shape(ref[k]) and not np.isfinite(a).all():
            kind = "NaN" if np.isnan(a).any() else "inf"
            where = [int(i) for i in np.unravel_index(int(np.flatnonzero(~np.isfinite(a))[0]), a.shape)]
            return {
                "code": "non-finite",
                "message": f"{side} wrote {kind} into {k}{where} at step {t}"
                + (
                    "; torch's stays finite"
                    if side == "your update rule"
                    else "; the inputs are too large for this rule"
                )
                + " - a NaN or inf is never within tolerance",
                "equivalent": False,
            }
    return None


def expected_forms(name: str, ref: dict, opt) -> list:
    """torch's value of the plug-in's state ``name`` (torch's name), in each form the plug-in may keep it:
    a velocity v = μv − lr·g (CS231n, the book) is −lr·b of torch's b = μb + g at a constant learning rate."""
    if name not in ref:
        return []
    value = ref[name]
    if name == "momentum_buffer":
        return [-opt.hyper["lr"] * value, value]
    return [value]


def state_error(name: str, value, ref: dict, opt) -> float | None:
    forms = expected_forms(name, ref, opt)
    return min(rel(value, f) for f in forms) if forms else None


def diverged_state(mine: dict, ref: dict, opt, tol: float) -> str | None:
    for name, value in mine.items():
        e = state_error(name, value, ref, opt)
        if e is not None and e > max(tol, 1e-10):
            return f"{name} ({_plain(value)} where torch has {_plain(expected_forms(name, ref, opt)[0])})"
    return None


def _plain(v) -> str:
    a = np.asarray(v, dtype=np.float64)
    return f"{float(a):g}" if a.ndim == 0 else f"max |·| {np.abs(a).max():.3g}"


def format_report(r: OptimReport) -> str:
    torch_cls = {"sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad", "adam": "Adam"}[r.rule]
    lines = [
        f"plug-in optimizer: {r.plugin} ({r.style}) ↔ torch.optim.{torch_cls}",
        *[f"  {m}" for m in r.mapping],
        f"optimcheck: {r.steps} steps, {r.dtype}, {len(SHAPES)} parameters, random N(0,1) parameters and "
        f"gradients, tolerance {r.tolerance:.0e}",
    ]
    w = r.worst
    lines.append(
        "parameters: identical to torch's at every step"
        if not w["rel_err"]
        else f"parameters: worst relative error {w['rel_err']:.2e} (step {w['step']}, {w['parameter']})"
    )
    for name, e in sorted(r.state.items()):
        lines.append(f"state {name}: worst relative error {e:.2e}")
    if r.first_divergence:
        f = r.first_divergence
        lines.append(
            f"first divergence: step {f['step']}, {f['parameter']} (relative error {f['rel_err']:.2e})"
            + (f"; the state that diverged: {f['state']}" if f["state"] else "")
        )
    if r.diagnosis:
        lines.append(f"diagnosis [{r.diagnosis['code']}]: {r.diagnosis['message']}")
    lines.append("")
    lines.append(
        {
            "AGREE": f"verdict: AGREE - every step within {r.tolerance:.0e} of torch.optim.{torch_cls}",
            "VARIANT": f"verdict: VARIANT - an equivalent form of torch.optim.{torch_cls}, not a bug",
            "MISMATCH": f"verdict: MISMATCH - your {r.rule} differs from torch.optim.{torch_cls}",
        }[r.verdict]
    )
    return "\n".join(lines)


__all__ = ["check", "format_report", "load", "reference", "VARIANTS", "OptimReport"]


# --- the plug-in's optimizer in training (compare / train) ---------------------------------------
TORCH_FLAG = {
    "lr": "--lr",
    "momentum": "--momentum",
    "alpha": "--alpha",
    "eps": "--eps",
    "beta1": "--betas",
    "beta2": "--betas",
}


def cfg_hyper(cfg) -> dict:
    return {
        "lr": cfg.lr,
        "momentum": cfg.momentum,
        "alpha": cfg.alpha,
        "eps": cfg.eps,
        "beta1": cfg.betas[0],
        "beta2": cfg.betas[1],
    }


class TrainingOptimizer:
    """The plug-in's optimizer behind the interface the judge's training loop uses (``step()``,
    ``param_groups``, ``state_dict()``), updating the judge's parameter views in place.

    Before training, its hyper-parameters are compared with the run's: a difference is one line naming
    it (exit 2), never a silent difference of defaults; so is a rule of another kind than --optimizer."""

    def __init__(self, target: str, cfg, params: dict):
        self.target, self.params = target, params  # torch name → manual.Parameter (torch layout)
        overrides = {k: v for k, v in cfg_hyper(cfg).items()}
        self.impl = load(target, {})
        if isinstance(self.impl, CS231nRule):  # the config is ours to give: the run's values
            self.impl.hyper = {h: overrides[h] for h in self.impl.hyper}
        want = {"sgd": "sgd", "rmsprop": "rmsprop", "adagrad": "adagrad", "adam": "adam"}.get(cfg.optimizer)
        if want != self.impl.rule:
            raise ConfigError(
                f"--plugin-optimizer {target} is {self.impl.rule}, the run's --optimizer is "
                f"{cfg.optimizer}: give --optimizer {self.impl.rule} so torch runs the same rule"
            )
        if self.impl.rule == "sgd" and bool(self.impl.hyper.get("momentum", 0.0)) != bool(cfg.momentum):
            raise ConfigError(
                f"--plugin-optimizer {target}: momentum {self.impl.hyper.get('momentum', 0.0):g} "
                f"against the run's --momentum {cfg.momentum:g}; give the same to both"
            )
        for h, mine in self.impl.hyper.items():
            theirs = overrides[h]
            if not math.isclose(mine, theirs, rel_tol=1e-12, abs_tol=0.0):
                shown = (
                    f"{TORCH_FLAG[h]} {theirs:g}"
                    if h not in ("beta1", "beta2")
                    else f"--betas {cfg.betas[0]:g},{cfg.betas[1]:g}"
                )
                raise ConfigError(
                    f"--plugin-optimizer {target}: its {h} is {mine:g}, the run's {shown}; the "
                    f"hyper-parameters differ before training - give {TORCH_FLAG[h]} "
                    f"{mine:g} (or change yours) so both sides run the same"
                )
        if isinstance(self.impl, NNFSOptimizer) and self.impl.decay:
            raise ConfigError(
                f"--plugin-optimizer {target}: decay {self.impl.decay:g} lowers the learning rate "
                "every step, which no --schedule of this run does; use decay=0 (or optimcheck, "
                "which maps it)"
            )
        if cfg.schedule != "none":
            raise ConfigError(
                f"--plugin-optimizer {target} keeps its own learning rate: use --schedule none "
                f"(the run's is {cfg.schedule})"
            )
        if cfg.weight_decay:
            raise ConfigError(
                f"--plugin-optimizer {target}: --weight-decay {cfg.weight_decay:g} has no counterpart "
                "in the plug-in's rule; use --weight-decay 0"
            )
        self.param_groups = [{"lr": cfg.lr}]
        self.steps = 0

    def step(self) -> None:
        names = [k for k, p in self.params.items() if p.grad is not None]
        arrays = {k: self.params[k].data for k in names}
        before = {k: id(a) for k, a in arrays.items()}
        self.impl.step(arrays, {k: self.params[k].grad for k in names})
        self.steps += 1
        if self.steps == 1 and isinstance(self.impl, CS231nRule):
            self._check_config()
        assert all(id(arrays[k]) == before[k] for k in names)  # written in place into the judge's views

    def _check_config(self) -> None:
        """A rule that overwrote the hyper-parameters it was given (a hard-coded epsilon) is named."""
        for k, config in self.impl.configs.items():
            for h, key in self.impl.config_keys.items():
                if key in config and not math.isclose(float(config[key]), self.impl.hyper[h], rel_tol=1e-12):
                    raise PluginError(
                        f"{self.impl.label}: {self.impl.name} changed config['{key}'] from "
                        f"{self.impl.hyper[h]:g} to {float(config[key]):g} (hard-coded?); the run's "
                        f"{TORCH_FLAG[h]} is {self.impl.hyper[h]:g}"
                    )
            break

    def mapping(self) -> list[str]:
        return self.impl.mapping()

    def header(self) -> str:
        return f"optimizer: {self.target} ({self.impl.style}) ↔ torch.optim's {self.impl.rule}"

    def state_dict(self) -> dict:
        """Its state as arrays (checkpoints): cs231n configs, or the book's layer attributes and counter."""
        state = {}
        if isinstance(self.impl, CS231nRule):
            for k, config in self.impl.configs.items():
                for key, value in config.items():
                    state[f"{k}|{key}"] = np.asarray(value)
        elif isinstance(self.impl, StepOptimizer):
            # its own attributes that are numbers, arrays or lists of arrays (moments, velocities, the count)
            for attr, value in vars(self.impl.obj).items() if self.impl.obj is not None else ():
                if isinstance(value, (int, float, np.ndarray)) and not isinstance(value, bool):
                    state[f"~|{attr}"] = np.asarray(value)
                elif isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
                    for i, v in enumerate(value):
                        state[f"~|{attr}|{i}"] = v
        else:
            for name, layer in self.impl.layers.items():
                for attr, value in vars(layer).items():
                    state[f"{name}|{attr}"] = np.asarray(value)
            state["|iterations"] = np.asarray(getattr(self.impl.obj, "iterations", 0))
        return {"param_group": {"lr": self.param_groups[0]["lr"], "steps": self.steps}, "state": state}

    def load_state_dict(self, saved: dict) -> None:
        self.steps = int(saved["param_group"].get("steps", 0))
        pending = {}
        for key, value in saved["state"].items():
            owner, attr = key.split("|", 1)
            value = np.array(value)
            plain = value.item() if value.ndim == 0 else value
            if owner == "~":  # a step() object's attributes, set once it is built
                pending[attr] = plain
                continue
            if isinstance(self.impl, CS231nRule):
                self.impl.configs.setdefault(owner, {})[attr] = plain
            elif owner:
                layer = self.impl.layers.setdefault(owner, NNFSLayer.__new__(NNFSLayer))
                setattr(layer, attr, plain)
            else:
                self.impl.obj.iterations = int(plain)
        if pending and isinstance(self.impl, StepOptimizer):
            self.impl.pending = pending
