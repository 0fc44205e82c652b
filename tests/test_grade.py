"""simplenet grade on a synthetic class of 30 of our own: correct files, planted bugs, and three that
exit, hang and allocate without bound; every student gets the expected points and diagnoses, the
results validate against Gradescope's format, and class.html counts the bug kinds exactly (issue 33)."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = (ROOT / "examples" / "cs231n_layers.py").read_text()
OPTIM = (ROOT / "examples" / "cs231n_optim.py").read_text()

# Gradescope's results.json (its autograder specification): the fields the grader writes, their types
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["score", "execution_time", "output", "visibility", "stdout_visibility", "tests"],
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
        "stdout_visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "score", "max_score", "status", "output", "output_format", "visibility", "tags"],
                "properties": {
                    "name": {"type": "string"},
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "output": {"type": "string"},
                    "output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
                    "visibility": {"enum": ["visible", "hidden", "after_due_date", "after_published"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

PLANTS = {  # code → (edit of the example layers.py, the layers it costs)
    "dropout-not-scaled": (("mask = (np.random.rand(*x.shape) < p) / p ", "mask = (np.random.rand(*x.shape) < p) / 1 "), 1),
    "batchnorm-test-eps-missing": (("np.sqrt(running_var + eps) + beta", "np.sqrt(running_var) + beta"), 2),
    "running-var-eps": (("running_var + (1 - momentum) * var\n", "running_var + (1 - momentum) * (var + eps)\n"), 2),
    "max-pool-gradient-to-all": (("+= is_max * dout[:, :, i, j][:, :, None, None]", "+= dout[:, :, i, j][:, :, None, None]"), 1),
}  # fmt: skip
BAD = {
    "exits": ("def relu_forward(x):\n", "def relu_forward(x):\n    import os; os._exit(0)\n"),
    "hangs": ("def affine_forward(x, w, b):\n", "def affine_forward(x, w, b):\n    while True:\n        try:\n            pass\n        except:  # noqa: E722\n            pass\n"),
    "hogs": ("def softmax_loss(x, y):\n", "def softmax_loss(x, y):\n    hog = []\n    while True:\n        hog.append(np.zeros(10**8))\n"),
}  # fmt: skip
CHECKS = """
[[check]]
name = "layers.py"
kind = "layercheck"
target = "layers.py"
points = 13

[[check]]
name = "Adam"
kind = "optimcheck"
target = "optim.py:adam"
options = { steps = 20 }
points = 2
visibility = "after_due_date"
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("class")
    expected = {}
    students = [("ok", None)] * 11 + [(code, code) for code in PLANTS for _ in range(4)] + [(b, b) for b in BAD]
    for k, (kind, key) in enumerate(students):
        name = f"s{k:02d}-{kind}"
        folder = root / "subs" / name
        folder.mkdir(parents=True)
        text = LAYERS
        if key in PLANTS:
            old, new = PLANTS[key][0]
            text = text.replace(old, new)
        elif key in BAD:
            text = text.replace(*BAD[key])
        (folder / "layers.py").write_text(text)
        (folder / "optim.py").write_text(OPTIM)
        lost = PLANTS[key][1] if key in PLANTS else 13 if key in BAD else 0
        expected[name] = (15 - lost, kind)
    (root / "checks.toml").write_text(CHECKS)
    r = subprocess.run(
        [sys.executable, "-m", "compare.cli", "grade", str(root / "subs"), "--checks", str(root / "checks.toml"),
         "--out", str(root / "out"), "--timeout", "8", "--memory", "1", "--jobs", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return root, expected, r


def test_every_student_gets_the_expected_points_and_diagnosis(graded):
    root, expected, r = graded
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    for name, (points, kind) in expected.items():
        payload = json.loads((root / "out" / name / "results.json").read_text())
        jsonschema.validate(payload, GRADESCOPE_SCHEMA)
        assert payload["score"] == points, (name, payload["score"])
        layers = payload["tests"][0]
        if kind in PLANTS:
            assert layers["tags"] == [kind], (name, layers["tags"])
        elif kind in BAD:
            assert layers["tags"] == ["no-verdict"] and layers["output"].startswith("**No verdict**")
        else:
            assert layers["status"] == "passed" and layers["tags"] == []
        assert payload["tests"][1]["visibility"] == "after_due_date"
        assert "<testsuite" in (root / "out" / name / "junit.xml").read_text()


def test_the_three_bad_submissions_cost_their_own_check_with_the_reason(graded):
    root, _, _ = graded
    said = {
        b: json.loads(next((root / "out").glob(f"*-{b}")).joinpath("results.json").read_text())["tests"][0]["output"]
        for b in BAD
    }
    assert "ended the check's process in layers: relu_forward: it exited with status 0" in said["exits"]
    assert "did not finish within --timeout 8 s in layers: affine_forward" in said["hangs"]
    assert "ran out of memory" in said["hogs"]


def test_the_class_report_counts_the_bug_kinds_exactly(graded):
    root, expected, _ = graded
    page = (root / "out" / "class.html").read_text()
    for code in PLANTS:
        assert re.search(rf"<td>4 of 30</td><td><code>{re.escape(code)}</code>", page), code
    assert "<td>3 of 30</td><td><code>no-verdict</code>" in page
    rows = list(csv.DictReader((root / "out" / "grades.csv").open()))
    assert {row["student"]: float(row["score"]) for row in rows} == {n: p for n, (p, _) in expected.items()}


def test_a_second_run_skips_the_graded_students(graded, tmp_path):
    root, _, _ = graded
    r = subprocess.run(
        [sys.executable, "-m", "compare.cli", "grade", str(root / "subs"), "--checks", str(root / "checks.toml"),
         "--out", str(root / "out"), "--timeout", "4"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0 and r.stdout.count("graded before") == 30, r.stdout


@pytest.mark.parametrize(
    "toml, says",
    [
        ('[[check]]\nname = "x"\nkind = "lint"\ntarget = "a.py"\n', "kind 'lint' is unknown"),
        ('[[check]]\nname = "x"\nkind = "gradcheck"\ntarget = "a.py:f"\noptions = { l2 = -1 }\n', "l2=-1: -1.0 must be at least 0"),
        ('[[check]]\nname = "x"\nkind = "layercheck"\ntarget = "a.py"\nvisibility = "secret"\n', "is not Gradescope's"),
        ("not toml [", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_checks_file_is_one_line_naming_the_check(toml, says, tmp_path, capsys):
    from compare.cli import main

    (tmp_path / "checks.toml").write_text(toml)
    (tmp_path / "subs" / "a").mkdir(parents=True)
    assert (
        main(["grade", str(tmp_path / "subs"), "--checks", str(tmp_path / "checks.toml"), "--out", str(tmp_path / "o")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1, err


def test_the_example_checks_files_are_valid():
    from compare.grade import read_checks

    for path in sorted((ROOT / "examples" / "grading").glob("*.toml")):
        assert read_checks(path), path


def test_one_submission_for_gradescope_with_an_assignment_1_net(tmp_path):
    from test_real_bugs import FACTORY, TWO_LAYER_NET

    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "neural_net.py").write_text(TWO_LAYER_NET)
    (sub / "factory.py").write_text(FACTORY)
    results = tmp_path / "results" / "results.json"
    r = subprocess.run(
        [sys.executable, "-m", "compare.cli", "grade", str(sub), "--checks",
         str(ROOT / "examples" / "grading" / "cs231n_assignment1.toml"), "--gradescope", str(results)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    payload = json.loads(results.read_text())
    jsonschema.validate(payload, GRADESCOPE_SCHEMA)
    assert payload["score"] == 10 and payload["tests"][0]["status"] == "passed", payload


def test_the_grading_benchmarks_class_and_targets(tmp_path):
    """bench --grade's synthetic class (its timing is the benchmark's, never a test's)."""
    from compare.bench.grading import make_class
    from compare.bench.targets import grade_targets
    from compare.grade import read_checks

    subs = make_class(tmp_path, 4)
    assert sorted(p.name for p in subs.iterdir()) == ["s000", "s001", "s002", "s003"]
    assert "< p) / 1 " in (subs / "s000" / "layers.py").read_text()  # every third planted
    assert "< p) / 1 " not in (subs / "s001" / "layers.py").read_text()
    checks = read_checks(tmp_path / "checks.toml")  # issue 33's class: a layer file, four update rules, a net
    assert [c.kind for c in checks] == ["layercheck", *["optimcheck"] * 4, "gradcheck"]
    assert [c.target for c in checks[1:5]] == [
        "optim.py:sgd",
        "optim.py:sgd_momentum",
        "optim.py:rmsprop",
        "optim.py:adam",
    ]
    met = grade_targets({"ratio": 0.05, "overhead_per_submission_seconds": 0.4})
    assert [t["met"] for t in met] == [True, False]


def test_the_instructors_deductions_price_each_diagnosis(tmp_path):
    from compare.grade import read_checks
    from compare.grade.execute import run

    (tmp_path / "checks.toml").write_text(
        CHECKS.replace("points = 13\n", 'points = 13\ndeductions = { "dropout-not-scaled" = 0.5 }\n', 1)
    )
    check = read_checks(tmp_path / "checks.toml")[0]
    old, new = PLANTS["dropout-not-scaled"][0]
    (tmp_path / "layers.py").write_text(LAYERS.replace(old, new))
    result = run(check, tmp_path)
    assert result["score"] == pytest.approx(12.5) and result["tags"] == ["dropout-not-scaled"]
    old, new = PLANTS["running-var-eps"][0]  # not in the table: its layers lose their whole share
    (tmp_path / "layers.py").write_text(LAYERS.replace(old, new))
    assert run(check, tmp_path)["score"] == pytest.approx(11)


def test_a_class_with_batchnorm_and_dropout_nets_is_graded_by_gradcheck_and_compare(tmp_path, tiny_mnist):
    """The net-level checks a CS231n assignment 2 grader wants (issue 31 with issue 33): each student's own
    FullyConnectedNet class judged with batchnorm and dropout, by gradcheck and by a float64 lockstep compare;
    the student who forgets dropout's / p loses both checks, named."""
    net = (ROOT / "examples" / "cs231n_fc_net.py").read_text()
    for name, layers in (("s1-ok", LAYERS), ("s2-unscaled", LAYERS.replace(*PLANTS["dropout-not-scaled"][0]))):
        folder = tmp_path / "subs" / name
        folder.mkdir(parents=True)
        (folder / "cs231n_layers.py").write_text(layers)
        (folder / "cs231n_fc_net.py").write_text(net)
    model = 'norm = "batchnorm", dropout = 0.2, hidden = "16,12"'
    (tmp_path / "checks.toml").write_text(
        f"""
[[check]]
name = "FullyConnectedNet gradients, batchnorm and dropout"
kind = "gradcheck"
target = "cs231n_fc_net.py:FullyConnectedNet"
options = {{ {model}, batch_size = 16 }}
points = 4

[[check]]
name = "FullyConnectedNet trained beside torch"
kind = "compare"
target = "cs231n_fc_net.py:FullyConnectedNet"
options = {{ {model}, epochs = 1, batch_size = 8, dtype = "float64", data_dir = "{tiny_mnist}", download = false }}
points = 6
"""
    )
    r = subprocess.run(
        [sys.executable, "-m", "compare.cli", "grade", str(tmp_path / "subs"), "--checks", str(tmp_path / "checks.toml"),
         "--out", str(tmp_path / "out"), "--timeout", "60"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    ok = json.loads((tmp_path / "out" / "s1-ok" / "results.json").read_text())
    bad = json.loads((tmp_path / "out" / "s2-unscaled" / "results.json").read_text())
    jsonschema.validate(ok, GRADESCOPE_SCHEMA)
    assert ok["score"] == 10, ok
    assert bad["score"] == 0, bad
    assert "dropout-not-scaled" in bad["tests"][0]["tags"]
    assert "dropout-not-scaled" in bad["tests"][1]["output"]
