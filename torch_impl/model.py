"""SimpleNet with torch.nn and autograd: 784 → 128 → 64 → 10 by default.

Layers are ``layer1 … layerK`` as in the classic snippet, the activation after each
hidden layer is ``act1 … act(K-1)``; the last layer gives logits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from torch_impl.layers import ACTIVATIONS, OUTPUT_ACTIVATIONS


class SimpleNet(nn.Module):
    def __init__(
        self,
        in_features: int = 784,
        hidden: Sequence[int] = (128, 64),
        out_features: int = 10,
        activation: str = "relu",
        output_activation: str = "none",
        *,
        dtype=torch.float32,
        device: torch.device | str = "cpu",
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        self.in_features = in_features
        sizes = [in_features, *hidden, out_features]
        self.layers: list[nn.Linear] = []
        self.acts: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            layer = nn.Linear(fan_in, fan_out, dtype=dtype, device=device)
            self.add_module(f"layer{i}", layer)
            self.layers.append(layer)
            if i < len(sizes) - 1:
                # ReLU rectifies the fresh output of the layer below in place, as torch's inplace=True
                act = ACTIVATIONS[activation](inplace=True) if activation == "relu" else ACTIVATIONS[activation]()
                self.add_module(f"act{i}", act)
                self.acts.append(act)
        # the last layer's output through an activation (sigmoid, softmax), or the logits as they are
        self.out_act = OUTPUT_ACTIVATIONS[output_activation]() if output_activation != "none" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, self.in_features)  # x.view(-1, 784)
        for layer, act in zip(self.layers, self.acts):
            x = act(layer(x))
        z = self.layers[-1](x)  # logits (N, 10)
        return self.out_act(z) if self.out_act is not None else z

    # --- state as NumPy arrays, the manual twin's currency ------------------------------
    def numpy_state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy().copy() for k, v in self.state_dict().items()}

    def load_numpy_state(self, state: Mapping[str, np.ndarray]) -> None:
        ref = self.state_dict()
        if set(state) != set(ref):
            raise ValueError(f"state keys {sorted(state)} do not match the model's {sorted(ref)}")
        for name, p in ref.items():
            if tuple(np.shape(state[name])) != tuple(p.shape):
                raise ValueError(f"{name}: shape {np.shape(state[name])} does not match the model's {tuple(p.shape)}")
        self.load_state_dict({k: torch.as_tensor(np.asarray(v)).to(ref[k]) for k, v in state.items()})
