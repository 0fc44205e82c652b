"""A correct rnn_layers.py in the shape of CS231n assignment 3's: the vanilla RNN, the word embedding, the
temporal affine layer and softmax loss, and the LSTM with the course's gate order (i, f, o, g).  Written
for this project as a reference for `simplenet layercheck examples/cs231n_rnn_layers.py`.
"""
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(prev_h @ Wh + x @ Wx + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)                  # d tanh(a)/da = 1 − tanh(a)²
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    n, t, _ = x.shape
    h, caches, prev = np.zeros((n, t, h0.shape[1])), [], h0
    for i in range(t):
        prev, cache = rnn_step_forward(x[:, i], prev, Wx, Wh, b)
        h[:, i] = prev
        caches.append(cache)
    return h, caches


def rnn_backward(dh, cache):
    n, t, _ = dh.shape
    x0 = cache[0][0]
    dx = np.zeros((n, t, x0.shape[1]))
    dWx, dWh, db = np.zeros_like(cache[0][2]), np.zeros_like(cache[0][3]), np.zeros(dh.shape[2])
    dprev = np.zeros((n, dh.shape[2]))
    for i in reversed(range(t)):
        dx[:, i], dprev, dwx, dwh, dbi = rnn_step_backward(dh[:, i] + dprev, cache[i])
        dWx, dWh, db = dWx + dwx, dWh + dwh, db + dbi
    return dx, dprev, dWx, dWh, db


def word_embedding_forward(x, W):
    return W[x], (x, W.shape)


def word_embedding_backward(dout, cache):
    x, shape = cache
    dW = np.zeros(shape)
    np.add.at(dW, x, dout)                          # a repeated word accumulates
    return dW


def temporal_affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


def temporal_affine_backward(dout, cache):
    x, w, b = cache
    n, t, d = x.shape
    return dout @ w.T, x.reshape(n * t, d).T @ dout.reshape(n * t, -1), dout.sum(axis=(0, 1))


def temporal_softmax_loss(x, y, mask, verbose=False):
    n, t, v = x.shape
    flat, yf, mf = x.reshape(n * t, v), y.reshape(n * t), mask.reshape(n * t)
    probs = np.exp(flat - flat.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.sum(mf * np.log(probs[np.arange(n * t), yf])) / n
    dx = probs.copy()
    dx[np.arange(n * t), yf] -= 1
    dx *= mf[:, None] / n
    return loss, dx.reshape(n, t, v)


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    h = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = sigmoid(a[:, :h]), sigmoid(a[:, h : 2 * h]), sigmoid(a[:, 2 * h : 3 * h]), np.tanh(a[:, 3 * h :])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tc**2)
    di, df, do, dg = dc * g, dc * prev_c, dnext_h * tc, dc * i
    da = np.hstack([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g**2)])
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b):
    n, t, _ = x.shape
    h, caches = np.zeros((n, t, h0.shape[1])), []
    prev_h, prev_c = h0, np.zeros_like(h0)
    for i in range(t):
        prev_h, prev_c, cache = lstm_step_forward(x[:, i], prev_h, prev_c, Wx, Wh, b)
        h[:, i] = prev_h
        caches.append(cache)
    return h, caches


def lstm_backward(dh, cache):
    n, t, hid = dh.shape
    x0, Wx, Wh = cache[0][0], cache[0][3], cache[0][4]
    dx = np.zeros((n, t, x0.shape[1]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * hid)
    dprev_h, dprev_c = np.zeros((n, hid)), np.zeros((n, hid))
    for i in reversed(range(t)):
        dx[:, i], dprev_h, dprev_c, dwx, dwh, dbi = lstm_step_backward(dh[:, i] + dprev_h, dprev_c, cache[i])
        dWx, dWh, db = dWx + dwx, dWh + dwh, db + dbi
    return dx, dprev_h, dWx, dWh, db
