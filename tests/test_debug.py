"""The debugging routine: overfit one batch, learning-rate sweep, non-finite stop, diagnostics."""

import json
import subprocess
import sys

import numpy as np
import pytest

import manual.layers
from compare.cli import main


def broken_linear_backward(self, grad_out, need_input_grad=True):
    """A backward that forgets the weight gradient: only biases can learn."""
    self.bias.accumulate(grad_out.sum(axis=0))
    return grad_out @ self.weight.data if need_input_grad else None


def test_overfit_both_twins_reach_the_target(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "o.json"
    assert main(["overfit", "--impl", "both", "--data-dir", str(tiny_mnist), "--json", str(out)]) == 0
    payload = json.loads(out.read_text())
    text = capsys.readouterr().out
    for impl in ("manual", "torch"):
        r = payload["results"][impl]
        assert r["reached"] and r["final_loss"] < 1e-3 and r["step"] >= 1
        assert f"at step {r['step']}" in text
    # same start, same batch: the two twins need the same number of steps
    assert payload["results"]["manual"]["step"] == payload["results"]["torch"]["step"]


def test_overfit_fails_with_a_broken_manual_backward(tiny_mnist, monkeypatch, capsys):
    monkeypatch.setattr(manual.layers.Linear, "backward", broken_linear_backward)
    code = main(["overfit", "--impl", "both", "--data-dir", str(tiny_mnist), "--max-steps", "300"])
    text = capsys.readouterr().out
    assert code == 1
    assert "manual  FAILED" in text and "pipes are broken" in text
    assert "torch   reached" in text


def test_non_finite_loss_stops_with_one_line(tiny_mnist, tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "compare.cli",
            "train",
            "--impl",
            "manual",
            "--quiet",
            "--data-dir",
            str(tiny_mnist),
            "--logdir",
            str(tmp_path),
            "--lr",
            "1e6",
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--log-every",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 3
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "manual twin" in lines[0] and "at step" in lines[0]
    step = int(lines[0].split("at step ")[1].split(";")[0].split(" ")[0])
    assert 1 <= step <= 36


def test_sweep_shows_divergence_and_a_good_rate(tiny_mnist, tmp_path, capsys):
    out = tmp_path / "s.json"
    assert (
        main(
            [
                "sweep",
                "--impl",
                "manual",
                "--lr",
                "0.0001,0.1,1000",
                "--epochs",
                "3",
                "--batch-size",
                "16",
                "--data-dir",
                str(tiny_mnist),
                "--logdir",
                str(tmp_path / "runs"),
                "--quiet",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    payload = json.loads(out.read_text())
    verdicts = {r["lr"]: r["verdict"] for r in payload["runs"]}
    assert verdicts[1000] == "diverged"
    assert verdicts[0.0001] == "barely moved"
    assert verdicts[0.1] == "learns" and payload["best_lr"] == 0.1
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 1
    exp = tmp_path / "runs" / runs[0]
    assert {"lr=0.0001", "lr=0.1", "lr=1000"} <= {p.name for p in exp.iterdir()}
    assert "diverged" in capsys.readouterr().out


def test_diagnostics_in_json_and_tensorboard(tiny_mnist, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "t.json"
    assert (
        main(
            [
                "train",
                "--impl",
                "torch",
                "--quiet",
                "--data-dir",
                str(tiny_mnist),
                "--logdir",
                str(tmp_path / "runs"),
                "--experiment",
                "d",
                "--epochs",
                "2",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    diag = json.loads(out.read_text())["epochs"][-1]["diagnostics"]
    assert set(diag) == {
        "grad_norm/layer1",
        "grad_norm/layer2",
        "grad_norm/layer3",
        "update_ratio/layer1",
        "update_ratio/layer2",
        "update_ratio/layer3",
        "dead_relu/act1",
        "dead_relu/act2",
    }
    assert all(0 <= diag[f"dead_relu/act{i}"] <= 1 for i in (1, 2))
    assert all(0 < diag[f"update_ratio/layer{i}"] < 1 for i in (1, 2, 3))
    acc = EventAccumulator(str(tmp_path / "runs" / "d" / "torch"), size_guidance={"scalars": 0})
    acc.Reload()
    assert "per_layer/dead_relu/act1" in acc.Tags()["scalars"]


def test_dead_relu_fraction_counts_units_that_never_fire():
    import torch

    import manual.train
    import torch_impl.train
    from compare.config import ModelSpec
    from compare.twins import build_manual, build_torch, initial_state

    spec = ModelSpec(hidden=(8, 4), in_features=5, out_features=3)
    state = initial_state(spec, 0)
    state["layer1.bias"][:2] = -1e6  # units 0 and 1 of layer 1 can never fire
    x = np.random.default_rng(0).standard_normal((50, 5))
    ours = manual.train.dead_relu_fraction(build_manual(spec, state, "float64"), x)
    theirs = torch_impl.train.dead_relu_fraction(build_torch(spec, state, "float64"), torch.tensor(x))
    assert ours == theirs
    assert ours[0] == pytest.approx(2 / 8)


@pytest.mark.parametrize(
    "flags",
    [
        ["--hidden", "none"],
        ["--hidden", "32"],
        ["--hidden", "24,16,12"],
        ["--activation", "sigmoid"],
        ["--activation", "tanh", "--optimizer", "adamw"],
        ["--optimizer", "adam", "--amsgrad"],
        ["--momentum", "0.9", "--nesterov", "--weight-decay", "1e-3", "--schedule", "step", "--step-size", "1"],
    ],
    ids=["softmax-regression", "one-hidden", "three-hidden", "sigmoid", "tanh-adamw", "amsgrad", "nesterov-step"],
)
def test_lockstep_float64_for_other_specs_and_optimizers(tiny_mnist, tmp_path, flags):
    out = tmp_path / "c.json"
    assert (
        main(
            [
                "compare",
                "--quiet",
                "--data-dir",
                str(tiny_mnist),
                "--logdir",
                str(tmp_path / "runs"),
                "--epochs",
                "2",
                "--batch-size",
                "16",
                "--dtype",
                "float64",
                "--json",
                str(out),
                *flags,
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["max_abs_loss_diff"] <= 1e-9


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags",
    [["--optimizer", "adam"], ["--optimizer", "adam", "--hidden", "256,128,64", "--activation", "tanh"]],
    ids=["adam", "adam-256-128-64-tanh"],
)
def test_full_mnist_float64_lockstep_adam(mnist_root, tmp_path, flags):
    out = tmp_path / "c.json"
    code = main(
        [
            "compare",
            "--quiet",
            "--data-dir",
            str(mnist_root),
            "--logdir",
            str(tmp_path / "runs"),
            "--epochs",
            "1",
            "--dtype",
            "float64",
            "--json",
            str(out),
            *flags,
        ]
    )
    payload = json.loads(out.read_text())
    assert code == 0 and payload["max_abs_loss_diff"] <= 1e-9


@pytest.mark.slow
def test_full_mnist_overfit_both(mnist_root, capsys):
    assert main(["overfit", "--impl", "both", "--data-dir", str(mnist_root)]) == 0
    assert "reached loss" in capsys.readouterr().out


@pytest.mark.parametrize("batch", [50, 20])
def test_the_evaluation_measures_dead_units_in_the_same_pass(batch):
    """The epoch end's one forward pass over the test set: both twins' evaluate reads the ReLU
    activity of its first batch, equal to a pass of dead_relu_fraction's own over those rows (issue 22)."""
    import torch

    import manual.train
    import torch_impl.train
    from compare.config import ModelSpec
    from compare.twins import build_manual, build_torch, initial_state

    spec = ModelSpec(hidden=(8, 4), in_features=5, out_features=3)
    state = initial_state(spec, 0)
    state["layer1.bias"][:2] = -1e6  # dead
    state["layer2.bias"][3] = -1e6
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((50, 5)), rng.integers(0, 3, 50)
    ours, theirs = build_manual(spec, state, "float64"), build_torch(spec, state, "float64")
    ours(x[batch:] * 1e3)  # a later, different batch: its masks must not be what is read
    got = manual.train.evaluate(ours, manual.CrossEntropyLoss(), x, y, batch, ours.acts)
    got_t = torch_impl.train.evaluate(
        theirs, torch_impl.CrossEntropyLoss(), torch.tensor(x), torch.tensor(y), batch, theirs.acts
    )
    want = manual.train.dead_relu_fraction(build_manual(spec, state, "float64"), x[:batch])
    assert got[4] == want == got_t[4]
    assert want[0] == pytest.approx(2 / 8) and want[1] >= 1 / 4
    assert got[:2] == pytest.approx(got_t[:2])
    assert not theirs.acts[0]._forward_hooks  # the hooks are gone after the first batch


def test_an_epoch_end_makes_no_second_pass_for_dead_units(tiny_mnist, tmp_path, monkeypatch):
    """Our twins' runs take the dead-unit fractions from the evaluation: dead_relu_fraction never runs."""
    import manual.train
    import torch_impl.train
    from compare import api

    def forbidden(*a, **k):
        raise AssertionError("a second forward pass over the test images")

    monkeypatch.setattr(manual.train, "dead_relu_fraction", forbidden)
    monkeypatch.setattr(torch_impl.train, "dead_relu_fraction", forbidden)
    report = api.compare_training("manual", data_dir=tiny_mnist, epochs=1, batch_size=16, logdir=tmp_path)
    (epoch,) = report.epochs
    for twin in ("manual", "torch"):
        dead = [epoch[twin]["diagnostics"][f"dead_relu/act{i}"] for i in (1, 2)]
        assert all(0 <= d <= 1 for d in dead)
    assert epoch["manual"]["diagnostics"] == pytest.approx(epoch["torch"]["diagnostics"], rel=1e-5)
