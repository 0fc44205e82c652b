"""simplenet layercheck: a correct layers.py agrees in every layer under both dropout conventions and any
seed; each planted bug is caught in its own layer and named by its catalogue code, and no other layer is
blamed; skeletons are NOT WRITTEN; nothing recognised is one line (issue 30)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compare.cli import main
from compare.layercheck import check_layers

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = (ROOT / "examples" / "cs231n_layers.py").read_text()
DROP_PROBABILITY = (  # the 2016-17 handout: p is the probability of dropping a unit
    "mask = (np.random.rand(*x.shape) < p) / p                   # p: the probability of keeping a unit",
    "mask = (np.random.rand(*x.shape) >= p) / (1 - p)",
)


def layers_file(tmp_path, *edits) -> Path:
    text = EXAMPLE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "layers.py"
    path.write_text(text)
    return path


def run(path, tmp_path, *extra) -> tuple[int, dict]:
    out = tmp_path / "layers.json"
    code = main(["layercheck", str(path), "--json", str(out), *extra])
    return code, {f["function"]: f for f in json.loads(out.read_text())["functions"]}


def test_the_example_agrees_in_every_layer(tmp_path, capsys):
    code, rows = run(ROOT / "examples" / "cs231n_layers.py", tmp_path)
    assert code == 0, capsys.readouterr().out
    assert set(rows) >= {"affine", "relu", "batchnorm", "batchnorm_backward_alt", "layernorm", "dropout", "conv"}
    assert {r["verdict"] for r in rows.values()} == {"AGREE"}
    out = capsys.readouterr().out
    assert "convention: p = the probability of keeping a unit (the 2018+ handout)" in out


@pytest.mark.parametrize("seed", ["1", "7", "12345"])
@pytest.mark.parametrize("convention", ["keep", "drop"])
def test_correct_code_is_never_blamed_for_any_seed_or_dropout_convention(seed, convention, tmp_path, capsys):
    path = layers_file(tmp_path, *([DROP_PROBABILITY] if convention == "drop" else []))
    code, rows = run(path, tmp_path, "--seed", seed)
    assert code == 0 and {r["verdict"] for r in rows.values()} == {"AGREE"}, capsys.readouterr().out
    word = {"keep": "keeping", "drop": "dropping"}[convention]
    assert rows["dropout"]["convention"].startswith(f"p = the probability of {word} a unit")


PLANTED = {
    "dropout-not-scaled": (
        "dropout",
        [("mask = (np.random.rand(*x.shape) < p) / p ", "mask = (np.random.rand(*x.shape) < p) / 1 ")],
    ),
    "dropout-mask-not-uniform": ("dropout", [("np.random.rand(*x.shape) < p", "np.random.randn(*x.shape) < p")]),
    "batchnorm-test-eps-missing": (
        "batchnorm",
        [("np.sqrt(running_var + eps) + beta", "np.sqrt(running_var) + beta")],
    ),
    "running-var-eps": (
        "batchnorm",
        [("running_var + (1 - momentum) * var\n", "running_var + (1 - momentum) * (var + eps)\n")],
    ),
    "layernorm-over-batch": (  # batchnorm's statistics, forward and backward, in the layernorm functions
        "layernorm",
        [
            ("mu = x.mean(axis=1, keepdims=True)", "mu = x.mean(axis=0, keepdims=True)"),
            ("std = np.sqrt(x.var(axis=1, keepdims=True) + eps)", "std = np.sqrt(x.var(axis=0, keepdims=True) + eps)"),
            ("    d = dout.shape[1]\n", "    d = dout.shape[0]\n"),
            (
                "dx = (d * dx_hat - dx_hat.sum(axis=1, keepdims=True) - x_hat * (dx_hat * x_hat).sum(axis=1, keepdims=True))",
                "dx = (d * dx_hat - dx_hat.sum(axis=0, keepdims=True) - x_hat * (dx_hat * x_hat).sum(axis=0, keepdims=True))",
            ),
        ],
    ),
    "batchnorm-backward-no-dvar": (
        "batchnorm",
        [("dx = dx_hat / std + dvar * 2 * x_hat * std / n + dmu / n", "dx = dx_hat / std + dmu / n")],
    ),
    "max-pool-gradient-to-all": (
        "max_pool",
        [("+= is_max * dout[:, :, i, j][:, :, None, None]", "+= dout[:, :, i, j][:, :, None, None]")],
    ),
    "softmax-not-stabilised": ("softmax_loss", [("shifted = x - x.max(axis=1, keepdims=True)", "shifted = x")]),
    "affine-backward-batch-mean": (
        "affine",
        [
            (
                "    db = dout.sum(axis=0)                       # dL/db",
                "    dw = dw / x.shape[0]\n    db = dout.mean(axis=0)  #",
            )
        ],
    ),
}


@pytest.mark.parametrize("code", sorted(PLANTED))
def test_a_planted_bug_is_named_in_its_own_layer_and_nowhere_else(code, tmp_path, capsys):
    layer, edits = PLANTED[code]
    exit_code, rows = run(layers_file(tmp_path, *edits), tmp_path)
    assert exit_code == 1
    assert rows[layer]["verdict"] == "MISMATCH"
    assert rows[layer]["diagnosis"]["code"] == code, rows[layer]["diagnosis"]
    blamed = {name for name, r in rows.items() if r["verdict"] != "AGREE"}
    # the example's sandwich and spatial batchnorm call affine_* and batchnorm_*: a bug there is theirs too
    callers = {"affine": {"affine_relu"}, "batchnorm": {"spatial_batchnorm"}}.get(layer, set())
    assert blamed == {layer} | callers, blamed


def test_a_batchnorm_backward_with_a_term_dropped_is_named_by_its_term(tmp_path):
    _, rows = run(layers_file(tmp_path, *PLANTED["batchnorm-backward-no-dvar"][1]), tmp_path)
    assert rows["batchnorm"]["diagnosis"]["code"].startswith("batchnorm-backward")
    assert "variance" in rows["batchnorm"]["diagnosis"]["message"]


def test_a_wrong_layer_no_bug_explains_is_unexplained_with_its_first_wrong_element(tmp_path):
    path = layers_file(tmp_path, ("return np.maximum(0, x), x", "return np.maximum(0, x) * 1.5, x"))
    code, rows = run(path, tmp_path)
    assert code == 1 and rows["relu"]["diagnosis"]["code"] == "unexplained"
    assert "out differs from torch, first at [" in rows["relu"]["diagnosis"]["message"]


SKELETON = """
import numpy as np

def affine_forward(x, w, b):
    out = None
    cache = (x, w, b)
    return out, cache

def affine_backward(dout, cache):
    dx, dw, db = None, None, None
    return dx, dw, db

def relu_forward(x):
    return np.maximum(0, x), x

def relu_backward(dout, cache):
    raise NotImplementedError
"""


def test_skeletons_are_not_written_and_do_not_fail(tmp_path, capsys):
    path = tmp_path / "skeleton.py"
    path.write_text(SKELETON)
    code, rows = run(path, tmp_path)
    assert code == 0
    assert rows["affine"]["verdict"] == "NOT WRITTEN"
    assert rows["relu"]["verdict"] == "NOT WRITTEN" and "relu_backward" in rows["relu"]["diagnosis"]["message"]
    assert [c["name"] for c in rows["relu"]["checks"]] == ["out"]  # the written forward is still judged


def test_nothing_recognised_or_an_import_error_is_exit_2_in_one_line(tmp_path, capsys):
    empty = tmp_path / "nothing.py"
    empty.write_text("def helper():\n    pass\n")
    assert main(["layercheck", str(empty)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no layer function recognised (it defines: helper)" in err and len(err.splitlines()) == 1
    broken = tmp_path / "broken.py"
    broken.write_text("import numpy as np\nx = 1 / 0\n")
    assert main(["layercheck", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert "ZeroDivisionError" in err and f"{broken}:2" in err and len(err.splitlines()) == 1


def test_a_layer_file_may_import_its_sibling_files(tmp_path):
    (tmp_path / "helpers_of_mine.py").write_text("import numpy as np\ndef relu(x):\n    return np.maximum(0, x)\n")
    path = tmp_path / "layers.py"
    path.write_text(
        "from helpers_of_mine import relu\n"
        "def relu_forward(x):\n    return relu(x), x\n"
        "def relu_backward(dout, cache):\n    return dout * (cache > 0)\n"
    )
    assert check_layers(path).ok


def test_a_sibling_edited_between_two_checks_is_read_again(tmp_path):
    """A notebook re-runs the check after fixing (or breaking) a helper file beside the layer file: the
    second check judges the helper as it now is on disk, not the copy imported by the first."""
    helper = tmp_path / "helpers_edited.py"
    helper.write_text("import numpy as np\ndef relu(x):\n    return np.maximum(0, x)\n")
    path = tmp_path / "layers.py"
    path.write_text(
        "from helpers_edited import relu\n"
        "def relu_forward(x):\n    return relu(x), x\n"
        "def relu_backward(dout, cache):\n    return dout * (cache > 0)\n"
    )
    assert check_layers(path).ok
    helper.write_text("import numpy as np\ndef relu(x):\n    return np.maximum(0.0, x) * 1.5  # broken\n")
    assert not check_layers(path).ok


def test_the_api_and_the_pytest_helper(tmp_path):
    from compare import check_layers as api_check
    from compare.testing import assert_layers_match

    report = assert_layers_match(ROOT / "examples" / "cs231n_layers.py", only="batchnorm,dropout")
    assert [r.function for r in report.results] == ["batchnorm", "dropout"]
    assert "<table>" in report._repr_html_()
    bad = layers_file(tmp_path, *PLANTED["running-var-eps"][1])
    with pytest.raises(AssertionError, match="running-var-eps"):
        assert_layers_match(bad)
    assert not api_check(bad, only=["batchnorm"]).ok


def test_every_catalogue_entry_is_named_from_its_own_numbers_and_only_from_them():
    """Each bug's re-enacted outputs, given as a learner's, fail the check and are named by that bug's code
    (not an earlier entry's: no two entries are the same numbers on the generated case)."""
    import numpy as np

    from compare.layercheck import LAYERS
    from compare.layercheck.base import Student, verdict
    from compare.plugins import resolve_module

    students = [Student(*_loaded(resolve_module(str(ROOT / "examples" / f), "test"))) for f in EXAMPLES]
    named = 0
    for k, layer in enumerate(LAYERS):
        student = next(s for s in students if s.has(layer.needs[0]))
        for code in layer.bugs:
            case = layer.case(np.random.default_rng([3, k]))
            layer.run(student, case)  # a correct learner's run fills what the reference reads (dropout's masks)
            mine = layer.reference(case, bug=code)
            mine = {key: np.float64(np.inf) if isinstance(value, str) else value for key, value in mine.items()}
            result = verdict(layer, case, mine, 1e-8)
            assert result.verdict == "MISMATCH", (layer.name, code)
            assert result.diagnosis["code"] == code, (layer.name, code, result.diagnosis)
            named += 1
    assert named >= 40


def _loaded(found):
    module, files, label = found
    return module, label, files


EXAMPLES = ("cs231n_layers.py", "cs231n_rnn_layers.py")


@pytest.mark.parametrize("seed", ["0", "3", "99"])
def test_the_recurrent_example_agrees_for_any_seed(seed, tmp_path, capsys):
    code, rows = run(ROOT / "examples" / "cs231n_rnn_layers.py", tmp_path, "--seed", seed)
    assert code == 0 and set(rows) == {"rnn_step", "rnn", "word_embedding", "temporal_affine",
                                       "temporal_softmax_loss", "lstm_step", "lstm"}, capsys.readouterr().out  # fmt: skip
    assert {r["verdict"] for r in rows.values()} == {"AGREE"}


def test_every_layer_of_the_registry_is_in_an_example():
    from compare.layercheck import LAYERS
    from compare.layercheck.base import Student
    from compare.plugins import resolve_module

    students = [Student(*_loaded(resolve_module(str(ROOT / "examples" / f), "test"))) for f in EXAMPLES]
    assert all(any(s.has(layer.needs[0]) for s in students) for layer in LAYERS)


def test_the_docs_list_every_layer_and_every_bug_code():
    from compare.layercheck import LAYERS

    text = (ROOT / "docs" / "layers.md").read_text()
    for layer in LAYERS:
        assert f"`{layer.name}`" in text, layer.name
        for code in layer.bugs:
            assert f"`{code}`" in text, code
