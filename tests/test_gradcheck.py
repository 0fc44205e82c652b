"""The gradient proof: both twins agree on every parameter, and the proof fails when they don't."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import manual
from compare.config import ModelSpec
from compare.data import random_batch, real_batch
from compare.faults import FAULTS
from compare.gradcheck import TOLERANCE, finite_differences, gradient_proof
from compare.twins import build_manual, build_torch, initial_state

NAMES = ["layer1.weight", "layer1.bias", "layer2.weight", "layer2.bias", "layer3.weight", "layer3.bias"]


def run_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "compare.cli", *args], capture_output=True, text=True, **kw)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("seed", range(5))
def test_twins_agree_on_random_batches(dtype, seed):
    x, y = random_batch(32, seed, dtype)
    report = gradient_proof(x, y, seed=seed, dtype=dtype)
    assert [p.name for p in report.params] == NAMES
    worst = max(p.max_rel_err for p in report.params)
    assert report.passed, f"worst relative error {worst:.2e} > {TOLERANCE[dtype]:.0e}"
    if dtype == "float64":
        assert worst < 1e-12  # float64 agreement is at rounding level, far inside the 1e-10 bound


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_each_injected_bug_is_caught_on_the_right_parameter(fault):
    x, y = random_batch(16, 0, "float64")
    report = gradient_proof(x, y, dtype="float64", fault=fault, fd=True, fd_samples=8)
    failed = {p.name for p in report.params if not p.passed}
    assert not report.passed
    assert failed == set(FAULTS[fault].breaks)
    # finite differences blame the manual side and clear autograd
    fd_failed = {c.name for c in report.fd if not c.passed_manual}
    assert fd_failed == set(FAULTS[fault].breaks)
    assert all(c.passed_torch for c in report.fd)


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_injected_bugs_are_caught_in_float32_too(fault):
    x, y = random_batch(16, 0, "float32")
    report = gradient_proof(x, y, dtype="float32", fault=fault)
    assert {p.name for p in report.params if not p.passed} == set(FAULTS[fault].breaks)


def test_finite_differences_pass_on_every_coordinate_of_a_small_net():
    spec = ModelSpec(hidden=(6, 5), in_features=8, out_features=4)
    x, y = random_batch(10, 1, "float64", in_features=8, classes=4)
    report = gradient_proof(x, y, spec=spec, fd=True, fd_samples=None)
    assert report.passed
    assert sum(c.checked for c in report.fd) == sum(
        p.data.size for p in build_manual(spec, initial_state(spec, 0), "float64").parameters()
    )


def test_kinks_are_reported_not_failed():
    spec = ModelSpec(hidden=(6,), in_features=8, out_features=4)
    x, y = random_batch(10, 1, "float64", in_features=8, classes=4)
    state = initial_state(spec, 0)
    z = x @ state["layer1.weight"].T + state["layer1.bias"]
    state["layer1.bias"][2] -= z[0, 2] - 1e-7  # sample 0's unit 2 now sits 1e-7 above the kink
    t_net = build_torch(spec, state, "float64")
    torch.nn.functional.cross_entropy(t_net(torch.tensor(x)), torch.tensor(y)).backward()
    grads = {n: p.grad.numpy() for n, p in t_net.named_parameters()}
    checks = {c.name: c for c in finite_differences(spec, state, x, y, grads, samples=None)}
    assert checks["layer1.bias"].kinks >= 1
    assert checks["layer1.weight"].kinks >= 1  # row 2 of the weight moves the same unit
    assert all(c.passed_manual and c.passed_torch for c in checks.values())


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec(hidden=()),
        ModelSpec(hidden=(32,)),
        ModelSpec(hidden=(48, 32, 16)),
        ModelSpec(activation="sigmoid"),
        ModelSpec(activation="tanh"),
    ],
    ids=["softmax-regression", "one-hidden", "three-hidden", "sigmoid", "tanh"],
)
def test_other_architectures_agree(spec):
    x, y = random_batch(24, 3, "float64")
    report = gradient_proof(x, y, spec=spec, dtype="float64", fd=True, fd_samples=6)
    assert report.passed
    assert len(report.params) == 2 * (len(spec.hidden) + 1)


def test_state_round_trip_manual_torch_manual():
    spec = ModelSpec()
    state = initial_state(spec, 7)
    t_net = build_torch(spec, state, "float64")
    back = build_manual(spec, t_net.numpy_state(), "float64").state_dict()
    assert list(back) == NAMES
    for k in NAMES:
        assert back[k].shape == state[k].shape
        np.testing.assert_array_equal(back[k], state[k])
    assert state["layer1.weight"].shape == (128, 784)  # torch's (out, in) layout


def test_load_state_dict_rejects_wrong_shapes():
    net = manual.SimpleNet(dtype=np.float64)
    bad = net.state_dict()
    bad["layer2.weight"] = bad["layer2.weight"].T
    with pytest.raises(ValueError, match="layer2.weight"):
        net.load_state_dict(bad)


def test_manual_keeps_its_dtype_through_forward_and_backward():
    for dt in (np.float32, np.float64):
        net, ce = manual.SimpleNet(dtype=dt), manual.CrossEntropyLoss()
        logits = net(np.ones((3, 784)))
        ce(logits, np.array([1, 2, 3]))
        net.backward(ce.backward())
        assert logits.dtype == dt
        assert all(p.grad.dtype == dt for p in net.parameters())


def test_importing_manual_never_loads_torch():
    code = (
        "import sys, manual, manual.layers, manual.model, manual.data, manual.optim, manual.train; "
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_neither_twin_imports_the_other():
    """The MNIST family's facts are the judge's (compare.datasets): importing every module of one twin
    loads no module of the other."""
    for twin, other in (("manual", "torch_impl"), ("torch_impl", "manual")):
        code = (
            f"import pkgutil, importlib, sys, {twin}\n"
            f"for m in pkgutil.iter_modules({twin}.__path__): importlib.import_module('{twin}.' + m.name)\n"
            f"sys.exit(1 if any(n == '{other}' or n.startswith('{other}.') for n in sys.modules) else 0)"
        )
        assert subprocess.run([sys.executable, "-c", code]).returncode == 0, f"{twin} loads {other}"


def test_cli_agrees_on_random_data(tmp_path):
    out = tmp_path / "g.json"
    r = run_cli("gradcheck", "--random-data", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "verdict: AGREE" in r.stdout
    payload = json.loads(out.read_text())
    assert payload["passed"] is True and payload["dtype"] == "float64"
    assert [p["name"] for p in payload["params"]] == NAMES
    assert {"name", "shape", "max_abs_diff", "max_rel_err", "passed"} <= set(payload["params"][0])
    assert {"manual", "torch", "abs_diff"} <= set(payload["loss"])


def test_cli_exit_1_on_injected_mismatch():
    r = run_cli("gradcheck", "--random-data", "--inject-fault", "relu-mask")
    assert r.returncode == 1
    assert "MISMATCH" in r.stdout


def test_cli_exit_2_on_missing_data_dir(tmp_path):
    r = run_cli("gradcheck", "--data-dir", str(tmp_path / "nowhere"), "--no-download")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "nowhere" in lines[0] and "SIMPLENET_DATA" in lines[0]


def test_cli_gradcheck_on_tiny_idx_files(tiny_mnist):
    r = run_cli("gradcheck", "--data-dir", str(tiny_mnist), "--batch-size", "16", "--fd")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_real_mnist_batch_of_64(mnist_root, dtype):
    x, y = real_batch(mnist_root, 64, 0, dtype)
    report = gradient_proof(x, y, dtype=dtype, fd=dtype == "float64")
    assert report.passed, [(p.name, p.max_rel_err) for p in report.params]
