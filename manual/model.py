"""SimpleNet, hand-written: 784 → 128 → 64 → 10 by default, forward and backward in NumPy.

Layers are ``layer1 … layerK`` (torch's key names and ``(out, in)`` layout), the
activation after each hidden layer is ``act1 … act(K-1)``; the last layer gives logits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from manual.layers import ACTIVATIONS, OUTPUT_ACTIVATIONS, Linear, Module, Parameter


class SimpleNet(Module):
    def __init__(
        self,
        in_features: int = 784,
        hidden: Sequence[int] = (128, 64),
        out_features: int = 10,
        activation: str = "relu",
        output_activation: str = "none",
        *,
        dtype=np.float32,
        rng: np.random.Generator | None = None,
    ):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.dtype = np.dtype(dtype)
        self.in_features = in_features
        rng = np.random.default_rng() if rng is None else rng
        sizes = [in_features, *hidden, out_features]
        self.layers: list[Linear] = []
        self.acts: list[Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            layer = Linear(fan_in, fan_out, rng=rng, dtype=self.dtype)
            setattr(self, f"layer{i}", layer)
            self.layers.append(layer)
            if i < len(sizes) - 1:
                # ReLU rectifies the fresh output of the layer below in place, as torch's inplace=True
                act = ACTIVATIONS[activation](inplace=True) if activation == "relu" else ACTIVATIONS[activation]()
                setattr(self, f"act{i}", act)
                self.acts.append(act)
        # the last layer's output through an activation (sigmoid, softmax), or the logits as they are
        self.out_act = OUTPUT_ACTIVATIONS[output_activation]() if output_activation != "none" else None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype).reshape(-1, self.in_features)  # x.view(-1, 784)
        for layer, act in zip(self.layers, self.acts):
            x = act(layer(x))
        z = self.layers[-1](x)  # logits (N, 10)
        return self.out_act(z) if self.out_act is not None else z

    def backward(self, grad_logits: np.ndarray, need_input_grad: bool = False) -> np.ndarray | None:
        """Back-propagate dL/dlogits through every layer, storing each parameter's gradient.

        Like autograd for inputs that do not require grad, dL/dx is computed (and returned) only
        when ``need_input_grad`` is set."""
        g = self.out_act.backward(grad_logits) if self.out_act is not None else grad_logits
        for i in range(len(self.layers) - 1, -1, -1):
            g = self.layers[i].backward(g, need_input_grad=need_input_grad or i > 0)
            if i > 0:
                g = self.acts[i - 1].backward(g)
        return g

    # --- the torch.nn.Module-like surface -------------------------------------------
    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for i, layer in enumerate(self.layers, start=1):
            yield f"layer{i}.weight", layer.weight
            yield f"layer{i}.bias", layer.bias

    def parameters(self) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        params = dict(self.named_parameters())
        if set(state) != set(params):
            raise ValueError(f"state keys {sorted(state)} do not match the model's {sorted(params)}")
        for name, p in params.items():
            value = np.asarray(state[name])
            if value.shape != p.shape:
                raise ValueError(f"{name}: shape {value.shape} does not match the model's {p.shape}")
            p.data = value.astype(self.dtype, copy=True)
