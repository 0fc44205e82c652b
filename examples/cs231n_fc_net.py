"""CS231n assignment 2's FullyConnectedNet (the 2019 and later handouts' shape), with batch or layer
normalization and dropout, written for this project on the layer functions of ``cs231n_layers.py`` beside it.
The judge calls the class itself, passing the run's sizes, ``--norm`` and ``--dropout`` by the handout's names:

    simplenet gradcheck --manual examples/cs231n_fc_net.py:FullyConnectedNet --norm batchnorm --dropout 0.2
    simplenet compare --manual examples/cs231n_fc_net.py:FullyConnectedNet --norm layernorm --epochs 1 --dtype float64

{affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax.  ``dropout_keep_ratio`` is the
probability of keeping a unit (``--dropout 0.2`` is 0.8 here); the running variance is the batch's biased one,
as the handout computes it.
"""
import numpy as np
from cs231n_layers import (
    affine_backward,
    affine_forward,
    batchnorm_backward_alt,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
)


class FullyConnectedNet:
    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10, dropout_keep_ratio=1,
                 normalization=None, reg=0.0, weight_scale=1e-2, dtype=np.float32, seed=None):
        self.normalization = normalization
        self.use_dropout = dropout_keep_ratio != 1
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}
        dims = [input_dim, *hidden_dims, num_classes]
        for k in range(1, self.num_layers + 1):
            self.params[f"W{k}"] = weight_scale * np.random.randn(dims[k - 1], dims[k])
            self.params[f"b{k}"] = np.zeros(dims[k])
            if self.normalization and k < self.num_layers:
                self.params[f"gamma{k}"] = np.ones(dims[k])
                self.params[f"beta{k}"] = np.zeros(dims[k])
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": dropout_keep_ratio}
            if seed is not None:
                self.dropout_param["seed"] = seed
        self.bn_params = []
        if self.normalization == "batchnorm":
            self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]
        if self.normalization == "layernorm":
            self.bn_params = [{} for _ in range(self.num_layers - 1)]
        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        X = X.astype(self.dtype)
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        if self.normalization == "batchnorm":
            for bn_param in self.bn_params:
                bn_param["mode"] = mode

        caches, out = [], X.reshape(len(X), -1)
        for k in range(1, self.num_layers):
            out, fc = affine_forward(out, self.params[f"W{k}"], self.params[f"b{k}"])
            norm = None
            if self.normalization == "batchnorm":
                out, norm = batchnorm_forward(out, self.params[f"gamma{k}"], self.params[f"beta{k}"], self.bn_params[k - 1])
            elif self.normalization == "layernorm":
                out, norm = layernorm_forward(out, self.params[f"gamma{k}"], self.params[f"beta{k}"], self.bn_params[k - 1])
            out, relu = relu_forward(out)
            drop = None
            if self.use_dropout:
                out, drop = dropout_forward(out, self.dropout_param)
            caches.append((fc, norm, relu, drop))
        L = self.num_layers
        scores, last = affine_forward(out, self.params[f"W{L}"], self.params[f"b{L}"])
        if mode == "test":
            return scores

        loss, dout = softmax_loss(scores, y)
        grads = {}
        dout, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dout, last)
        for k in range(L - 1, 0, -1):
            fc, norm, relu, drop = caches[k - 1]
            if self.use_dropout:
                dout = dropout_backward(dout, drop)
            dout = relu_backward(dout, relu)
            if self.normalization == "batchnorm":
                dout, grads[f"gamma{k}"], grads[f"beta{k}"] = batchnorm_backward_alt(dout, norm)
            elif self.normalization == "layernorm":
                dout, grads[f"gamma{k}"], grads[f"beta{k}"] = layernorm_backward(dout, norm)
            dout, grads[f"W{k}"], grads[f"b{k}"] = affine_backward(dout, fc)
        for k in range(1, L + 1):
            W = self.params[f"W{k}"]
            loss += 0.5 * self.reg * np.sum(W * W)
            grads[f"W{k}"] += self.reg * W
        return loss, grads
