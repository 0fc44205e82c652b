"""One training step and an evaluation pass of the autograd twin.

The epoch loop (batch order, logging, checkpoints) is the harness's, shared by both twins;
this module holds what differs: how a step computes and applies the gradients.
Nothing here reads a value back to the host, so a GPU step never waits for the CPU.
"""

from __future__ import annotations

from typing import Sequence

import torch

from torch_impl.layers import CrossEntropyLoss, ReLU, WeightPenalty
from torch_impl.model import SimpleNet
from torch_impl.optim import Optimizer


def forward_backward(
    model: SimpleNet,
    loss_fn: CrossEntropyLoss,
    x: torch.Tensor,
    y: torch.Tensor,
    weight: float = 1.0,
    penalty: WeightPenalty | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward of one batch, every ``p.grad`` set by autograd; returns (loss, logits),
    detached.  ``train_step`` adds the update.

    ``weight`` scales the loss that is differentiated (a DistributedDataParallel shard's share, see
    ``compare.distributed``); an empty shard still joins DDP's gradient all-reduce, with zeros.
    ``penalty`` (L2/L1 of the weights) is part of the loss."""
    model.zero_grad()
    logits = model(x)
    loss = loss_fn(logits, y) if len(y) else logits.sum()
    if penalty and len(y):
        module = getattr(model, "module", model)  # the weights of the module DDP wraps
        loss = loss + penalty([layer.weight for layer in module.layers])
    (loss * weight if len(y) else loss * 0.0).backward()
    return loss.detach(), logits.detach()


def train_step(
    model: SimpleNet,
    loss_fn: CrossEntropyLoss,
    optimizer: Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    weight: float = 1.0,
    penalty: WeightPenalty | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, backward (``forward_backward``), update; returns (loss, number correct) of the batch
    before the update."""
    optimizer.zero_grad()
    loss, logits = forward_backward(model, loss_fn, x, y, weight, penalty)
    optimizer.step()
    return loss, (logits.argmax(dim=1) == y).sum()


@torch.no_grad()
def evaluate(
    model: SimpleNet,
    loss_fn: CrossEntropyLoss,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 10000,
    relus: Sequence[ReLU] = (),
) -> tuple[float, float, torch.Tensor, torch.Tensor, list[float]]:
    """(mean loss, accuracy, predicted class, its softmax probability, dead ReLU fractions) over (x, y),
    in large batches; one read-back at the end.

    ``relus`` are the ReLU modules the model's forward runs through (``model.acts``): forward hooks on
    them during the first batch give ``dead_relu_fraction`` of that batch without a second pass."""
    total_loss = torch.zeros((), dtype=torch.float64, device=x.device)
    pred = torch.empty(len(x), dtype=torch.int64, device=x.device)
    confidence = torch.empty(len(x), dtype=torch.float64, device=x.device)
    alive = []
    hooks = [
        act.register_forward_hook(lambda m, i, out: alive.append((out > 0).any(dim=0).double().mean())) for act in relus
    ]
    training = model.training
    model.eval()  # running statistics, no dropout
    try:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            try:
                logits = model(xb)
            finally:
                for hook in hooks:  # the first batch only
                    hook.remove()
                hooks = []
            total_loss += loss_fn(logits, yb).double() * len(xb)
            scores = torch.softmax(logits, dim=1) if isinstance(loss_fn, CrossEntropyLoss) else logits  # probabilities
            top = scores.max(dim=1)
            pred[start : start + len(xb)], confidence[start : start + len(xb)] = top.indices, top.values
    finally:
        model.train(training)
    correct = torch.count_nonzero(pred == y)
    return total_loss.item() / len(x), correct.item() / len(x), pred, confidence, [1.0 - float(f) for f in alive]


@torch.no_grad()
def dead_relu_fraction(model: SimpleNet, x: torch.Tensor) -> list[float]:
    """Per ReLU layer, the fraction of units that output 0 for every row of ``x`` (the model's own forward, in
    evaluation mode)."""
    alive = []
    hooks = [
        act.register_forward_hook(lambda m, i, out: alive.append((out > 0).any(dim=0).double().mean()))
        for act in model.acts
        if isinstance(act, ReLU)
    ]
    training = model.training
    model.eval()  # running statistics, no dropout
    try:
        model(x)
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
    return [1.0 - float(f) for f in alive]
