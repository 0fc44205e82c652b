"""A learner's own random draws, made the judge's: while its forward runs, NumPy's global draws
(``np.random.rand``, ``random_sample``, ``random``, ``uniform``, and ``binomial(1, p)``) return numbers the
judge chose, so a dropout mask drawn the handouts' way (``np.random.rand(*x.shape) < p``) or the nnfs book's
(``np.random.binomial(1, keep, shape)``) is the mask the judge hands to the reference too.  ``np.random.seed`` (CS231n's ``dropout_param['seed']``) does nothing meanwhile: the numbers are the
judge's either way.  Draws of another kind (``np.random.binomial``, a ``Generator``) are not taken over: the
mask is then unknown, and the judge says so instead of judging against masks it never saw."""

from __future__ import annotations

import numpy as np

from compare.plugins.protocol import PluginError

# how a uniform draw u becomes a kept unit: "below" keep (the 2018+ handouts: rand < p with p the keep
# probability), or "at or above" the drop probability (2016-17's: rand >= p with p the drop probability)
RULES = ("below keep", "above drop")


def uniforms(keep_mask: np.ndarray, keep: float, rule: str) -> np.ndarray:
    """Uniform numbers that the learner's ``rule`` turns into ``keep_mask`` (each far from the threshold)."""
    if rule == "below keep":
        return np.where(keep_mask, keep * 0.5, keep + (1 - keep) * 0.5)
    drop = 1 - keep
    return np.where(keep_mask, drop + keep * 0.5, drop * 0.5)


class JudgedDraws:
    """``with JudgedDraws(label, arrays):`` the learner's next draws return ``arrays`` in order; each draw must
    ask for the shape of the next one.  ``check()`` after the learner's call says, in one line, when it drew
    otherwise (no draw, another shape, more draws), so no mask is ever guessed."""

    NAMES = ("rand", "random_sample", "random", "uniform", "binomial", "seed")

    def __init__(self, label: str, arrays: list[np.ndarray], what: str = "dropout"):
        self.label, self.arrays, self.what = label, list(arrays), what
        self.drawn: list[tuple[int, ...]] = []
        self.saved: dict = {}

    def _next(self, shape) -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        self.drawn.append(shape)
        k = len(self.drawn) - 1
        if k >= len(self.arrays) or self.arrays[k].shape != shape:
            return np.random.default_rng(k).random(shape)  # not a mask the judge knows: check() refuses it
        return self.arrays[k].copy()

    def __enter__(self):
        r = np.random
        self.saved = {n: getattr(r, n) for n in self.NAMES}

        def rand(*shape):
            return self._next(shape)

        def sample(size=None):
            shape = () if size is None else ((size,) if np.isscalar(size) else tuple(size))
            return self._next(shape)

        def uniform(low=0.0, high=1.0, size=None):
            return low + (high - low) * sample(size)

        def binomial(n, p, size=None):  # the nnfs book's mask: binomial(1, keep, shape), 1 where kept
            if n != 1:
                raise PluginError(f"{self.label}: np.random.binomial({n}, …) is not a dropout mask the judge can give")
            return (sample(size) < p).astype(np.int64)

        r.rand, r.random_sample, r.random, r.uniform, r.binomial = rand, sample, sample, uniform, binomial
        r.seed = lambda *a, **k: None
        return self

    def __exit__(self, *exc):
        for name, fn in self.saved.items():
            setattr(np.random, name, fn)
        return False

    def check(self) -> None:
        wanted = [a.shape for a in self.arrays]
        if self.drawn == wanted:
            return
        if not self.drawn:
            how = "drew no np.random.rand/random_sample/uniform/binomial numbers"
        elif len(self.drawn) != len(wanted):
            how = f"drew {len(self.drawn)} array(s) of np.random.rand numbers where the net has {len(wanted)} dropout layer(s)"
        else:
            k = next(i for i, (a, b) in enumerate(zip(self.drawn, wanted)) if a != b)
            how = f"drew an array of shape {self.drawn[k]} where dropout layer {k + 1}'s input is {wanted[k]}"
        raise PluginError(
            f"{self.label}: its {self.what} masks cannot be recovered: its forward {how}; the judge gives both "
            "sides the same masks through np.random.rand(*x.shape) or np.random.binomial(1, keep, x.shape) (the handouts' "
            "and the nnfs book's draws) - draw the mask that way, or run without --dropout"
        )
