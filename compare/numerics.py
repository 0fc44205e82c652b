"""The one relative error every check uses: max |a − b| relative to the larger magnitude of the two, and
inf for arrays of other shapes or holding any NaN or inf (a non-finite number is never within a tolerance)."""

from __future__ import annotations

import math

import numpy as np

TINY = 1e-300  # the scale of two all-zero arrays: their difference, 0, is then 0 relative


def rel(a, b) -> float:
    try:
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return math.inf
    if a.shape != b.shape or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.inf
    scale = max(float(np.abs(a).max(initial=0.0)), float(np.abs(b).max(initial=0.0)), TINY)
    return float(np.abs(a - b).max(initial=0.0)) / scale
