"""The hidden layers' activations (``manual.layers.ACTIVATIONS``, ``torch_impl.layers.ACTIVATIONS``):
no parameters, no buffers."""

from compare.architecture.registry import LayerKind, register

RELU = register(LayerKind("relu", slot="activation", prefix="act"))
SIGMOID = register(LayerKind("sigmoid", slot="activation", prefix="act"))
TANH = register(LayerKind("tanh", slot="activation", prefix="act"))
