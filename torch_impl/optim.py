"""Optimizers and learning-rate schedules of the autograd twin: torch.optim's own.

Built by the same two functions, with the same names and arguments, as ``manual/optim.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, LRScheduler, StepLR

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "RMSprop",
    "ConstantLR",
    "CosineAnnealingLR",
    "LRScheduler",
    "Optimizer",
    "StepLR",
    "OPTIMIZERS",
    "make_optimizer",
    "make_scheduler",
]


@dataclass(frozen=True)
class Registered:
    """An optimizer of this twin: torch.optim's class, the hyper-parameters it takes (TrainConfig's names)
    besides the learning rate, and the kernel it runs with.  Fused - one call per step instead of a loop
    over the parameters - on every device (torch has one for CPU, CUDA and MPS); the update rule is the
    same.  RMSprop has no fused kernel and Adagrad's is CPU-only, so both run torch's single-tensor
    loop (``foreach=False``) on every device: one setting, never one picked per device."""

    cls: type
    takes: tuple[str, ...]
    kernel: dict


ADAM_TAKES = ("betas", "eps", "weight_decay", "amsgrad")
OPTIMIZERS = {  # mirrored name by name in manual/optim.py
    "sgd": Registered(SGD, ("momentum", "dampening", "weight_decay", "nesterov"), dict(fused=True)),
    "adam": Registered(Adam, ADAM_TAKES, dict(fused=True)),
    "adamw": Registered(AdamW, ADAM_TAKES, dict(fused=True)),
    "rmsprop": Registered(RMSprop, ("alpha", "eps", "weight_decay", "momentum", "centered"), dict(foreach=False)),
    "adagrad": Registered(
        Adagrad, ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"), dict(foreach=False)
    ),
}


def make_optimizer(name: str, params, *, lr, **hyper) -> Optimizer:
    """torch.optim's optimizer ``name`` with the hyper-parameters it takes among ``hyper`` (the rest are
    other optimizers'), with its registered kernel."""
    entry = OPTIMIZERS[name]
    return entry.cls(params, lr=lr, **{k: v for k, v in hyper.items() if k in entry.takes}, **entry.kernel)


def make_scheduler(
    name: str, optimizer: Optimizer, *, epochs: int, step_size: int = 5, gamma: float = 0.1
) -> LRScheduler:
    if name == "step":
        return StepLR(optimizer, step_size=step_size, gamma=gamma)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    return ConstantLR(optimizer, factor=1.0, total_iters=0)
