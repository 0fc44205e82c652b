"""The reference follows a learner's correct conventions, found at the start of a run: the L2 term's ½ (or
none, CS231n's reg·ΣW²) read from its reported loss, and a batchnorm's biased running variance (CS231n's
handout).  A convention is never a bug: the torch twin computes what the learner's code rightly computes."""

from __future__ import annotations

import numpy as np

import manual
from compare import catalogue
from compare.config import TrainConfig


def running_variance(twins, cfg: TrainConfig) -> None:
    """A learner's batchnorm keeping the batch's biased running variance (CS231n's handout): the torch twin's
    follows it, so evaluation compares like with like (``compare.architecture.proof.follow_biased_variance``)."""
    hand = next((t for t in twins if t.name == "manual"), None)
    if hand is not None and getattr(hand.model, "running_var_biased", False):
        from compare.architecture.proof import follow_biased_variance

        for t in twins:
            if t.name == "torch":
                follow_biased_variance(cfg.spec, t.model)


def l2_convention(twins, cfg: TrainConfig) -> None:
    """A hand-written side with its own L2 code may write ½·λ·ΣW² or λ·ΣW² (both correct): read which from
    its reported loss on the first batch, at the initial weights, and give the judged loss and the torch
    twin the same term (as gradcheck does), so a correct full-convention net trains in lockstep."""
    from compare.architecture.dropout import draw_masks
    from compare.verdicts import GRADCHECK

    hand = next((t for t in twins if t.name == "manual"), None)
    if hand is None or not cfg.l2 or not getattr(hand.model, "owns_l2", False):
        return
    x, y = hand.x_train[: cfg.batch_size], hand.y_train[: cfg.batch_size]
    # the running statistics put back after; one set of dropout masks for the forward (and the reference's)
    buffers, masks = hand.model.buffers(), draw_masks(cfg.spec, len(x), np.random.default_rng((cfg.seed, 0xF011)))
    hand.model.feed_masks(masks)
    loss, logits, _, _ = hand.model.raw_gradients(x, y)
    theirs = next((t for t in twins if t.name == "torch"), None)
    if logits is None and cfg.spec.stochastic and not getattr(hand.model, "train_logits", True):
        if theirs is None:  # no training-mode scores to read its data loss against: the ½ convention stands
            return
        from compare.architecture.proof import train_logits

        logits = train_logits(theirs.model, np.asarray(x, dtype=np.float64).astype(x.dtype), masks)
    elif logits is None:
        hand.model.feed_masks(masks)
        logits = hand.model.forward(x)
    if buffers:
        hand.model.load_buffers(buffers)
    weights = [hand.model.params[n].data for n in hand.model.weight_names]
    scale = catalogue.l2_convention(loss, logits, y, weights, cfg.l2, cfg.l1, GRADCHECK[cfg.dtype], cfg.spec.loss)
    hand.model.l2_convention = catalogue.L2_CONVENTIONS[scale or 1.0]
    if scale == 2.0:
        hand.model.run_penalty = manual.WeightPenalty(2 * cfg.l2, cfg.l1)
        for t in twins:
            if t.name == "torch":
                import torch_impl

                t.penalty = torch_impl.WeightPenalty(2 * cfg.l2, cfg.l1)
