"""The loops a user would write, timed beside the twins: torchvision's DataLoader + ToTensor path and
the plain NumPy and preloaded-tensor torch loops (the twins' math without our abstractions)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from compare.architecture import affine_bias, affine_weight
from compare.config import ModelSpec
from compare.runner import epoch_permutation


def dataloader_epoch(root: Path, batch_size: int, spec: ModelSpec, lr: float = 0.05) -> callable:
    """The idiomatic baseline: torchvision MNIST + ToTensor/Normalize per sample, DataLoader, torch model."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    import torch_impl

    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    dataset = datasets.MNIST(str(root), train=True, download=False, transform=tf)
    model = torch_impl.SimpleNet(**spec.kwargs())
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True)

    def run():
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()

    return run


def epoch_batches(n: int, batch_size: int, epoch: int):
    """(step, indices of its batch) over one epoch, in the runner's batch order (seed 0)."""
    perm = epoch_permutation(0, epoch, n)
    for s in range(-(-n // batch_size)):
        yield s, perm[s * batch_size : (s + 1) * batch_size]


def plain_numpy_loop(
    x: np.ndarray, y: np.ndarray, state: dict, batch_size: int, lr: float = 0.05, momentum: float = 0.9
):
    """The baseline a user writes in ten minutes with NumPy alone: the same math as the manual twin
    (ReLU MLP, mean softmax cross-entropy, SGD with torch's momentum), the same batch order, the same
    per-step outputs (loss and correct count) - and none of our abstractions."""
    depth = len(state) // 2
    W = [state[affine_weight(k)].astype(x.dtype) for k in range(1, depth + 1)]
    b = [state[affine_bias(k)].astype(x.dtype) for k in range(1, depth + 1)]
    vW, vb = [np.zeros_like(w) for w in W], [np.zeros_like(v) for v in b]
    n = len(x)
    steps = -(-n // batch_size)

    def run(epoch: int = 0):
        losses, correct = np.zeros(steps), 0
        for s, idx in epoch_batches(n, batch_size, epoch):
            xb, yb = x[idx], y[idx]
            m, rows = len(idx), np.arange(len(idx))
            h = [xb]
            for k in range(depth - 1):
                h.append(np.maximum(h[-1] @ W[k].T + b[k], 0))
            z = h[-1] @ W[-1].T + b[-1]
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            total = e.sum(axis=1, keepdims=True)
            losses[s] = np.mean(np.log(total[:, 0]) - z[rows, yb])
            correct += np.count_nonzero(z.argmax(axis=1) == yb)
            g = e / total
            g[rows, yb] -= 1
            g /= m
            for k in range(depth - 1, -1, -1):
                gW, gb = g.T @ h[k], g.sum(axis=0)
                if k:
                    g = (g @ W[k]) * (h[k] > 0)
                vW[k] = momentum * vW[k] + gW
                vb[k] = momentum * vb[k] + gb
                W[k] -= lr * vW[k]
                b[k] -= lr * vb[k]
        return losses, correct

    return run


def bare_manual_loop(
    x: np.ndarray, y: np.ndarray, state: dict, batch_size: int, lr: float = 0.05, momentum: float = 0.9
):
    """Our hand-written twin used as a library, without the judge: ``manual.SimpleNet``, its loss and
    ``manual.optim.SGD`` stepped by ``manual.train.train_step`` on the same batches.  Beside the plain
    loop it shows what the twin's own code costs; beside the manual twin, what judging it costs (the
    plug-in protocol's per-step checks, the judge's own loss)."""
    import manual
    import manual.train

    depth = len(state) // 2
    sizes = [state[affine_weight(1)].shape[1]] + [state[affine_weight(k)].shape[0] for k in range(1, depth + 1)]
    model = manual.SimpleNet(sizes[0], tuple(sizes[1:-1]), sizes[-1], dtype=x.dtype)
    model.load_state_dict(state)
    optimizer = manual.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    loss_fn = manual.CrossEntropyLoss()
    n = len(x)
    steps = -(-n // batch_size)

    def run(epoch: int = 0):
        losses, correct = np.zeros(steps), 0
        for s, idx in epoch_batches(n, batch_size, epoch):
            loss, right = manual.train.train_step(model, loss_fn, optimizer, x[idx], y[idx])
            losses[s] = loss
            correct += int(right)
        return losses, correct

    return run


def plain_torch_loop(
    x: np.ndarray, y: np.ndarray, state: dict, batch_size: int, lr: float = 0.05, momentum: float = 0.9
):
    """The torch baseline a user writes: nn.Sequential, preloaded tensors, torch.optim.SGD with its
    defaults, F.cross_entropy - same math, batch order and per-step outputs as the torch twin."""
    from torch import nn

    depth = len(state) // 2
    layers = []
    for k in range(1, depth + 1):
        w = torch.from_numpy(state[affine_weight(k)]).to(torch.from_numpy(np.array(x[:1])).dtype)
        lin = nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(torch.from_numpy(state[affine_bias(k)]))
        layers += [lin, nn.ReLU()] if k < depth else [lin]
    model = nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    xt, yt = torch.from_numpy(np.array(x)), torch.from_numpy(np.array(y))  # its own copy: the twin's is read-only
    n = len(x)
    steps = -(-n // batch_size)

    def run(epoch: int = 0):
        perm = torch.from_numpy(epoch_permutation(0, epoch, n))
        losses, correct = torch.zeros(steps, dtype=xt.dtype), torch.zeros((), dtype=torch.int64)
        for s in range(steps):
            idx = perm[s * batch_size : (s + 1) * batch_size]
            xb, yb = xt[idx], yt[idx]
            out = model(xb)
            loss = torch.nn.functional.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[s] = loss.detach()
            correct += (out.argmax(dim=1) == yb).sum()
        return losses.numpy().astype(np.float64), int(correct)

    return run
