"""Diagnosis by re-enactment: the classic backprop bugs, each planted in a reference pass.

The judge holds a trustworthy reference: SimpleNet's forward and backward, written here once more
in NumPy with one hook where each classic bug goes (``reference``).  A catalogue ``ENTRIES`` lists
the known bugs; each entry names the hook it sets, the layers it can sit at and its message.  When a
plug-in mismatches, every entry is re-enacted on the same weights and batch, and the one that
reproduces the plug-in's logits (forward bugs) or its logits *and every gradient* (backward bugs)
to the dtype's rounding is reported, naming the layer.  A new kind of bug is one entry here plus
one planted-bug test (docs/plugins.md, "Adding a diagnosis").

The reference uses ``@`` (NumPy's matmul), never ``np.dot``, so a plug-in that patches ``np.dot``
process-wide (the nnfs book's ``nnfs.init()``) cannot reach it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from compare.architecture import affine_bias, affine_count, affine_name, affine_weight
from compare.numerics import TINY, rel


# --- activations: forward, derivative from (pre-activation z, output h) ----------------------
def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


FORWARD = {"relu": lambda z: np.maximum(z, 0.0), "sigmoid": _sigmoid, "tanh": np.tanh}
DERIVATIVE = {
    "relu": lambda z, h: (z > 0).astype(z.dtype),
    "sigmoid": lambda z, h: h * (1.0 - h),
    "tanh": lambda z, h: 1.0 - h * h,
}
# the derivative written with the output, evaluated at the pre-activation (the bug): σ'(z) as z(1 − z)
AT_PREACTIVATION = {"sigmoid": lambda z: z * (1.0 - z), "tanh": lambda z: 1.0 - z * z}


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(z):
    s = z - z.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean softmax cross-entropy, computed stably in float64 (the judge's own measure of a loss, every
    training step: log Σ exp(z − max) + max − z_y, with as few passes as the formula allows)."""
    return float(objectives(np.asarray(logits)[None], np.asarray(y)[None])[0])


def objectives(outputs: np.ndarray, y: np.ndarray, loss: str = "cross-entropy") -> np.ndarray:
    """``objective`` of k batches at once: outputs (k, N, C), labels (k, N) → (k,) in float64.  Every
    reduction runs along the last, contiguous axis, row by row, so each batch's figure is bit for bit
    the one it gets alone, whatever k is (training computes them a few dozen steps at a time)."""
    z = np.asarray(outputs, dtype=np.float64)
    k, n = z.shape[:2]
    if loss == "cross-entropy":
        top = z.max(axis=2)
        lse = np.log(np.exp(z - top[..., None]).sum(axis=2)) + top
        picked = np.take_along_axis(z, np.asarray(y)[..., None], axis=2)[..., 0]
        return (lse - picked).sum(axis=1) / n
    onehot = np.zeros_like(z)
    np.put_along_axis(onehot, np.asarray(y)[..., None], 1.0, axis=2)
    mse = ((z - onehot) ** 2).reshape(k, -1).mean(axis=1)
    return mse * z.shape[2] / 2 if loss == "quadratic" else mse


EVERY = -1  # Bug.layer for an activation bug after every hidden layer


def objective(outputs: np.ndarray, y: np.ndarray, loss: str = "cross-entropy") -> float:
    """The run's loss of a batch's outputs, computed by the judge in float64: the mean softmax
    cross-entropy of logits, or the mean squared error against one-hot targets (torch.nn.MSELoss)."""
    return float(objectives(np.asarray(outputs)[None], np.asarray(y)[None], loss)[0])


@dataclass(frozen=True)
class Bug:
    """What to plant: an entry's code, the layer (1-based; for an activation, the layer it follows), a
    variant (which activation, which bias reduction), or a set of ``layers`` when the bug sits in several
    at once (every layer without its bias, dW from the pre-activation in layers 2 and 3)."""

    code: str = ""
    layer: int = 0
    variant: str = ""
    layers: tuple[int, ...] = ()

    def at(self, code: str, k: int) -> bool:
        return self.code == code and (k == self.layer or k in self.layers)

    def has(self, code: str) -> Bug | None:
        """The planted bug of ``code``, if it is this one."""
        return self if self.code == code else None

    @property
    def parts(self) -> tuple[Bug, ...]:
        return (self,) if self.code else ()


@dataclass(frozen=True)
class Bugs:
    """Two (or more) bugs planted together: a learner's net often has more than one (issue 29: a bias gradient
    off and a ReLU mask missing), and only both together reproduce every gradient."""

    parts: tuple[Bug, ...]

    def at(self, code: str, k: int) -> bool:
        return any(b.at(code, k) for b in self.parts)

    def has(self, code: str) -> Bug | None:
        return next((b for b in self.parts if b.code == code), None)


@dataclass
class Pass:
    logits: np.ndarray
    loss: float
    grads: dict[str, np.ndarray]
    cache: list = None  # per layer: (its input a, its pre-activation z, its output h)


def reference(
    params: dict[str, np.ndarray],
    activation: str,
    x: np.ndarray,
    y: np.ndarray,
    bug: Bug | Bugs = Bug(),
    l2: float = 0.0,
    l1: float = 0.0,
) -> Pass:
    """SimpleNet's forward, mean cross-entropy (+ the weight penalty ½·λ₂·ΣW² + λ₁·Σ|W|) and backward in
    float64 at ``params`` (torch layout), with ``bug`` planted (none by default).  A forward bug gets the
    backward consistent with it."""
    layers = affine_count(params)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    swapped = bug.has("hidden-activation")
    hidden = swapped.variant if swapped else activation
    a, cache = np.asarray(x, dtype=np.float64).reshape(len(x), -1), []
    for k in range(1, layers + 1):
        z = a @ p[affine_weight(k)].T
        if not bug.at("missing-bias", k):
            z = z + p[affine_bias(k)] * (2.0 if bug.at("bias-added-twice", k) else 1.0)
        h = (z.copy() if bug.at("hidden-activation-missing", k) else FORWARD[hidden](z)) if k < layers else None
        cache.append((a, z, h))
        a = h
    z = cache[-1][1]
    output = bug.has("output-activation")
    if output:
        logits = FORWARD[output.variant](z)
    elif bug.has("probabilities"):
        logits = softmax(z)
    elif bug.has("log-probabilities"):
        logits = log_softmax(z)
    else:
        logits = z
    n = len(y)
    probs = softmax(logits) if not bug.has("softmax-axis") else softmax(logits.T).T  # over the batch: the bug
    loss = float(-np.log(np.maximum(probs[np.arange(n), y], TINY)).mean())
    # dL/dlogits = (p − onehot)/N
    g = probs.copy()
    g[np.arange(n), y] -= 1.0
    g /= n
    if bug.has("softmax-gradient-sign"):
        g = -g
    # back through the output transform the forward applied
    if output:
        g = g * DERIVATIVE[output.variant](z, logits)
    elif bug.has("probabilities"):
        g = logits * (g - (g * logits).sum(axis=1, keepdims=True))
    elif bug.has("log-probabilities"):
        g = g - softmax(z) * g.sum(axis=1, keepdims=True)
    grads = {}
    for k in range(layers, 0, -1):
        a_in, z, _ = cache[k - 1]
        if k > 1 and bug.at("gradient-from-pre-activation", k):
            grads[affine_weight(k)] = g.T @ cache[k - 2][1]  # the bug: the layer below's z, not its output
        else:
            grads[affine_weight(k)] = g.T @ a_in  # dL/dW = gᵀ·x
        unsummed = bug.has("bias-gradient-not-summed")
        if unsummed and unsummed.layer == k:
            grads[affine_bias(k)] = g[0].copy() if unsummed.variant == "one row" else g.mean(axis=0)
        else:
            grads[affine_bias(k)] = g.sum(axis=0)  # dL/db = Σ_n g
        if l2 or l1:
            w = p[affine_weight(k)]
            reg = l2 * w + l1 * np.sign(w)  # dP/dW = λ₂·W + λ₁·sign(W)
            if bug.has("reg-gradient-doubled"):
                reg = 2 * reg
            elif bug.has("reg-gradient-halved"):
                reg = 0.5 * reg
            if bug.has("reg-gradient-missing") or bug.at("reg-layer-missing", k):
                reg = 0 * reg
            grads[affine_weight(k)] = grads[affine_weight(k)] + reg
            if bug.has("reg-on-biases"):
                grads[affine_bias(k)] = grads[affine_bias(k)] + l2 * p[affine_bias(k)]
            loss += float(0.5 * l2 * np.sum(w * w) + l1 * np.sum(np.abs(w)))
        if k == 1:
            break
        g = g @ p[affine_weight(k)]  # dL/dx = g·W
        _, z_prev, h_prev = cache[k - 2]
        unmasked, at_z = bug.has("relu-mask-missing"), bug.has("activation-derivative-at-preactivation")
        if unmasked and unmasked.layer in (k - 1, EVERY):
            pass  # passed through, unmasked
        elif at_z and at_z.layer in (k - 1, EVERY):
            g = g * AT_PREACTIVATION[hidden](z_prev)
        elif bug.at("hidden-activation-missing", k - 1):
            pass  # no activation there: its derivative is 1
        else:
            g = g * DERIVATIVE[hidden](z_prev, h_prev)
    return Pass(logits, loss, grads, cache)


# --- the catalogue -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    code: str
    kind: str  # "forward": judged on the logits; "backward": on the gradients
    places: Callable[[int, str], list[Bug]]  # (layers, activation) → the plantings to try
    message: Callable[[Bug], str]
    regularized: bool = False  # tried only when the run regularizes the weights (--l2)


def _each_layer(code, variants=("",)):
    return lambda layers, act: [Bug(code, k, v) for k in range(1, layers + 1) for v in variants]


def _each_hidden(code, variants=("",), only=None):
    """After each hidden layer, and after all of them at once (one activation backward shared by all)."""

    def places(layers, act):
        if only is not None and act not in only:
            return []
        every = [Bug(code, EVERY, v) for v in variants] if layers > 2 else []
        return [Bug(code, k, v) for k in range(1, layers) for v in variants] + every

    return places


def _after(b: Bug) -> str:
    return "every hidden layer" if b.layer == EVERY else affine_name(b.layer)


def _subsets(code, first: int = 1):
    """Every non-empty set of layers from ``first`` on, one layer at a time first (the smallest
    explanation wins), then pairs, … up to all of them: a bug a learner repeated in several layers."""
    from itertools import combinations

    def places(layers, act):
        ks = range(first, layers + 1)
        return [Bug(code, layers=c) for r in range(1, len(ks) + 1) for c in combinations(ks, r)]

    return places


def _named(b: Bug) -> str:
    names = [affine_name(k) for k in b.layers]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


ENTRIES: list[Entry] = [
    Entry(
        "output-activation",
        "forward",
        lambda layers, act: [Bug("output-activation", layers, v) for v in FORWARD],
        lambda b: (
            f"your logits are {b.variant}(scores): the output layer applies {b.variant} to the scores; "
            f"the last layer must return its affine output (logits) unchanged"
            + (
                " - or, if your net is meant to end in a sigmoid with a quadratic cost (Nielsen's), judge it so: "
                "--output-activation sigmoid --loss quadratic"
                if b.variant == "sigmoid"
                else ""
            )
        ),
    ),
    Entry(
        "probabilities",
        "forward",
        lambda layers, act: [Bug("probabilities", layers)],
        lambda b: (
            "your forward returns softmax probabilities, not logits: return the scores before softmax "
            "(the loss applies softmax itself)"
        ),
    ),
    Entry(
        "log-probabilities",
        "forward",
        lambda layers, act: [Bug("log-probabilities", layers)],
        lambda b: (
            "your forward returns log-softmax (log-probabilities), not logits; the loss and gradients "
            "do not change by it, but the forward must return the scores before log-softmax"
        ),
    ),
    Entry(
        "hidden-activation",
        "forward",
        lambda layers, act: [Bug("hidden-activation", 0, v) for v in FORWARD if v != act] if layers > 1 else [],
        lambda b: (
            f"your hidden layers use {b.variant} where this run's --activation asks for another: "
            f"the factory must build the activation it is given (its activation argument)"
        ),
    ),
    Entry(
        "missing-bias",
        "forward",
        _subsets("missing-bias"),
        lambda b: f"{_named(b)}: the bias is never added in the forward (z = x·W where x·W + b belongs)",
    ),
    Entry(
        "bias-added-twice",
        "forward",
        _subsets("bias-added-twice"),
        lambda b: f"{_named(b)}: the bias is added twice in the forward (z = x·W + 2b)",
    ),
    Entry(
        "hidden-activation-missing",
        "forward",
        lambda layers, act: [Bug("hidden-activation-missing", layers=(k,)) for k in range(1, layers)],
        lambda b: f"no activation after {_named(b)}: its output goes to the next layer as x·W + b, unactivated",
    ),
    Entry(
        "relu-mask-missing",
        "backward",
        _each_hidden("relu-mask-missing", only=("relu",)),
        lambda b: (
            f"the ReLU after {_after(b)} passes its gradient through without its mask: "
            f"dL/dz = g ⊙ 1[z > 0] lost the ⊙ 1[z > 0] (layers below it are wrong only because of it)"
        ),
    ),
    Entry(
        "activation-derivative-at-preactivation",
        "backward",
        _each_hidden("activation-derivative-at-preactivation", only=("sigmoid", "tanh")),
        lambda b: (
            f"the derivative of the activation after {_after(b)} is taken at its input z, not its "
            f"output: written with the output (σ(1 − σ) or 1 − tanh²) but fed the pre-activation"
        ),
    ),
    Entry(
        "bias-gradient-not-summed",
        "backward",
        _each_layer("bias-gradient-not-summed", ("one row", "mean")),
        lambda b: (
            f"{affine_name(b.layer)}'s bias gradient is taken from {'one row' if b.variant == 'one row' else 'the mean'}"
            f" of the upstream gradient, not its sum over the batch: dL/db = Σ_n g[n]"
        ),
    ),
    Entry(
        "gradient-from-pre-activation",
        "backward",
        _subsets("gradient-from-pre-activation", first=2),
        lambda b: (
            f"{_named(b)}: dW is computed from the layer below's pre-activation z, not its activated output: "
            "dL/dW = gᵀ·relu(z) (the input the layer actually saw)"
        ),
    ),
    Entry(
        "softmax-axis",
        "backward",
        lambda layers, act: [Bug("softmax-axis", layers)],
        lambda b: (
            "the softmax of the loss is normalised over the batch (axis 0), not over the classes: "
            "p = exp(z) / Σ_classes exp(z), row by row (axis=1, keepdims=True)"
        ),
    ),
    Entry(
        "softmax-gradient-sign",
        "backward",
        lambda layers, act: [Bug("softmax-gradient-sign", layers)],
        lambda b: "the loss gradient has its sign flipped: dL/dlogits = (p − onehot)/N, you have (onehot − p)/N",
    ),
    # regularization (tried only when the run has --l2): ½·λ·ΣW² over the weights, gradient λ·W
    Entry(
        "reg-gradient-missing",
        "backward",
        lambda layers, act: [Bug("reg-gradient-missing")],
        lambda b: "the regularization's gradient λ·W is missing from every weight gradient",
        regularized=True,
    ),
    Entry(
        "reg-gradient-doubled",
        "backward",
        lambda layers, act: [Bug("reg-gradient-doubled")],
        lambda b: (
            "the regularization's gradient is twice the derivative of your loss's term: ½·λ·ΣW² has the "
            "gradient λ·W (the ½ dropped in the gradient, or the term's gradient added twice)"
        ),
        regularized=True,
    ),
    Entry(
        "reg-gradient-halved",
        "backward",
        lambda layers, act: [Bug("reg-gradient-halved")],
        lambda b: (
            "the regularization's gradient is half the derivative of your loss's term: a loss term λ·ΣW² "
            "has the gradient 2λ·W (or keep ½·λ·ΣW² in the loss)"
        ),
        regularized=True,
    ),
    Entry(
        "reg-layer-missing",
        "backward",
        _each_layer("reg-layer-missing"),
        lambda b: (
            f"{affine_name(b.layer)}'s weights are not regularized: λ·W is missing from its gradient (often the "
            "last layer, left out of the loop)"
        ),
        regularized=True,
    ),
    Entry(
        "reg-on-biases",
        "backward",
        lambda layers, act: [Bug("reg-on-biases")],
        lambda b: "the biases are regularized too (λ·b in their gradients): L2 covers the weights only",
        regularized=True,
    ),
]


def reenact(
    kind: str,
    params: dict[str, np.ndarray],
    activation: str,
    x: np.ndarray,
    y: np.ndarray,
    logits: np.ndarray,
    grads: dict[str, np.ndarray | None] | None,
    tol: float,
    l2: float = 0.0,
    l1: float = 0.0,
) -> dict | None:
    """The first catalogue entry of ``kind`` whose re-enactment reproduces the plug-in: its logits to
    ``tol`` (forward), or its logits and every gradient it gave (backward).  A forward entry also says
    whether the plug-in's gradients are those of that wrong forward (``backward_consistent``).  Where no one
    backward bug does, two planted together may (``two-bugs``: both named, each where it is)."""
    layers = affine_count(params)
    given = {k: g for k, g in (grads or {}).items() if g is not None}

    def reproduces(bug) -> tuple[bool, bool]:
        """(the logits, and every given gradient) of the reference with ``bug`` planted."""
        got = reference(params, activation, x, y, bug, l2=l2, l1=l1)
        if rel(logits, got.logits) > tol:
            return False, False
        return True, bool(given) and all(rel(g, got.grads[k]) <= tol for k, g in given.items())

    plantings = [
        (entry, bug)
        for entry in ENTRIES
        if entry.kind == kind and not (entry.regularized and not l2)
        for bug in entry.places(layers, activation)
    ]
    for entry, bug in plantings:
        forward_fits, fits = reproduces(bug)
        if not forward_fits or (kind == "backward" and not fits):
            continue
        out = describe(entry, bug)
        if kind == "forward":
            out["backward_consistent"] = fits
        return out
    if kind != "backward" or len(given) < 2:
        return None
    for n, (a, bug_a) in enumerate(plantings):  # two bugs at once
        for b, bug_b in plantings[n + 1 :]:
            if reproduces(Bugs((bug_a, bug_b))) == (True, True):
                parts = [describe(a, bug_a), describe(b, bug_b)]
                said = "; and ".join(
                    f"[{p['code']}{' at ' + p['layer'] if p.get('layer') else ''}] {p['message']}" for p in parts
                )
                return dict(
                    code="two-bugs",
                    bugs=parts,
                    message=f"two bugs at once, only both together reproduce every gradient: {said}",
                    by="re-enactment",
                )
    return None


def describe(entry: Entry, bug: Bug) -> dict:
    """A re-enacted entry as a diagnosis: its code and message, and where it sits."""
    out = dict(code=entry.code, message=entry.message(bug), by="re-enactment")
    if bug.layers:
        out["layers"] = [affine_name(k) for k in bug.layers]
        if len(bug.layers) == 1:
            out["layer"] = out["layers"][0]
    elif bug.layer == EVERY:
        out["layer"] = "every hidden layer"
    elif bug.layer and entry.code not in ("output-activation", "probabilities", "log-probabilities"):
        out["layer"] = affine_name(bug.layer)
    if bug.variant:
        out["variant"] = bug.variant
    return out


def handed_down(
    params: dict[str, np.ndarray], activation: str, x: np.ndarray, y: np.ndarray, grads: dict, layer: int, tol: float
) -> bool:
    """Whether the plug-in's gradients of ``layer`` are exactly what a correct backward makes of the
    gradient the layer above handed down - the check behind calling a failure ``upstream``.

    The gradient g reaching the layer above's pre-activation is read from the plug-in's own gradients of
    that layer (dW = gᵀ·a, db = Σ_n g: least squares, which must fit, and determine g uniquely); it is
    passed down through that layer's weights and the activation's derivative, and the weight and bias
    gradients it gives ``layer`` are compared with the plug-in's.  False whenever that cannot be shown."""
    above = layer + 1
    w_up, b_up = grads.get(affine_weight(above)), grads.get(affine_bias(above))
    mine_w, mine_b = grads.get(affine_weight(layer)), grads.get(affine_bias(layer))
    if any(g is None for g in (w_up, b_up, mine_w, mine_b)):
        return False
    cache = reference(params, activation, x, y).cache
    a_up = cache[above - 1][0]  # the input of the layer above: this layer's activated output
    m = np.hstack([a_up, np.ones((len(a_up), 1))])  # (N, in + 1)
    r = np.hstack([np.asarray(w_up, np.float64), np.asarray(b_up, np.float64).reshape(-1, 1)]).T  # (in + 1, out)
    if np.shape(r)[0] != m.shape[1] or np.linalg.matrix_rank(m) < len(m):
        return False  # g is not determined by what the layer above gave
    g, *_ = np.linalg.lstsq(m.T, r, rcond=None)  # (N, out): mᵀ·g = [dW | db]ᵀ
    if rel(m.T @ g, r) > tol:
        return False  # the layer above's gradients are no gᵀ·a at all
    a_in, z, h = cache[layer - 1]
    g = (g @ np.asarray(params[affine_weight(above)], np.float64)) * DERIVATIVE[activation](z, h)
    return rel(mine_w, g.T @ a_in) <= tol and rel(np.asarray(mine_b).reshape(-1), g.sum(axis=0)) <= tol


def forward_signature(logits: np.ndarray, ref_logits: np.ndarray, tol: float) -> dict | None:
    """Logits a constant multiple of the reference's (least squares), or None."""
    a, b = np.asarray(logits, dtype=np.float64), np.asarray(ref_logits, dtype=np.float64)
    bb = float(np.vdot(b, b))
    if bb == 0 or a.shape != b.shape:
        return None
    c = float(np.vdot(a, b)) / bb
    if c == 0 or abs(c - 1) <= 1e-12 or rel(a, c * b) > tol:
        return None
    return dict(
        code="scale",
        factor=c,
        message=f"your logits are {c:.6g} × the reference's: a constant factor "
        "in the forward (e.g. a temperature, or an input scaled twice)",
    )


# --- the learner's regularization convention ----------------------------------------------------
L2_CONVENTIONS = {1.0: "½·λ·ΣW² (gradient λ·W)", 2.0: "λ·ΣW² (gradient 2λ·W; CS231n's assignments from 2017)"}


def l2_convention(
    reported: float, logits, y, weights: list[np.ndarray], l2: float, l1: float, tol: float, loss: str = "cross-entropy"
) -> float | None:
    """The multiple of the run's ½·λ·ΣW² that the learner's own reported loss holds: 1.0 (½·λ·ΣW²) or 2.0
    (λ·ΣW²), read by subtracting the judge's loss of the learner's own outputs; None when it is neither
    (a wrong loss, diagnosed as such).  Both are correct when the gradient follows the same convention."""
    data = objective(logits, y, loss)
    squares = float(sum(np.sum(np.asarray(w, np.float64) ** 2) for w in weights))
    absolute = float(sum(np.sum(np.abs(np.asarray(w, np.float64))) for w in weights))
    for scale in L2_CONVENTIONS:
        expected = data + scale * 0.5 * l2 * squares + l1 * absolute
        if abs(reported - expected) <= tol * max(abs(reported), abs(expected), 1.0):
            return scale
    return None


def l2_layer_missing(
    reported: float, logits, y, weights: list[np.ndarray], l2: float, l1: float, tol: float, loss: str = "cross-entropy"
) -> tuple[float, int] | None:
    """(convention, layer) when the learner's reported loss is its data loss plus the L2 term of every
    layer but one (often the last, left out of the loop): the loss a notebook checks is wrong there."""
    data = objective(logits, y, loss)
    squares = [float(np.sum(np.asarray(w, np.float64) ** 2)) for w in weights]
    absolute = float(sum(np.sum(np.abs(np.asarray(w, np.float64))) for w in weights))
    for scale in L2_CONVENTIONS:
        for k, left_out in enumerate(squares, start=1):
            expected = data + scale * 0.5 * l2 * (sum(squares) - left_out) + l1 * absolute
            if abs(reported - expected) <= tol * max(abs(reported), abs(expected), 1.0):
                return scale, k
    return None


# --- the reported loss -------------------------------------------------------------------------
CLIPS = (1e-7, 1e-8, 1e-10, 1e-12, 1e-15)


def clipped_cross_entropy(logits: np.ndarray, y: np.ndarray, clip: float) -> float:
    p = np.clip(softmax(np.asarray(logits, dtype=np.float64)), clip, 1 - clip)
    return float(-np.log(p[np.arange(len(y)), y]).mean())


def loss_diagnosis(
    reported: float, logits: np.ndarray, y: np.ndarray, tol: float, penalty: float = 0.0, loss: str = "cross-entropy"
) -> dict | None:
    """How a reported loss differs from the run's loss of the plug-in's own outputs (cross-entropy of its
    logits, or MSE) plus the weight penalty; None when it is that (to ``tol``, relative)."""
    ce = objective(logits, y, loss)
    own = ce + penalty
    close = lambda v: abs(reported - v) <= tol * max(abs(reported), abs(v), TINY)
    if close(own):
        return None
    if penalty:
        for factor, how in ((0.0, "absent from"), (2.0, "twice (λ·ΣW², the ½ dropped) in"), (0.5, "half in")):
            if close(ce + factor * penalty):
                return dict(
                    code="reg-loss-gradient-inconsistent",
                    own=own,
                    message=(
                        f"the regularization term is {how} your reported loss, while the run's penalty is "
                        f"½·λ·ΣW² = {penalty:.6g}: the loss term and its gradient λ·W disagree"
                    ),
                )
    n = len(y)
    if n > 1 and close(n * own):
        return dict(
            code="loss-sum",
            own=own,
            message=f"your reported loss is {n} × (N) the mean cross-entropy "
            "of your logits: summed over the batch where the mean belongs",
        )
    if loss == "mse" and close(logits.shape[1] / 2 * ce + penalty):
        return dict(
            code="loss-half-sum",
            own=own,
            message=f"your reported loss is ½·Σ over the classes (Nielsen's "
            f"quadratic cost), {logits.shape[1] / 2:g} × torch's MSELoss, which means over them too",
        )
    for clip in CLIPS if loss == "cross-entropy" else ():
        if close(clipped_cross_entropy(logits, y, clip)):
            return dict(
                code="loss-clipped",
                clip=clip,
                own=own,
                message=(
                    f"your reported loss clips the probabilities to [{clip:g}, 1 − {clip:g}] before the log; "
                    "the cross-entropy of your logits is not clipped"
                ),
            )
    return dict(
        code="loss-other",
        own=own,
        message=f"your reported loss {reported:.10g} is not the run's "
        f"{loss} of your own outputs ({own:.10g}) nor a known variant of it",
    )
