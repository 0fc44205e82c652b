"""A fully-connected net in the CS231n assignment's convention, checked by the judge as is.

    simplenet gradcheck --manual examples/cs231n_fc.py:FullyConnectedNet

``params`` holds ``W1, b1, W2, …`` with W of shape (in, out); ``loss(X)`` returns the scores and
``loss(X, y)`` returns ``(loss, grads)`` with the same keys, the loss being the mean softmax
cross-entropy (``reg`` adds ½·reg·ΣW² over the weights; the judge passes the run's ``--l2`` as ``reg``).
"""
import numpy as np

ACTIVATIONS = {
    # name: (forward f(z), derivative written with the output a = f(z))
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(a.dtype)),
    "sigmoid": (lambda z: 0.5 * (1 + np.tanh(0.5 * z)), lambda a: a * (1 - a)),
    "tanh": (np.tanh, lambda a: 1 - a * a),
}


class FullyConnectedNet:
    def __init__(self, sizes, activation="relu", dtype=np.float32, reg=0.0, weight_scale=1e-2, seed=0):
        rng = np.random.default_rng(seed)
        self.reg, self.dtype, self.num_layers = reg, dtype, len(sizes) - 1
        self.f, self.df = ACTIVATIONS[activation]
        self.params = {}
        for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            self.params[f"W{k}"] = (weight_scale * rng.standard_normal((i, o))).astype(dtype)
            self.params[f"b{k}"] = np.zeros(o, dtype)

    def loss(self, X, y=None):
        X = X.reshape(len(X), -1).astype(self.dtype)
        caches, a = [], X
        for k in range(1, self.num_layers + 1):
            z = a @ self.params[f"W{k}"] + self.params[f"b{k}"]          # affine forward
            caches.append(a)
            a = self.f(z) if k < self.num_layers else z
            if k < self.num_layers:
                caches.append(a)
        scores = a
        if y is None:
            return scores

        # softmax loss: L = mean_n [log Σ_k e^{s_nk} − s_n,y_n]
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        n = len(X)
        loss = -log_probs[np.arange(n), y].mean()
        dscores = np.exp(log_probs)
        dscores[np.arange(n), y] -= 1
        dscores /= n                                                      # dL/ds = (p − onehot)/N

        grads, dout = {}, dscores
        for k in range(self.num_layers, 0, -1):
            W = self.params[f"W{k}"]
            x = caches[2 * (k - 1)]
            grads[f"W{k}"] = x.T @ dout + self.reg * W                   # dL/dW = xᵀ·dout   (in, out)
            grads[f"b{k}"] = dout.sum(axis=0)                             # dL/db = Σ_n dout  (out,)
            loss += 0.5 * self.reg * np.sum(W * W)
            if k > 1:
                dx = dout @ W.T                                           # dL/dx = dout·Wᵀ   (N, in)
                dout = dx * self.df(caches[2 * (k - 1) - 1])              # through the activation
        return loss, grads
