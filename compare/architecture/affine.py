"""The affine layer: y = x·Wᵀ + b (``manual.layers.Linear``, ``torch.nn.Linear``), torch's layout and init."""

from compare.architecture.registry import BIAS, WEIGHT, LayerKind, register

LINEAR = register(
    LayerKind(
        "linear",
        slot="affine",
        prefix="layer",
        params={
            "weight": (WEIGHT, lambda layer: (layer.fan_out, layer.fan_in)),
            "bias": (BIAS, lambda layer: (layer.fan_out,)),
        },
    )
)
