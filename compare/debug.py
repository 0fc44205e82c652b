"""The seeds' debugging routine as library functions: overfit one batch, sweep the learning rate."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compare.architecture.dropout import step_masks
from compare.runner import epoch_permutation


@dataclass
class OverfitResult:
    impl: str
    reached: bool
    step: int | None  # the first step whose batch loss was below the target
    final_loss: float
    steps_run: int
    reason: str = ""
    losses: list[float] = field(default_factory=list)


def overfit(
    twins, *, seed: int, batch_size: int, max_steps: int = 1000, target: float = 1e-3, check_every: int = 10
) -> dict[str, OverfitResult]:
    """Train each twin on ONE fixed batch (the first ``batch_size`` images of epoch 0's order)
    until its loss drops below ``target``; a net that cannot, within ``max_steps``, has broken pipes."""
    n = len(twins[0].y_train)
    perm = epoch_permutation(seed, 0, n)
    hi = min(batch_size, n)
    results: dict[str, OverfitResult] = {}
    running = list(twins)
    for t in twins:
        t.begin_epoch(perm, max_steps)
    checked = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # non-finite losses are reported
        for s in range(max_steps):
            masks = step_masks(twins[0].cfg.spec, seed, 0, s, hi)  # dropout's, the same for every twin
            for t in running:
                t.step(s, 0, hi, masks)
            if (s + 1) % check_every and s + 1 < max_steps:
                continue
            for t in list(running):
                losses, history = t.host_losses(checked, s + 1), t.host_losses(0, s + 1).tolist()
                bad, below = np.flatnonzero(~np.isfinite(losses)), np.flatnonzero(losses < target)
                if bad.size:
                    results[t.name] = OverfitResult(
                        t.name,
                        False,
                        None,
                        float(losses[bad[0]]),
                        checked + int(bad[0]) + 1,
                        "the loss became non-finite",
                        history,
                    )
                elif below.size:
                    results[t.name] = OverfitResult(
                        t.name, True, checked + int(below[0]) + 1, float(losses[below[0]]), s + 1, "", history
                    )
                else:
                    continue
                running.remove(t)
            checked = s + 1
            if not running:
                break
    for t in running:
        history = t.host_losses(0, max_steps).tolist()
        results[t.name] = OverfitResult(
            t.name,
            False,
            None,
            history[-1],
            max_steps,
            f"loss still {history[-1]:.3g} after {max_steps} steps",
            history,
        )
    return {t.name: results[t.name] for t in twins}


def sweep_verdict(first_loss: float, final_loss: float | None, diverged: bool, best_loss: float | None) -> str:
    """What a learning-rate sweep row says: diverged, barely moved, slow (vs the best run) or learns."""
    if diverged or final_loss is None or not np.isfinite(final_loss) or final_loss >= first_loss:
        return "diverged"
    if final_loss > 0.5 * first_loss:
        return "barely moved"
    if best_loss is not None and final_loss > 2 * best_loss:
        return "slow"
    return "learns"
