"""Tier 3: each hand-written optimizer and schedule against torch.optim, 25 steps from one state."""

import numpy as np
import pytest
import torch

from compare.gradcheck import max_rel_err
from manual import optim as manual_optim
from manual.layers import Parameter
from torch_impl import optim as torch_optim

SETTINGS = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.9, "dampening": 0.1}),
    ("sgd", {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"momentum": 0.9, "weight_decay": 1e-2}),
    ("adam", {}),
    ("adam", {"betas": (0.8, 0.99), "eps": 1e-6}),
    ("adam", {"weight_decay": 1e-2}),
    ("adam", {"amsgrad": True}),
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.1, "amsgrad": True}),
    ("rmsprop", {}),
    ("rmsprop", {"alpha": 0.9, "eps": 1e-6, "weight_decay": 1e-2}),
    ("rmsprop", {"momentum": 0.9}),
    ("rmsprop", {"centered": True, "momentum": 0.5}),
    ("adagrad", {"eps": 1e-10}),
    ("adagrad", {"lr_decay": 0.01, "weight_decay": 1e-2, "initial_accumulator_value": 0.1, "eps": 1e-10}),
]
SCHEDULES = [("none", {}), ("step", {"step_size": 2, "gamma": 0.5}), ("cosine", {})]
# float32: both sides round each update to float32; over 25 steps that stays within a few ulp
# of the parameter scale (measured ≤ 3e-7), so the band is 1e-6.
TOL = {"float64": 1e-12, "float32": 1e-6}


def run_both(name, kwargs, dtype, schedule=("none", {}), steps=25, lr=0.05):
    rng = np.random.default_rng(0)
    shapes = [(7, 5), (7,), (3, 7)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [Parameter(a.copy()) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt_m = manual_optim.make_optimizer(name, ours, lr=lr, **kwargs)
    opt_t = torch_optim.make_optimizer(name, theirs, lr=lr, **kwargs)
    sch_m = manual_optim.make_scheduler(schedule[0], opt_m, epochs=10, **schedule[1])
    sch_t = torch_optim.make_scheduler(schedule[0], opt_t, epochs=10, **schedule[1])
    for step in range(steps):
        for p, q in zip(ours, theirs):
            g = rng.standard_normal(p.shape).astype(dtype)
            p.grad, q.grad = g.copy(), torch.tensor(g.copy())
        opt_m.step()
        opt_t.step()
        if step % 3 == 2:  # an "epoch" every 3 steps
            sch_m.step()
            sch_t.step()
        assert sch_m.get_last_lr() == pytest.approx(sch_t.get_last_lr(), rel=1e-15)
    return ours, theirs


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kwargs", SETTINGS, ids=[f"{n}-{k}" for n, k in SETTINGS])
def test_25_steps_match_torch(name, kwargs, dtype):
    ours, theirs = run_both(name, kwargs, dtype)
    for p, q in zip(ours, theirs):
        assert p.data.dtype == np.dtype(dtype)
        assert max_rel_err(p.data, q.detach().numpy()) <= TOL[dtype]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=[s for s, _ in SCHEDULES])
@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_schedules_match_torch(name, schedule):
    ours, theirs = run_both(name, {"momentum": 0.9} if name == "sgd" else {}, "float64", schedule=schedule)
    for p, q in zip(ours, theirs):
        assert max_rel_err(p.data, q.detach().numpy()) <= TOL["float64"]


def test_a_wrong_update_rule_is_caught():
    """The parity check can fail: SGD momentum with the dampening applied the wrong way round."""

    class BrokenSGD(manual_optim.SGD):
        def step(self):
            for _, p, state in self._params_with_grad():
                buf = state.setdefault("momentum_buffer", np.zeros_like(p.data))
                buf *= 0.9
                buf += 0.1 * p.grad  # EMA form, not torch's μ·b + (1 − τ)·g
                p.data -= self.param_groups[0]["lr"] * buf

    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    p, q = Parameter(a.copy()), torch.tensor(a.copy(), requires_grad=True)
    opt_m, opt_t = BrokenSGD([p], lr=0.1, momentum=0.9), torch.optim.SGD([q], lr=0.1, momentum=0.9)
    for _ in range(5):
        g = rng.standard_normal((4, 4))
        p.grad, q.grad = g.copy(), torch.tensor(g.copy())
        opt_m.step()
        opt_t.step()
    assert max_rel_err(p.data, q.detach().numpy()) > 1e-3


def test_optimizer_state_round_trips():
    ours, _ = run_both("adam", {"amsgrad": True}, "float64", steps=3)
    opt = manual_optim.Adam(ours, lr=0.01, amsgrad=True)
    for p in ours:
        p.grad = np.ones_like(p.data)
    opt.step()
    clone = manual_optim.Adam(ours, lr=0.5)
    clone.load_state_dict(opt.state_dict())
    assert clone.param_groups[0]["lr"] == 0.01 and clone.param_groups[0]["amsgrad"] is True
    assert clone.state[0]["step"] == 1
    np.testing.assert_array_equal(clone.state[2]["max_exp_avg_sq"], opt.state[2]["max_exp_avg_sq"])


@pytest.mark.parametrize("name", ["rmsprop", "adagrad"])
def test_rmsprop_and_adagrad_run_one_loop_on_every_device(name):
    """No fused RMSprop exists and Adagrad's is CPU-only: torch's single-tensor loop everywhere."""
    for device in ("cpu", "meta"):
        opt = torch_optim.make_optimizer(name, [torch.zeros(3, device=device, requires_grad=True)], lr=0.1)
        assert opt.defaults["foreach"] is False and not opt.defaults.get("fused"), device


def test_new_optimizers_defaults_are_torchs():
    from compare.config import TrainConfig

    for name, cls in (("rmsprop", torch.optim.RMSprop), ("adagrad", torch.optim.Adagrad)):
        cfg = TrainConfig(optimizer=name)
        torch_defaults = cls([torch.zeros(1, requires_grad=True)]).defaults
        assert cfg.lr == torch_defaults["lr"] and cfg.eps == torch_defaults["eps"]
        assert cfg.weight_decay == torch_defaults["weight_decay"]
        if name == "rmsprop":
            assert cfg.momentum == torch_defaults["momentum"] and cfg.alpha == torch_defaults["alpha"]


def test_the_memory_estimate_reads_each_optimizers_state():
    from compare.config import ModelSpec
    from compare.resources import memory_needed

    parts = {
        name: memory_needed(
            ModelSpec(),
            dtype="float64",
            batch_size=64,
            eval_batch_size=64,
            optimizer=name,
            momentum=0.0,
            amsgrad=False,
            n_train=100,
            n_test=10,
            twins=1,
        )["parameters, gradients and optimizer state"]
        for name in ("sgd", "adagrad", "adam")
    }
    assert parts["sgd"] < parts["adagrad"] < parts["adam"]


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_the_torch_twin_steps_with_one_kernel_on_every_device(name):
    """torch.optim's fused kernel whatever the device (``meta`` stands in for one we cannot run here),
    never a kernel picked per device."""
    for device in ("cpu", "meta"):
        opt = torch_optim.make_optimizer(name, [torch.zeros(3, device=device, requires_grad=True)], lr=0.1)
        assert opt.defaults["fused"] is True and not opt.defaults["foreach"], device


def test_the_twins_register_the_same_optimizers():
    """One registry per twin, mirrored name by name, with the same hyper-parameters; the config's choices
    are the registry's."""
    from compare.config import optimizer_names

    assert list(manual_optim.OPTIMIZERS) == list(torch_optim.OPTIMIZERS) == list(optimizer_names())
    for name, entry in manual_optim.OPTIMIZERS.items():
        assert entry.takes == torch_optim.OPTIMIZERS[name].takes, name
        assert entry.cls.__name__ == torch_optim.OPTIMIZERS[name].cls.__name__, name


@pytest.mark.parametrize(
    "name,hyper",
    [
        ("sgd", {}),
        ("sgd", dict(momentum=0.9)),
        ("adam", {}),
        ("adam", dict(amsgrad=True)),
        ("adamw", dict(amsgrad=True)),
        ("rmsprop", {}),
        ("rmsprop", dict(momentum=0.9, centered=True)),
        ("adagrad", {}),
    ],
)
def test_each_registered_state_count_is_what_torch_keeps(name, hyper):
    """The memory estimate's count of state arrays per parameter, against torch.optim's own state after a
    step (every tensor the size of the parameter; the step counter is not one)."""
    from compare.config import state_buffers

    p = torch.zeros(5, requires_grad=True)
    opt = torch_optim.make_optimizer(name, [p], lr=0.1, **hyper)
    p.grad = torch.ones(5)
    opt.step()
    kept = sum(1 for v in opt.state[p].values() if torch.is_tensor(v) and v.shape == p.shape)
    assert (
        state_buffers(
            name,
            momentum=hyper.get("momentum", 0.0),
            amsgrad=hyper.get("amsgrad", False),
            centered=hyper.get("centered", False),
        )
        == kept
    )


def test_a_new_optimizer_is_a_registry_entry(monkeypatch):
    """Registered in the twins' registries (and given a default lr): the config takes it, the CLI offers it
    and the memory estimate counts its state, with no other edit."""
    from compare import config
    from compare.config import ModelSpec, TrainConfig
    from compare.options import registry_text
    from compare.resources import memory_needed

    toy = manual_optim.Registered(manual_optim.SGD, ("momentum",), lambda h: 3)
    monkeypatch.setitem(manual_optim.OPTIMIZERS, "toy", toy)
    monkeypatch.setitem(config.DEFAULT_LR, "toy", 0.5)
    assert TrainConfig(optimizer="toy").lr == 0.5
    assert "rmsprop, adagrad or toy" in registry_text("{optimizers}") and "0.5 for toy" in registry_text("{lrs}")
    spec = ModelSpec()

    def state_bytes(name):
        return memory_needed(
            spec,
            dtype="float64",
            batch_size=64,
            eval_batch_size=64,
            optimizer=name,
            momentum=0.0,
            amsgrad=False,
            n_train=100,
            n_test=10,
            twins=1,
        )["parameters, gradients and optimizer state"]

    params = 784 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10
    assert state_bytes("toy") - state_bytes("sgd") == 3 * params * 8  # sgd without momentum keeps none
    opt = manual_optim.make_optimizer("toy", [Parameter(np.zeros(3))], lr=0.1, momentum=0.5, betas=(0.1, 0.2))
    assert isinstance(opt, manual_optim.SGD) and opt.param_groups[0]["momentum"] == 0.5
