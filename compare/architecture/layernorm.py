"""Layer normalization (``manual.layers.LayerNorm``, ``torch.nn.LayerNorm``): each row over its features,
γ and β per feature, the same in training and evaluation."""

from compare.architecture.registry import SCALE, SHIFT, LayerKind, features, register

LAYERNORM = register(
    LayerKind(
        "layernorm",
        slot="norm",
        prefix="norm",
        params={"weight": (SCALE, features), "bias": (SHIFT, features)},
        conventions="layernorm: eps 1e-5, each row normalised over its features, in training and evaluation alike",
    )
)
