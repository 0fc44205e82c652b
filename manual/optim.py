"""Optimizers and learning-rate schedules in NumPy, mirroring ``torch.optim`` line by line.

Class names, argument names, ``param_groups``, ``state`` and the update order follow
torch's single-tensor (``foreach=False``) implementations, so that from one state and one
gradient stream both twins produce the same parameters (to rounding: torch fuses
``p + α·g`` into one FMA on CPU, NumPy rounds twice).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from manual.layers import Parameter


class Optimizer:
    def __init__(self, params: Iterable[Parameter], defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups = [dict(defaults, params=list(params))]
        self.state: dict[int, dict] = {}  # index of the parameter → its buffers

    def zero_grad(self) -> None:
        for p in self.param_groups[0]["params"]:
            p.grad = None

    def _params_with_grad(self):
        for i, p in enumerate(self.param_groups[0]["params"]):
            if p.grad is not None:
                yield i, p, self.state.setdefault(i, {})

    def state_dict(self) -> dict:
        """Buffers as arrays keyed ``"<index>.<buffer>"``, hyper-parameters as plain numbers."""
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        buffers = {f"{i}.{k}": np.asarray(v) for i, s in self.state.items() for k, v in s.items()}
        return {"param_group": group, "state": buffers}

    def load_state_dict(self, state: dict) -> None:
        self.param_groups[0].update(state["param_group"])
        self.state = {}
        for key, value in state["state"].items():
            i, name = key.split(".", 1)
            value = np.array(value)
            self.state.setdefault(int(i), {})[name] = int(value) if name == "step" else value


class SGD(Optimizer):
    """torch.optim.SGD: momentum, dampening, Nesterov, weight decay (L2 added to the gradient)."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        super().__init__(
            params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        )

    def step(self) -> None:
        group = self.param_groups[0]
        lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
        wd, nesterov = group["weight_decay"], group["nesterov"]
        for _, p, state in self._params_with_grad():
            # g ← ∇θ + λθ
            g = p.grad + wd * p.data if wd else p.grad
            if mu:
                buf = state.get("momentum_buffer")
                if buf is None:
                    # b₁ ← g
                    buf = state["momentum_buffer"] = g.copy()
                else:
                    # b_t ← μ·b_{t−1} + (1 − τ)·g          (τ = 0: 1·g is g exactly, no temporary)
                    buf *= mu
                    buf += (1 - tau) * g if tau else g
                # g ← g + μ·b (Nesterov) or g ← b
                g = g + mu * buf if nesterov else buf
            # θ ← θ − lr·g
            p.data -= lr * g


class Adam(Optimizer):
    """torch.optim.Adam (L2 weight decay added to the gradient, optional AMSGrad)."""

    decoupled = False

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    def step(self) -> None:
        group = self.param_groups[0]
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        wd, amsgrad = group["weight_decay"], group["amsgrad"]
        for _, p, state in self._params_with_grad():
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(p.data)
                state["exp_avg_sq"] = np.zeros_like(p.data)
                if amsgrad:
                    state["max_exp_avg_sq"] = np.zeros_like(p.data)
            state["step"] += 1
            t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]
            g = p.grad
            if self.decoupled:
                # θ ← θ·(1 − lr·λ)          (AdamW: decay the weights, not the gradient)
                p.data *= 1 - lr * wd
            elif wd:
                # g ← ∇θ + λθ
                g = g + wd * p.data
            # m ← m + (1 − β₁)(g − m)      (= β₁m + (1 − β₁)g, torch's lerp)
            m += (1 - beta1) * (g - m)
            # v ← β₂v + (1 − β₂)g²
            v *= beta2
            v += (1 - beta2) * g * g
            bias_correction1 = 1 - beta1**t
            bias_correction2_sqrt = math.sqrt(1 - beta2**t)
            if amsgrad:
                # v̂ ← max(v̂, v)
                np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                v = state["max_exp_avg_sq"]
            # θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
            denom = np.sqrt(v) / bias_correction2_sqrt + eps
            p.data -= (lr / bias_correction1) * (m / denom)


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2, as torch)."""

    decoupled = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


class RMSprop(Optimizer):
    """torch.optim.RMSprop: a running mean of g² (optionally centered), momentum, L2 weight decay."""

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ):
        super().__init__(
            params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)
        )

    def step(self) -> None:
        group = self.param_groups[0]
        lr, alpha, eps, wd = group["lr"], group["alpha"], group["eps"], group["weight_decay"]
        mu, centered = group["momentum"], group["centered"]
        for _, p, state in self._params_with_grad():
            if not state:
                state["step"] = 0
                state["square_avg"] = np.zeros_like(p.data)
                if mu > 0:
                    state["momentum_buffer"] = np.zeros_like(p.data)
                if centered:
                    state["grad_avg"] = np.zeros_like(p.data)
            state["step"] += 1
            # g ← ∇θ + λθ
            g = p.grad + wd * p.data if wd else p.grad
            v = state["square_avg"]
            # v ← α·v + (1 − α)·g²
            v *= alpha
            v += (1 - alpha) * g * g
            if centered:
                # ḡ ← ḡ + (1 − α)(g − ḡ)           (torch's lerp)
                state["grad_avg"] += (1 - alpha) * (g - state["grad_avg"])
                # d ← √(v − ḡ²) + ε
                avg = np.sqrt(v - state["grad_avg"] * state["grad_avg"]) + eps
            else:
                # d ← √v + ε                         (ε outside the square root)
                avg = np.sqrt(v) + eps
            if mu > 0:
                buf = state["momentum_buffer"]
                # b ← μ·b + g / d
                buf *= mu
                buf += g / avg
                # θ ← θ − lr·b
                p.data -= lr * buf
            else:
                # θ ← θ − lr·g / d
                p.data -= lr * (g / avg)


class Adagrad(Optimizer):
    """torch.optim.Adagrad: the sum of every g² so far, a decaying learning rate, L2 weight decay."""

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
            ),
        )
        for p in self.param_groups[0]["params"]:  # torch makes the state at construction
            self.state[len(self.state)] = {"step": 0, "sum": np.full_like(p.data, initial_accumulator_value)}

    def step(self) -> None:
        group = self.param_groups[0]
        lr, lr_decay, wd, eps = group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]
        for _, p, state in self._params_with_grad():
            state["step"] += 1
            # g ← ∇θ + λθ
            g = p.grad + wd * p.data if wd else p.grad
            # lr_t = lr / (1 + (t − 1)·lr_decay)
            clr = lr / (1 + (state["step"] - 1) * lr_decay)
            # s ← s + g²
            state["sum"] += g * g
            # θ ← θ − lr_t · g / (√s + ε)
            p.data -= clr * (g / (np.sqrt(state["sum"]) + eps))


# --- learning-rate schedules, stepped once per epoch as torch.optim.lr_scheduler ------------
class LRScheduler:
    def __init__(self, optimizer: Optimizer):
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def step(self) -> None:
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """Every attribute but the optimizer, as torch's schedulers do."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state: dict) -> None:
        self.__dict__.update(state)


class ConstantLR(LRScheduler):
    """lr·factor until epoch ``total_iters``, then lr (torch's chainable form); factor 1 = no schedule."""

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5):
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer)

    def get_lr(self):
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [g["lr"] * self.factor for g in groups]
        if self.last_epoch != self.total_iters:
            return [g["lr"] for g in groups]
        return [g["lr"] * (1.0 / self.factor) for g in groups]


class StepLR(LRScheduler):
    """lr ← lr·γ every ``step_size`` epochs (torch's chainable form)."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [g["lr"] for g in self.optimizer.param_groups]
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]


class CosineAnnealingLR(LRScheduler):
    """lr_t = η_min + ½(lr₀ − η_min)(1 + cos(πt/T_max)), in torch's recursive (chainable) form."""

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def get_lr(self):
        groups, t, T, eta = self.optimizer.param_groups, self.last_epoch, self.T_max, self.eta_min
        if t == 0:
            return [g["lr"] for g in groups]
        if (t - 1 - T) % (2 * T) == 0:
            return [g["lr"] + (base - eta) * (1 - math.cos(math.pi / T)) / 2 for base, g in zip(self.base_lrs, groups)]
        return [
            (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (g["lr"] - eta) + eta
            for g in groups
        ]


@dataclass(frozen=True)
class Registered:
    """An optimizer of this twin: its class, the hyper-parameters it takes (TrainConfig's names) besides
    the learning rate, and how many arrays of state it keeps per parameter given them (as torch.optim
    does; the memory estimate reads it)."""

    cls: type
    takes: tuple[str, ...]
    state: Callable[[dict], int]


ADAM_TAKES = ("betas", "eps", "weight_decay", "amsgrad")
OPTIMIZERS = {  # mirrored name by name in torch_impl/optim.py
    "sgd": Registered(SGD, ("momentum", "dampening", "weight_decay", "nesterov"), lambda h: int(h["momentum"] > 0)),
    "adam": Registered(Adam, ADAM_TAKES, lambda h: 2 + bool(h["amsgrad"])),
    "adamw": Registered(AdamW, ADAM_TAKES, lambda h: 2 + bool(h["amsgrad"])),
    "rmsprop": Registered(
        RMSprop,
        ("alpha", "eps", "weight_decay", "momentum", "centered"),
        lambda h: 1 + (h["momentum"] > 0) + bool(h["centered"]),
    ),
    "adagrad": Registered(Adagrad, ("lr_decay", "weight_decay", "initial_accumulator_value", "eps"), lambda h: 1),
}


def make_optimizer(name: str, params, *, lr, **hyper) -> Optimizer:
    """The optimizer ``name`` with the hyper-parameters it takes among ``hyper`` (the rest are other
    optimizers')."""
    entry = OPTIMIZERS[name]
    return entry.cls(params, lr=lr, **{k: v for k, v in hyper.items() if k in entry.takes})


def make_scheduler(
    name: str, optimizer: Optimizer, *, epochs: int, step_size: int = 5, gamma: float = 0.1
) -> LRScheduler:
    if name == "step":
        return StepLR(optimizer, step_size=step_size, gamma=gamma)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    return ConstantLR(optimizer, factor=1.0, total_iters=0)
