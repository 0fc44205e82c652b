"""Tier 1 and 2: each hand-written layer against finite differences and against autograd."""

import numpy as np
import pytest
import torch

import manual
from compare.gradcheck import TOLERANCE, max_rel_err

RNG = np.random.default_rng(123)
DT = {"float32": (np.float32, torch.float32), "float64": (np.float64, torch.float64)}


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar f at every entry of x (float64)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        v = x[i]
        x[i] = v + h
        up = f()
        x[i] = v - h
        down = f()
        x[i] = v
        g[i] = (up - down) / (2 * h)
    return g


def smooth_input(shape):
    """Inputs kept away from ReLU's kink so finite differences are well defined."""
    x = RNG.standard_normal(shape)
    return np.where(np.abs(x) < 0.05, 0.5, x)


@pytest.mark.parametrize("cls", [manual.ReLU, manual.Sigmoid, manual.Tanh])
def test_activation_backward_matches_finite_differences(cls):
    layer, x, r = cls(), smooth_input((5, 7)), RNG.standard_normal((5, 7))
    loss = lambda: float((layer.forward(x) * r).sum())
    layer.forward(x)
    analytic = layer.backward(r)
    np.testing.assert_allclose(analytic, numeric_grad(loss, x), rtol=1e-6, atol=1e-9)


def test_linear_backward_matches_finite_differences():
    layer = manual.Linear(6, 4, rng=np.random.default_rng(0), dtype=np.float64)
    x, r = RNG.standard_normal((5, 6)), RNG.standard_normal((5, 4))
    loss = lambda: float((layer.forward(x) * r).sum())
    layer.forward(x)
    dx = layer.backward(r)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(layer.weight.grad, numeric_grad(loss, layer.weight.data), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(layer.bias.grad, numeric_grad(loss, layer.bias.data), rtol=1e-6, atol=1e-9)


def test_cross_entropy_backward_matches_finite_differences():
    loss_fn, z, t = manual.CrossEntropyLoss(), RNG.standard_normal((6, 10)), RNG.integers(0, 10, 6)
    loss = lambda: float(loss_fn.forward(z, t))
    loss()
    np.testing.assert_allclose(loss_fn.backward(), numeric_grad(loss, z), rtol=1e-6, atol=1e-9)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0]])
    assert np.isfinite(manual.CrossEntropyLoss()(z, np.array([2])))
    assert manual.CrossEntropyLoss()(z, np.array([2])) == pytest.approx(2000.0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["ReLU", "Sigmoid", "Tanh"])
def test_activation_against_autograd(name, dtype):
    np_dt, t_dt = DT[dtype]
    x, g = RNG.standard_normal((8, 9)).astype(np_dt), RNG.standard_normal((8, 9)).astype(np_dt)
    x[0, :3] = 0.0  # ReLU's gradient at exactly 0 is 0 in both
    m = getattr(manual, name)()
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch.nn, name)()(xt)
    yt.backward(torch.tensor(g))
    assert max_rel_err(m.forward(x), yt.detach().numpy()) <= TOLERANCE[dtype]
    dx = m.backward(g)
    assert dx.dtype == np_dt
    assert max_rel_err(dx, xt.grad.numpy()) <= TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_linear_against_autograd(dtype):
    np_dt, t_dt = DT[dtype]
    m = manual.Linear(20, 7, rng=np.random.default_rng(1), dtype=np_dt)
    t = torch.nn.Linear(20, 7, dtype=t_dt)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(m.weight.data))  # same (out, in) layout: no transpose
        t.bias.copy_(torch.tensor(m.bias.data))
    x, g = RNG.standard_normal((5, 20)).astype(np_dt), RNG.standard_normal((5, 7)).astype(np_dt)
    xt = torch.tensor(x, requires_grad=True)
    t(xt).backward(torch.tensor(g))
    assert max_rel_err(m.forward(x), t(xt).detach().numpy()) <= TOLERANCE[dtype]
    dx = m.backward(g)
    for ours, theirs in ((dx, xt.grad), (m.weight.grad, t.weight.grad), (m.bias.grad, t.bias.grad)):
        assert ours.dtype == np_dt
        assert max_rel_err(ours, theirs.numpy()) <= TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cross_entropy_against_autograd(dtype):
    np_dt, _ = DT[dtype]
    z, t = (RNG.standard_normal((16, 10)) * 5).astype(np_dt), RNG.integers(0, 10, 16)
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.CrossEntropyLoss()(zt, torch.tensor(t))
    lt.backward()
    m = manual.CrossEntropyLoss()
    assert abs(float(m(z, t)) - lt.item()) <= TOLERANCE[dtype] * abs(lt.item())
    assert max_rel_err(m.backward(), zt.grad.numpy()) <= TOLERANCE[dtype]


def test_linear_init_matches_torch_default_distribution():
    """U(-1/√fan_in, 1/√fan_in) for weight and bias, as torch.nn.Linear."""
    layer = manual.Linear(400, 300, rng=np.random.default_rng(0))
    bound = 1 / np.sqrt(400)
    ref = torch.nn.Linear(400, 300).weight.detach().numpy()
    for w in (layer.weight.data, layer.bias.data):
        assert np.abs(w).max() <= bound
    assert layer.weight.shape == (300, 400) == ref.shape
    assert np.abs(layer.weight.data).max() > 0.99 * bound
    assert layer.weight.data.std() == pytest.approx(ref.std(), rel=0.02)  # both ≈ bound/√3


def test_the_twins_register_the_same_activations_and_losses():
    """One registry per twin, mirrored name by name; the config's choices are theirs."""
    import manual.layers
    import torch_impl.layers
    from compare import config

    for registry in ("ACTIVATIONS", "OUTPUT_ACTIVATIONS", "LOSSES"):
        ours, theirs = getattr(manual.layers, registry), getattr(torch_impl.layers, registry)
        assert list(ours) == list(theirs), registry
        assert [c.__name__ for c in ours.values()] == [c.__name__ for c in theirs.values()], registry
    assert config.ACTIVATIONS == tuple(manual.layers.ACTIVATIONS) and config.LOSSES == tuple(manual.layers.LOSSES)
