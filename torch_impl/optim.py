"""Optimizers and learning-rate schedules of the autograd twin: torch.optim's own.

Built by the same two functions, with the same names and arguments, as ``manual/optim.py``.
"""
from __future__ import annotations

from torch.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, LRScheduler, StepLR

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "RMSprop", "ConstantLR", "CosineAnnealingLR", "LRScheduler", "Optimizer", "StepLR",
           "make_optimizer", "make_scheduler"]


def make_optimizer(name: str, params, *, lr, momentum=0.0, dampening=0.0, nesterov=False,
                   weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8, amsgrad=False, alpha=0.99, centered=False,
                   lr_decay=0.0, initial_accumulator_value=0.0) -> Optimizer:
    """torch.optim's optimizer with its fused kernel - one call per step instead of a loop over the
    parameters - on every device (torch has one for CPU, CUDA and MPS); the update rule is the same.
    RMSprop has no fused kernel and Adagrad's is CPU-only, so both run torch's single-tensor loop
    (``foreach=False``) on every device: one setting, never one picked per device."""
    if name == "sgd":
        return SGD(params, lr=lr, momentum=momentum, dampening=dampening,
                   weight_decay=weight_decay, nesterov=nesterov, fused=True)
    if name == "rmsprop":
        return RMSprop(params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                       centered=centered, foreach=False)
    if name == "adagrad":
        return Adagrad(params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                       initial_accumulator_value=initial_accumulator_value, eps=eps, foreach=False)
    cls = {"adam": Adam, "adamw": AdamW}[name]
    return cls(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, fused=True)


def make_scheduler(name: str, optimizer: Optimizer, *, epochs: int, step_size: int = 5,
                   gamma: float = 0.1) -> LRScheduler:
    if name == "step":
        return StepLR(optimizer, step_size=step_size, gamma=gamma)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    return ConstantLR(optimizer, factor=1.0, total_iters=0)
