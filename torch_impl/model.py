"""SimpleNet with torch.nn and autograd: 784 → 128 → 64 → 10 by default.

CS231n's architecture, {affine - [norm] - activation - [dropout]} × hidden layers - affine, named as in
``manual/model.py``: the affine layers are ``layer1 … layerK``; after each hidden one come ``norm1 …``
(with ``norm``), the activation ``act1 …`` and ``drop1 …`` (with ``dropout`` > 0).  The last layer gives
logits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from compare.architecture import plan
from torch_impl.layers import ACTIVATIONS, NORMS, OUTPUT_ACTIVATIONS, Dropout


class SimpleNet(nn.Module):
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
        dtype=torch.float32,
        device: torch.device | str = "cpu",
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
        if norm != "none" and norm not in NORMS:
            raise ValueError(f"unknown normalization {norm!r}; choose one of none, {', '.join(sorted(NORMS))}")
        self.in_features = in_features
        self.layers: list[nn.Linear] = []
        self.acts: list[nn.Module] = []
        self.sequence: list[tuple[str, nn.Module]] = []  # every module, in the forward's order
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
                    self._add(layer.name, nn.Linear(layer.fan_in, layer.fan_out, dtype=dtype, device=device))
                )
            elif slot == "norm":
                self._add(layer.name, NORMS[layer.kind.name](layer.fan_out, dtype=dtype, device=device))
            elif slot == "activation":
                # ReLU rectifies the fresh output of the layer below in place, as torch's inplace=True
                act = ACTIVATIONS[activation](inplace=True) if activation == "relu" else ACTIVATIONS[activation]()
                self.acts.append(self._add(layer.name, act))
            else:
                self._add(layer.name, Dropout(layer.p))
        # the last layer's output through an activation (sigmoid, softmax), or the logits as they are
        self.out_act = OUTPUT_ACTIVATIONS[output_activation]() if output_activation != "none" else None

    def _add(self, name: str, module: nn.Module) -> nn.Module:
        self.add_module(name, module)
        self.sequence.append((name, module))
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, self.in_features)  # x.view(-1, 784)
        for _, module in self.sequence:
            x = module(x)  # the last one gives the logits (N, 10)
        return self.out_act(x) if self.out_act is not None else x

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
