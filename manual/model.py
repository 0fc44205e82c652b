"""SimpleNet, hand-written: 784 → 128 → 64 → 10 by default, forward and backward in NumPy.

CS231n's architecture, {affine - [norm] - activation - [dropout]} × hidden layers - affine, in torch's
key names and ``(out, in)`` layout: the affine layers are ``layer1 … layerK``; after each hidden one come
``norm1 …`` (with ``norm``), the activation ``act1 …`` and ``drop1 …`` (with ``dropout`` > 0).  The last
layer gives logits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from types import SimpleNamespace

import numpy as np

from compare.architecture import plan
from manual.layers import ACTIVATIONS, NORMS, OUTPUT_ACTIVATIONS, Dropout, Linear, Module, Parameter


class SimpleNet(Module):
    def __init__(
        self,
        in_features: int = 784,
        hidden: Sequence[int] = (128, 64),
        out_features: int = 10,
        activation: str = "relu",
        output_activation: str = "none",
        norm: str = "none",
        dropout: float = 0.0,
        *,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        if norm != "none" and norm not in NORMS:
            raise ValueError(f"unknown normalization {norm!r}; choose one of none, {', '.join(sorted(NORMS))}")
        self.dtype = np.dtype(dtype)
        self.in_features = in_features
        self.training = True
        rng = np.random.default_rng() if rng is None else rng
        self.layers: list[Linear] = []
        self.acts: list[Module] = []
        self.sequence: list[tuple[str, Module]] = []  # every module, in the forward's order
        # the layers as the judge's registry plans them (compare.architecture.plan): their kinds, names and sizes
        planned = plan(
            SimpleNamespace(
                in_features=in_features,
                hidden=tuple(hidden),
                out_features=out_features,
                activation=activation,
                norm=norm,
                dropout=dropout,
            )
        )
        for layer in planned:
            slot = layer.kind.slot
            if slot == "affine":
                self.layers.append(
                    self._add(layer.name, Linear(layer.fan_in, layer.fan_out, rng=rng, dtype=self.dtype))
                )
            elif slot == "norm":
                self._add(layer.name, NORMS[layer.kind.name](layer.fan_out, dtype=self.dtype))
            elif slot == "activation":
                # ReLU rectifies the fresh output of the layer below in place, as torch's inplace=True
                act = ACTIVATIONS[activation](inplace=True) if activation == "relu" else ACTIVATIONS[activation]()
                self.acts.append(self._add(layer.name, act))
            else:
                self._add(layer.name, Dropout(layer.p))
        # the last layer's output through an activation (sigmoid, softmax), or the logits as they are
        self.out_act = OUTPUT_ACTIVATIONS[output_activation]() if output_activation != "none" else None

    def _add(self, name: str, module: Module) -> Module:
        setattr(self, name, module)
        self.sequence.append((name, module))
        return module

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype).reshape(-1, self.in_features)  # x.view(-1, 784)
        for _, module in self.sequence:
            x = module(x)  # the last one gives the logits (N, 10)
        return self.out_act(x) if self.out_act is not None else x

    def backward(self, grad_logits: np.ndarray, need_input_grad: bool = False) -> np.ndarray | None:
        """Back-propagate dL/dlogits through every module, storing each parameter's gradient.

        Like autograd for inputs that do not require grad, dL/dx is computed (and returned) only
        when ``need_input_grad`` is set."""
        g = self.out_act.backward(grad_logits) if self.out_act is not None else grad_logits
        for i in range(len(self.sequence) - 1, -1, -1):
            module = self.sequence[i][1]
            if isinstance(module, Linear):
                g = module.backward(g, need_input_grad=need_input_grad or i > 0)
            else:
                g = module.backward(g)
        return g

    # --- the torch.nn.Module-like surface -------------------------------------------
    def train(self, mode: bool = True) -> SimpleNet:
        """Training mode (batch statistics, dropout) or evaluation mode (running statistics, no dropout)."""
        self.training = mode
        for _, module in self.sequence:
            if hasattr(module, "training"):
                module.training = mode
        return self

    def eval(self) -> SimpleNet:
        return self.train(False)

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for name, module in self.sequence:
            for key, p in getattr(module, "params", dict)().items():
                yield f"{name}.{key}", p

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """The running statistics (batchnorm's), as torch's ``named_buffers``."""
        for name, module in self.sequence:
            for key, b in getattr(module, "buffers", dict)().items():
                yield f"{name}.{key}", b

    def parameters(self) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers, as torch's ``state_dict``."""
        state = {name: p.data.copy() for name, p in self.named_parameters()}
        state.update((name, b.copy()) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        params, buffers = dict(self.named_parameters()), dict(self.named_buffers())
        if set(state) != set(params) | set(buffers):
            raise ValueError(f"state keys {sorted(state)} do not match the model's {sorted([*params, *buffers])}")
        for name, current in [*((n, p.data) for n, p in params.items()), *buffers.items()]:
            value = np.asarray(state[name])
            if value.shape != current.shape:
                raise ValueError(f"{name}: shape {value.shape} does not match the model's {current.shape}")
        for name, p in params.items():
            p.data = np.asarray(state[name]).astype(self.dtype, copy=True)
        for name, b in buffers.items():  # in place: the layer holds these arrays
            b[...] = state[name]
