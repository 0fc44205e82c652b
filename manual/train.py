"""One training step and an evaluation pass of the hand-written twin.

The epoch loop (batch order, logging, checkpoints) is the harness's, shared by both twins;
this module holds what differs: how a step computes and applies the gradients.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from manual.layers import CrossEntropyLoss, ReLU, WeightPenalty
from manual.model import SimpleNet
from manual.optim import Optimizer


def forward_backward(
    model: SimpleNet,
    loss_fn: CrossEntropyLoss,
    x: np.ndarray,
    y: np.ndarray,
    weight: float = 1.0,
    penalty: WeightPenalty | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward of one batch, every ``p.grad`` set; returns (loss, logits).  The judge drives
    our twin through this (``compare.plugins.conventions.ours``); ``train_step`` adds the update.

    ``weight`` scales the loss that is differentiated, as in ``torch_impl.train``; ``penalty`` (L2/L1 of
    the weights) is part of the loss."""
    model.zero_grad()
    logits = model(x)
    loss = loss_fn.forward(logits, y)  # forward(logits, y): a plug-in's own criterion need not be callable
    grad_logits = loss_fn.backward()
    # d(w·L)/dz = w · dL/dz                              (N, C)
    grad_logits *= weight
    model.backward(grad_logits)
    if penalty:
        weights = [layer.weight.data for layer in model.layers]
        loss = loss + penalty.forward(weights)
        for layer, g in zip(model.layers, penalty.backward(weights)):
            # d(w·(L + P))/dW = w·dL/dW + w·dP/dW           (O, I)
            layer.weight.grad += weight * g
    return loss, logits


def train_step(
    model: SimpleNet,
    loss_fn: CrossEntropyLoss,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    weight: float = 1.0,
    penalty: WeightPenalty | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Forward, backward (``forward_backward``), update; returns (loss, number correct) of the batch
    before the update."""
    optimizer.zero_grad()
    loss, logits = forward_backward(model, loss_fn, x, y, weight, penalty)
    optimizer.step()
    return loss, np.count_nonzero(logits.argmax(axis=1) == y)


def evaluate(
    model: SimpleNet,
    loss_fn: CrossEntropyLoss,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int = 10000,
    relus: Sequence[ReLU] = (),
) -> tuple[float, float, np.ndarray, np.ndarray, list[float]]:
    """(mean loss, accuracy, predicted class, its softmax probability, dead ReLU fractions) over (x, y),
    in large batches.

    ``relus`` are the ReLU layers the model's forward runs through (our SimpleNet's ``acts``): their
    masks after the first batch give ``dead_relu_fraction`` of that batch without a second pass."""
    total_loss, correct, dead = 0.0, 0, []
    pred, confidence = np.empty(len(x), dtype=np.int64), np.empty(len(x), dtype=np.float64)
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        logits = model(xb)
        if start == 0:
            dead = [1.0 - float(act.mask.any(axis=0).mean()) for act in relus]
        total_loss += float(loss_fn(logits, yb)) * len(xb)
        pred[start : start + len(xb)] = logits.argmax(axis=1)
        confidence[start : start + len(xb)] = loss_fn.probs.max(axis=1)
        correct += int(np.count_nonzero(pred[start : start + len(xb)] == yb))
    return total_loss / len(x), correct / len(x), pred, confidence, dead


def dead_relu_fraction(model: SimpleNet, x: np.ndarray) -> list[float]:
    """Per ReLU layer, the fraction of units that output 0 for every row of ``x`` (the model's own forward, in
    evaluation mode)."""
    training = model.training
    model.eval()  # running statistics, no dropout
    try:
        model(x)
    finally:
        model.train(training)
    return [1.0 - float(act.mask.any(axis=0).mean()) for act in model.acts if isinstance(act, ReLU)]
