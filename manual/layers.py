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
OUTPUT_ACTIVATIONS = {"sigmoid": Sigmoid, "softmax": Softmax}  # "none": the logits themselves
LOSSES = {"cross-entropy": CrossEntropyLoss, "mse": MSELoss, "quadratic": QuadraticLoss}
