"""How twins part (compare.divergence): chaos told from bugs by re-synchronising, collapse to chance,
and a non-finite loss said with what the other twin had - each planted, and never said of correct runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from compare import divergence
from compare.cli import main

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = (ROOT / "examples" / "minimal_ours.py").read_text()


def lockstep(tiny_mnist, tmp_path, *extra, lr="0.5", epochs="3"):
    out = tmp_path / "r.json"
    code = main(
        [
            "compare",
            "--data-dir",
            str(tiny_mnist),
            "--logdir",
            str(tmp_path / "runs"),
            "--dtype",
            "float64",
            "--schedule",
            "none",
            "--epochs",
            epochs,
            "--batch-size",
            "4",
            "--lr",
            lr,
            "--log-every",
            "8",
            "--no-images",
            "--quiet",
            "--json",
            str(out),
            *extra,
        ]
    )
    return code, json.loads(out.read_text())


def plugin(tmp_path, old: str, new: str) -> str:
    assert old in MINIMAL
    path = tmp_path / "mlp.py"
    path.write_text(MINIMAL.replace(old, new))
    return f"{path}:MLP"


def test_a_chaotic_float64_run_of_correct_twins_agrees_with_a_note(tiny_mnist, tmp_path, capsys):
    code, r = lockstep(tiny_mnist, tmp_path)
    out = capsys.readouterr().out
    assert code == 0 and r["passed"], out
    assert r["chaos"]["chaotic"] and r["chaos"]["agree"] and r["judged_steps"] == 8
    assert any(n.startswith("chaotic run: the twins parted after step 8") for n in r["notes"])
    assert "judged: steps 1-8 of 72" in out and "verdict: AGREE" in out
    judged = {c["check"]: c for c in r["checks"]}
    assert judged["step_loss"]["passed"] and judged["step_loss_whole_run"]["measured"] > 1e-9


@pytest.mark.parametrize(
    "old, new, says",
    [
        (
            "self.b[k].grad = g.sum(axis=0)",
            "self.b[k].grad = g.sum(axis=0) * (1 + 1e-7)",
            "the twins' gradients differ",
        ),
        (
            "                return z                              # logits",
            "                return z * (1 + 1e-9)",
            "logits",
        ),
    ],
)
def test_a_planted_small_bug_in_an_unstable_run_is_still_a_mismatch(old, new, says, tiny_mnist, tmp_path, capsys):
    code, r = lockstep(tiny_mnist, tmp_path, "--manual", plugin(tmp_path, old, new))
    assert code == 1 and not r["passed"]
    assert not r["chaos"]["chaotic"] and r["judged_steps"] is None
    assert any(says in n for n in r["notes"]), r["notes"]


@pytest.mark.parametrize("seed", ["0", "1", "2"])
def test_a_stable_correct_run_has_no_chaos_nor_collapse_note(seed, tiny_mnist, tmp_path):
    code, r = lockstep(tiny_mnist, tmp_path, "--seed", seed, lr="0.05", epochs="2")
    assert code == 0 and r["chaos"] is None and r["judged_steps"] is None
    assert not any("chaotic" in n or "collapsed" in n or "unstable" in n for n in r["notes"]), r["notes"]


def test_inf_logits_from_a_plugin_say_what_the_other_twin_had(tiny_mnist, tmp_path, capsys):
    target = plugin(
        tmp_path,
        "                return z                              # logits",
        "                self.calls = getattr(self, 'calls', 0) + 1\n"
        "                return z if self.calls < 5 else z + np.inf",
    )
    assert main(
        ["compare", "--data-dir", str(tiny_mnist), "--logdir", str(tmp_path / "runs"), "--epochs", "1",
         "--batch-size", "4", "--dtype", "float64", "--manual", target, "--quiet", "--no-images"]
    ) == 3  # fmt: skip
    err = capsys.readouterr().err
    assert "loss became nan at step 5 (its logits held inf), while torch's loss at that step is" in err
    assert "not the learning rate alone" in err and "try a smaller --lr" not in err


def test_collapse_is_the_side_and_the_step_where_training_fell_back_to_chance():
    rng = np.random.default_rng(0)
    learning = list(np.linspace(2.3, 0.4, 300) + rng.normal(0, 0.02, 300))
    fell = learning + list(2.302 + rng.normal(0, 0.01, 400))
    found = divergence.collapse(fell, [], 10)
    assert found is not None and 300 <= found["step"] <= 420
    assert divergence.collapse(learning + list(0.4 + rng.normal(0, 0.02, 400)), [], 10) is None
    never_learned = list(2.302 + rng.normal(0, 0.01, 700))  # unstable from the start: not a collapse
    assert divergence.collapse(never_learned, [], 10) is None
    epochs = [{"test_accuracy": 0.8}, {"test_accuracy": 0.1135}]
    assert divergence.collapse([], epochs, 10) == {"epoch": 2, "test_accuracy": 0.1135, "chance_loss": np.log(10)}


def test_loss_growth_reads_the_first_difference_and_its_growth():
    class H:
        def __init__(self, losses):
            self.step_loss = losses

    a = [1.0] * 10 + [1.0 + 1e-16 * 2**k for k in range(20)]
    origin, growth = divergence.loss_growth({"manual": H(a), "torch": H([1.0] * 30)})
    assert origin == pytest.approx(2.2e-16, rel=0.5) and growth == pytest.approx(2.0, rel=0.2)
    assert divergence.loss_growth({"manual": H([1.0] * 5), "torch": H([1.0] * 5)}) == (None, None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compare_names_the_cause_gradcheck_would_where_the_twins_part(dtype, tiny_mnist, tmp_path, capsys):
    """A ReLU on the scores (its backward consistent with it): compare says output-activation, the cause
    gradcheck names, at the first step the twins part - in float32 too, whose curves it judges."""
    target = plugin(
        tmp_path,
        "                return z                              # logits",
        "                self.scores = z\n                return np.maximum(z, 0)",
    )
    path = Path(target.rsplit(":", 1)[0])
    path.write_text(path.read_text().replace("    def backward(self, g):                            # g = dL/dlogits (N, C)\n",
                                             "    def backward(self, g):\n        g = g * (self.scores > 0)\n"))  # fmt: skip
    code = main(["compare", "--manual", target, "--data-dir", str(tiny_mnist), "--logdir", str(tmp_path / "runs"),
                 "--dtype", dtype, "--epochs", "1", "--batch-size", "8", "--log-every", "4", "--quiet", "--no-images",
                 "--json", str(tmp_path / "c.json")])  # fmt: skip
    notes = json.loads((tmp_path / "c.json").read_text())["notes"]
    assert code == 1 and any("as gradcheck names it there: [output-activation]" in n for n in notes), notes


@pytest.mark.parametrize("seed", ["0", "1"])
def test_correct_float32_twins_that_part_are_never_called_a_real_mismatch(seed, tiny_mnist, tmp_path):
    """An unstable float32 run parts by rounding: the probe runs where the losses part, finds the twins
    equal at the same parameters, and says nothing of a cause (its curves are judged as before)."""
    _, r = lockstep(tiny_mnist, tmp_path, "--seed", seed, "--dtype", "float32", lr="0.5", epochs="3")
    assert r["chaos"] is not None and r["chaos"]["agree"], r["chaos"]
    assert not any("put on the same parameters" in n for n in r["notes"]), r["notes"]
