"""Layers of the hand-written twin, in pure NumPy.

Each layer is a small class: ``forward(x)`` keeps what ``backward`` needs,
``backward(grad_out)`` returns dL/d(input) and *accumulates* dL/d(parameter)
into ``param.grad`` (as torch does).  Updating weights is the optimizer's job.

Shapes: N = batch size, I = in_features, O = out_features.
"""

from __future__ import annotations

import numpy as np


class Parameter:
    """A weight array and its gradient, the NumPy stand-in for ``torch.nn.Parameter``."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray):
        self.data = data
        self.grad: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def accumulate(self, value: np.ndarray) -> None:
        """``grad += value``; the first call after ``zero_grad`` just stores it."""
        if self.grad is None:
            self.grad = value
        else:
            self.grad += value


class Module:
    """Calling a layer runs its forward, as in torch."""

    def __call__(self, *args):
        return self.forward(*args)


class Linear(Module):
    """y = x·Wᵀ + b with W of shape (O, I), torch's layout and default init.

    torch initialises ``nn.Linear`` with kaiming_uniform(a=√5) for the weight and
    U(-1/√I, 1/√I) for the bias; both reduce to U(-1/√I, 1/√I).
    """

    def __init__(
        self, in_features: int, out_features: int, *, rng: np.random.Generator | None = None, dtype=np.float32
    ):
        rng = np.random.default_rng() if rng is None else rng
        bound = 1.0 / np.sqrt(in_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype))
        self.bias = Parameter(rng.uniform(-bound, bound, out_features).astype(dtype))
        self.x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x  # (N, I), kept for dL/dW
        y = x @ self.weight.data.T  # (N, O)
        y += self.bias.data  # in place: no second (N, O) temporary
        return y

    def backward(self, grad_out: np.ndarray, need_input_grad: bool = True) -> np.ndarray | None:
        """``need_input_grad=False`` skips dL/dx, as autograd does for an input that needs no
        gradient (the images): for layer1 that is a third of the backward's FLOPs."""
        g = grad_out  # g = dL/dy   (N, O)
        # dL/dW = gᵀ·x                                     (O, I)
        self.weight.accumulate(g.T @ self.x)
        # dL/db = Σ_n g[n]                                 (O,)
        self.bias.accumulate(g.sum(axis=0))
        if not need_input_grad:
            return None
        # dL/dx = g·W                                      (N, I)
        return g @ self.weight.data

    def params(self) -> dict[str, Parameter]:
        return {"weight": self.weight, "bias": self.bias}

    def buffers(self) -> dict[str, np.ndarray]:
        return {}


class ReLU(Module):
    """y = max(x, 0); the gradient at exactly 0 is 0, as in torch.

    ``inplace=True`` (as ``torch.nn.ReLU(inplace=True)``) overwrites the input, which saves an
    (N, F) array when the input is a fresh layer output that nothing else reads."""

    def __init__(self, inplace: bool = False):
        self.inplace = inplace
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0  # (N, F) bool
        return np.maximum(x, 0, out=x if self.inplace else None)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        # dL/dx = g ⊙ 1[x > 0]                             (N, F)
        return grad_out * self.mask


class Sigmoid(Module):
    """y = 1 / (1 + e^(-x)), computed as ½(1 + tanh(x/2)) so it never overflows."""

    def __init__(self):
        self.y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = 0.5 * (1.0 + np.tanh(0.5 * x))
        return self.y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        # dL/dx = g ⊙ y ⊙ (1 − y)                          (N, F)
        return grad_out * self.y * (1.0 - self.y)


class Tanh(Module):
    """y = tanh(x)."""

    def __init__(self):
        self.y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        # dL/dx = g ⊙ (1 − y²)                             (N, F)
        return grad_out * (1.0 - self.y * self.y)


class BatchNorm1d(Module):
    """y = γ·x̂ + β with x̂ = (x − μ)/√(σ² + ε), per feature over the batch, as ``torch.nn.BatchNorm1d``.

    Training normalises by the batch's mean and biased variance and moves the running statistics
    torch's way: running = (1 − momentum)·running + momentum·batch, with the batch variance made
    unbiased (·N/(N−1)) for the running one.  (CS231n's ``bn_param['momentum']`` = 0.9 is the weight
    on the old value: torch's 0.1.)  Evaluation (``training = False``) normalises by the running
    statistics.  γ starts at 1, β at 0; ``num_batches_tracked`` counts training batches as torch's does."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, *, dtype=np.float32):
        self.eps, self.momentum, self.training = eps, momentum, True
        self.weight = Parameter(np.ones(num_features, dtype=dtype))  # γ
        self.bias = Parameter(np.zeros(num_features, dtype=dtype))  # β
        self.running_mean = np.zeros(num_features, dtype=dtype)
        self.running_var = np.ones(num_features, dtype=dtype)
        self.num_batches_tracked = np.zeros((), dtype=np.int64)
        self.x_hat: np.ndarray | None = None
        self.inv_std: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.training:
            mean, var = x.mean(axis=0), x.var(axis=0)  # (F,) each; var biased (÷N)
            n = x.shape[0]
            m = self.momentum
            self.running_mean[...] = (1 - m) * self.running_mean + m * mean
            self.running_var[...] = (1 - m) * self.running_var + m * var * (n / max(n - 1, 1))
            self.num_batches_tracked += 1
        else:
            mean, var = self.running_mean, self.running_var
        self.inv_std = 1.0 / np.sqrt(var + self.eps)  # (F,)
        self.x_hat = (x - mean) * self.inv_std  # (N, F)
        return self.x_hat * self.weight.data + self.bias.data

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        g, x_hat = grad_out, self.x_hat  # g = dL/dy   (N, F)
        # dL/dγ = Σ_n g ⊙ x̂                                (F,)
        self.weight.accumulate((g * x_hat).sum(axis=0))
        # dL/dβ = Σ_n g                                    (F,)
        self.bias.accumulate(g.sum(axis=0))
        # dL/dx̂ = g ⊙ γ                                    (N, F)
        d_hat = g * self.weight.data
        if not self.training:  # μ and σ² are constants (the running ones)
            # dL/dx = dL/dx̂ / √(σ² + ε)                     (N, F)
            return d_hat * self.inv_std
        n = g.shape[0]
        # dL/dx = (1/N)/√(σ² + ε) · (N·dx̂ − Σ_n dx̂ − x̂ ⊙ Σ_n dx̂ ⊙ x̂)     (N, F)
        return (self.inv_std / n) * (n * d_hat - d_hat.sum(axis=0) - x_hat * (d_hat * x_hat).sum(axis=0))

    def params(self) -> dict[str, Parameter]:
        return {"weight": self.weight, "bias": self.bias}

    def buffers(self) -> dict[str, np.ndarray]:
        return {
            "running_mean": self.running_mean,
            "running_var": self.running_var,
            "num_batches_tracked": self.num_batches_tracked,
        }


class LayerNorm(Module):
    """y = γ·x̂ + β with x̂ = (x − μ)/√(σ² + ε), per row over its features, as ``torch.nn.LayerNorm``:
    the same in training and evaluation, no running statistics."""

    def __init__(self, num_features: int, eps: float = 1e-5, *, dtype=np.float32):
        self.eps = eps
        self.weight = Parameter(np.ones(num_features, dtype=dtype))  # γ
        self.bias = Parameter(np.zeros(num_features, dtype=dtype))  # β
        self.x_hat: np.ndarray | None = None
        self.inv_std: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        mean, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)  # (N, 1) each; var biased
        self.inv_std = 1.0 / np.sqrt(var + self.eps)  # (N, 1)
        self.x_hat = (x - mean) * self.inv_std  # (N, F)
        return self.x_hat * self.weight.data + self.bias.data

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        g, x_hat = grad_out, self.x_hat  # g = dL/dy   (N, F)
        # dL/dγ = Σ_n g ⊙ x̂                                (F,)
        self.weight.accumulate((g * x_hat).sum(axis=0))
        # dL/dβ = Σ_n g                                    (F,)
        self.bias.accumulate(g.sum(axis=0))
        # dL/dx̂ = g ⊙ γ                                    (N, F)
        d_hat = g * self.weight.data
        f = g.shape[1]
        # dL/dx = (1/F)/√(σ² + ε) · (F·dx̂ − Σ_f dx̂ − x̂ ⊙ Σ_f dx̂ ⊙ x̂)      (N, F)
        return (self.inv_std / f) * (
            f * d_hat - d_hat.sum(axis=1, keepdims=True) - x_hat * (d_hat * x_hat).sum(axis=1, keepdims=True)
        )

    def params(self) -> dict[str, Parameter]:
        return {"weight": self.weight, "bias": self.bias}

    def buffers(self) -> dict[str, np.ndarray]:
        return {}


class Dropout(Module):
    """Inverted dropout, as ``torch.nn.Dropout(p)``: ``p`` is the probability of DROPPING a unit (CS231n's
    ``dropout_keep_ratio`` is 1 − p).  In training, y = x ⊙ m / (1 − p) with m ~ Bernoulli(1 − p);
    in evaluation y = x.

    ``mask`` (bool, True = kept), when set before a forward, is used instead of a fresh draw: the judge
    hands the same masks to both twins, so their steps stay comparable number by number."""

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability {p} is not in [0, 1)")
        self.p, self.training = p, True
        self.rng = np.random.default_rng() if rng is None else rng
        self.mask: np.ndarray | None = None  # the next forward's, when given
        self.scale: np.ndarray | None = None  # m / (1 − p) of the last forward

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self.scale = None
            return x
        keep = self.mask if self.mask is not None else self.rng.random(x.shape) >= self.p
        if keep.shape != x.shape:
            raise ValueError(f"dropout mask of shape {keep.shape} for an input of shape {x.shape}")
        self.mask = None  # one mask, one forward
        self.scale = keep * np.asarray(1.0 / (1.0 - self.p), dtype=x.dtype)  # (N, F)
        return x * self.scale

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        if self.scale is None:
            return grad_out
        # dL/dx = g ⊙ m / (1 − p)                          (N, F)
        return grad_out * self.scale


class CrossEntropyLoss(Module):
    """Softmax cross-entropy with integer targets, mean over the batch.

    Same semantics as ``torch.nn.CrossEntropyLoss()``:

        L = (1/N) Σ_n [ logsumexp(z_n) − z_n[t_n] ]

    computed stably by subtracting each row's max before exponentiating.

    Gradient, derived once: with p = softmax(z),
        ∂/∂z_nk [logsumexp(z_n)] = p_nk  and  ∂/∂z_nk [z_n[t_n]] = 1[k = t_n],
    so
        dL/dz = (p − onehot(t)) / N        (N, C)
    """

    def __init__(self):
        self.probs: np.ndarray | None = None
        self.target: np.ndarray | None = None

    def forward(self, logits: np.ndarray, target: np.ndarray) -> np.ndarray:
        rows = np.arange(logits.shape[0])
        shifted = logits - logits.max(axis=1, keepdims=True)  # (N, C), max row entry 0
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)  # (N, 1)
        self.probs = np.divide(exp, sum_exp, out=exp)  # softmax, in place of exp
        self.target = target
        # −log softmax(z)[t] = log Σ_k e^(z_k − max) − (z_t − max), only at the targets
        return np.mean(np.log(sum_exp[:, 0]) - shifted[rows, target])

    def backward(self) -> np.ndarray:
        n = self.probs.shape[0]
        grad = self.probs.copy()
        # dL/dz = (p − onehot(t)) / N                      (N, C)
        grad[np.arange(n), self.target] -= 1.0
        grad /= n
        return grad


class Softmax(Module):
    """y = softmax(x) along the classes, as an output activation (``torch.nn.Softmax(dim=1)``)."""

    def __init__(self):
        self.y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.y = e / e.sum(axis=1, keepdims=True)
        return self.y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        # dL/dx = y ⊙ (g − Σ_k g_k·y_k)                     (N, C)
        return self.y * (grad_out - (grad_out * self.y).sum(axis=1, keepdims=True))


class MSELoss(Module):
    """Mean squared error against one-hot targets, as ``torch.nn.MSELoss()`` on ``one_hot(target)``:

        L = (1/(N·C)) Σ_n Σ_k (a_nk − 1[k = t_n])²,    dL/da = 2(a − onehot(t)) / (N·C)

    (Nielsen's quadratic cost ½·Σ_k, mean over n, is C/2 times this.)"""

    def __init__(self):
        self.diff: np.ndarray | None = None
        self.probs: np.ndarray | None = None  # the outputs: what evaluation ranks as scores

    def forward(self, outputs: np.ndarray, target: np.ndarray) -> np.ndarray:
        onehot = np.zeros_like(outputs)
        onehot[np.arange(len(target)), target] = 1.0
        self.diff, self.probs = outputs - onehot, outputs
        return np.mean(self.diff * self.diff)

    def backward(self) -> np.ndarray:
        # dL/da = 2(a − onehot) / (N·C)                      (N, C)
        return self.diff * (2.0 / self.diff.size)


class QuadraticLoss(MSELoss):
    """Nielsen's quadratic cost, C = (1/N) Σ_n ½·Σ_k (a_nk − 1[k = t_n])²: C/2 times ``MSELoss`` (which
    means over the classes too), so dL/da = (a − onehot(t)) / N."""

    def forward(self, outputs: np.ndarray, target: np.ndarray) -> np.ndarray:
        return super().forward(outputs, target) * (outputs.shape[1] / 2)

    def backward(self) -> np.ndarray:
        # dL/da = (a − onehot) / N                           (N, C)
        return self.diff / self.diff.shape[0]


class WeightPenalty:
    """A regularization term of the loss over the weights only, never the biases:

        P = ½·λ₂·Σ W²  +  λ₁·Σ |W|

    CS231n's L2 (its ``reg`` is λ₂) and the Neural Networks from Scratch book's L1.  Unlike an
    optimizer's ``weight_decay`` it is part of the loss: the reported loss includes it."""

    def __init__(self, l2: float = 0.0, l1: float = 0.0):
        self.l2, self.l1 = l2, l1

    def __bool__(self) -> bool:
        return bool(self.l2 or self.l1)

    def forward(self, weights: list[np.ndarray]) -> float:
        return float(sum(0.5 * self.l2 * np.sum(w * w) + self.l1 * np.sum(np.abs(w)) for w in weights))

    def backward(self, weights: list[np.ndarray]) -> list[np.ndarray]:
        # dP/dW = λ₂·W + λ₁·sign(W)                        (O, I) each
        return [self.l2 * w + self.l1 * np.sign(w) for w in weights]


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}
NORMS = {"batchnorm": BatchNorm1d, "layernorm": LayerNorm}  # "none": no normalization
OUTPUT_ACTIVATIONS = {"sigmoid": Sigmoid, "softmax": Softmax}  # "none": the logits themselves
LOSSES = {"cross-entropy": CrossEntropyLoss, "mse": MSELoss, "quadratic": QuadraticLoss}
