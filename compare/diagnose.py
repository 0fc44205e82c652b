"""Where a wrong gradient comes from: the signatures of the classic backprop bugs.

For a parameter whose gradient ``a`` (the plug-in's, torch layout) fails against autograd's ``b``,
the first signature that fits *to the dtype's tolerance* is reported; nothing is said of a
parameter that passed, and a gradient that fits no signature is ``unexplained``:

* ``missing``           no gradient at all (None, absent, or all zeros where autograd's is not);
* ``shape``             a gradient of another shape (both shapes named);
* ``transposed``        ``a.T`` is autograd's gradient (xᵀ·g where gᵀ·x belongs);
* ``batch-sum``         a = N·b: the loss is summed over the batch, not averaged;
* ``batch-mean-twice``  a = b/N: divided by the batch size twice;
* ``sign``              a = −b;
* ``scale``             a = c·b for another constant c (given);
* ``upstream``          a layer nearer the output is already wrong and this one fits no signature
                        of its own: the bug entered at that layer (named), not here.

The constant is the least-squares fit c = ⟨a, b⟩ / ⟨b, b⟩; it fits when max|a − c·b| is within the
tolerance relative to the tensors' scale, the same measure as the verdict itself.
"""

from __future__ import annotations

import re

import numpy as np

from compare.architecture import affine_name
from compare.numerics import rel

FACTOR_RTOL = 1e-4  # how close c must be to N, 1/N or −1 to be named as such


def layer_of(name: str) -> int:
    m = re.match(r"layer(\d+)\.", name)
    return int(m.group(1)) if m else 0


def signature(
    a: np.ndarray | None,
    b: np.ndarray,
    n: int,
    tol: float,
    native: str,
    native_shape: tuple[int, ...],
    shown_shape: tuple[int, ...] | None,
) -> dict | None:
    """The signature ``a`` (plug-in) bears against ``b`` (autograd), or None if it fits none."""
    if a is None:
        return dict(code="missing", message=f"no gradient for {native}: the backward never set it")
    if a.shape != b.shape:
        if a.ndim == 2 and a.T.shape == b.shape and rel(a.T, b) <= tol:
            return dict(
                code="transposed",
                message=f"gradient of {native} is transposed: shape "
                f"{shown_shape} where the parameter is {native_shape} (xᵀ·g and gᵀ·x swapped)",
            )
        return dict(
            code="shape",
            message=f"gradient of {native} has shape {shown_shape}, the parameter is {native_shape}",
            plugin_shape=list(shown_shape or a.shape),
            expected_shape=list(native_shape),
        )
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    bb = float(np.vdot(b64, b64))
    if bb > 0 and not np.any(a64):
        return dict(code="missing", message=f"gradient of {native} is all zeros: the backward never wrote it")
    if a.ndim == 2 and a.shape[0] == a.shape[1] and rel(a64.T, b64) <= tol:
        return dict(code="transposed", message=f"gradient of {native} is transposed (xᵀ·g and gᵀ·x swapped)")
    if bb == 0:
        return None
    c = float(np.vdot(a64, b64)) / bb
    if c == 0 or rel(a64, c * b64) > tol:
        return None
    near = lambda target: abs(c / target - 1) <= FACTOR_RTOL
    if n > 1 and near(n):
        return dict(
            code="batch-sum",
            factor=c,
            message=f"{native} = {n} × autograd (N = {n}, the batch size): "
            "summed over the batch where the mean loss divides by N (all parameters so: dL/dlogits lacks its 1/N)",
        )
    if n > 1 and near(1 / n):
        return dict(
            code="batch-mean-twice",
            factor=c,
            message=f"{native} = autograd / {n} (N = {n}): divided by "
            "the batch size twice - e.g. a mean over the batch where Σ_n belongs, after the loss "
            "gradient was already divided by N",
        )
    if near(-1):
        return dict(
            code="sign",
            factor=c,
            message=f"{native} = −autograd: the sign is flipped (onehot − p for p − onehot, or a minus dropped)",
        )
    return dict(code="scale", factor=c, message=f"{native} = {c:.6g} × autograd: off by a constant factor")


def diagnose(
    checks, plugin: dict, autograd: dict, *, n: int, tol: float, slots: dict, native_shapes: dict | None = None
) -> None:
    """Set ``check.diagnosis`` on every failing check (``checks`` hold name, passed, diagnosis).

    ``slots`` maps torch names to the plug-in's (name, shape, layout) for messages, ``native_shapes``
    the shapes of the gradients as the plug-in gave them."""
    failing = [c for c in checks if not c.passed]
    if not failing:
        return
    for c in failing:
        slot = slots[c.name]
        a = plugin.get(c.name)
        shown = None if a is None else (native_shapes or {}).get(c.name, a.shape)
        c.diagnosis = signature(a, autograd[c.name], n, tol, slot.native, slot.native_shape, shown)
    entered = max(layer_of(c.name) for c in failing)
    for c in failing:
        if c.diagnosis is not None:
            continue
        k = layer_of(c.name)
        if k < entered:
            c.diagnosis = dict(
                code="upstream",
                entered_at=affine_name(entered),
                message=(
                    f"wrong only because {affine_name(entered)} (nearer the output) is already wrong: the bug entered at "
                    f"{affine_name(entered)} - fix that first"
                ),
            )
        else:
            c.diagnosis = dict(
                code="unexplained",
                entered_at=affine_name(k),
                message=(
                    f"no known signature fits; the first wrong layer counted from the output is {affine_name(k)}, so the bug "
                    f"entered here: {affine_name(k)}'s own backward, or the gradient it receives (the activation after it, "
                    f"or {affine_name(k + 1)}'s input gradient)"
                    if k < max(map(layer_of, slots))
                    else f"no known signature fits; the first wrong layer counted from the output is {affine_name(k)} (the output "
                    "layer): its backward, or the gradient of the loss (p − onehot)/N"
                ),
            )


def worst_elements(a: np.ndarray, b: np.ndarray, slot, count: int = 3) -> list[dict]:
    """The ``count`` entries where plug-in and autograd differ most, with both indices and values."""
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    order = np.argsort(diff, axis=None)[::-1][:count]
    out = []
    for flat in order:
        idx = tuple(int(i) for i in np.unravel_index(int(flat), a.shape))
        out.append(
            dict(
                index=list(idx), native_index=list(slot.native_index(idx)), plugin=float(a[idx]), autograd=float(b[idx])
            )
        )
    return out
