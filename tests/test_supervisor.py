"""The supervisor holds the verdict: a worker that exits, crashes, hangs or ignores signals never takes
it along (compare.supervisor).  Most cases drive ``supervise`` with a small torch-free worker in a plain
Python process (a fraction of a second each); the end-to-end cases run the real commands on a plug-in."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from test_sandbox import CS231N, cs231n_plugin, train_args

from helpers import cli, one_line

ROOT = Path(__file__).resolve().parents[1]

# A worker program: WORK is the body of work(), run by supervise("demo", work) as the CLI runs a command.
PROGRAM = """
import json, os, signal, sys, time
from compare import supervisor
from compare.supervisor import BEACON, learner

def work():
{body}

sys.exit(supervisor.supervise("demo", work))
"""


def supervised(body: str, *, env=None, signal_after=None, group=False, json_path=None):
    """Run a supervised worker whose work() is ``body``; send ``signal_after=(seconds, signum)`` to the
    supervisor (or, with ``group``, to its whole process group as a terminal would).  (code, stderr, seconds
    from the signal, or from the start, to the end)."""
    if json_path:
        body = f"BEACON.tell(json={str(json_path)!r})\n" + body
    source = PROGRAM.format(body=textwrap.indent(body, "    "))
    proc = subprocess.Popen(
        [sys.executable, "-c", source],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=group,
        preexec_fn=None if group else (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)),
    )
    start = time.monotonic()
    if signal_after:
        seconds, signum = signal_after
        time.sleep(seconds)
        start = time.monotonic()
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err, time.monotonic() - start


@pytest.mark.parametrize("code", [0, 1, 3])
def test_a_verdict_is_the_exit_code(code):
    rc, err, _ = supervised(f"print('judged', file=sys.stderr)\nreturn {code}")
    assert (rc, err) == (code, "judged\n")


@pytest.mark.parametrize(
    "ending, says",
    [
        ("os._exit(0)", "exited with status 0"),
        ("sys.exit(0)", "exited with status 0"),
        ("os.kill(os.getpid(), signal.SIGSEGV)", "killed by SIGSEGV"),
    ],
)
def test_a_worker_that_ends_in_learner_code_without_a_verdict_is_exit_2_naming_the_phase(ending, says, tmp_path):
    record = tmp_path / "out.json"
    body = f"BEACON.begin_step(12)\nwith learner('plug-in theirs.make: backward'):\n    {ending}\nreturn 0"
    rc, err, _ = supervised(body, json_path=record)
    line = one_line(err)
    assert rc == 2, err
    assert (
        says in line
        and "while in plug-in theirs.make: backward, step 12" in line
        and "without reaching a verdict" in line
    )
    saved = json.loads(record.read_text())
    assert saved["passed"] is False and saved["exit_code"] == 2 and saved["error"] in line


def test_a_worker_killed_by_sigkill_is_exit_4_naming_memory():
    rc, err, _ = supervised("with learner('plug-in big.make: forward'):\n    os.kill(os.getpid(), signal.SIGKILL)")
    assert rc == 4 and "killed by SIGKILL" in one_line(err) and "out-of-memory" in err


def test_a_worker_ending_in_our_own_code_is_called_a_bug_of_ours():
    rc, err, _ = supervised("with learner('plug-in p.make: backward'):\n    pass\nos._exit(0)")
    assert rc == 2 and "in the judge's own code (the last learner code it ran: plug-in p.make: backward)" in err


HANG = """
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
BEACON.limits({grace}, {timeout})
BEACON.begin_step(7)
with learner('plug-in hang.make: backward'):
    while True:
        try:
            time.sleep(0.01)
        except:  # noqa: E722 - swallows everything, as the public hang does
            pass
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_learner_code_ignoring_signals_in_a_bare_except_loop_is_killed_after_the_grace(signum):
    rc, err, after = supervised(HANG.format(grace=1, timeout=None), signal_after=(0.5, signum))
    assert rc == 128 + signum, err
    assert 1.0 <= after < 2.5, after
    line = one_line(err)
    assert f"did not stop within --stop-grace 1 s of {signal.Signals(signum).name}" in line
    assert "in plug-in hang.make: backward, step 7" in line


def test_a_step_past_the_step_timeout_is_killed_with_exit_4(tmp_path):
    record = tmp_path / "r.json"
    rc, err, took = supervised(HANG.format(grace=5, timeout=1), json_path=record)
    assert rc == 4, err
    assert 1.0 <= took < 3.0, took
    assert "step 7 ran past --step-timeout 1 s in plug-in hang.make: backward" in one_line(err)
    assert json.loads(record.read_text())["exit_code"] == 4


def test_a_signal_to_the_whole_group_reaches_the_worker_once():
    """The terminal's Ctrl-C (and ``kill -INT -PGID``) reaches the worker itself; the supervisor must not
    forward a second one, which the training loop would take for the hard stop."""
    body = """
got = []
signal.signal(signal.SIGINT, lambda *a: got.append(1))
end = time.monotonic() + 1.0
while time.monotonic() < end:
    time.sleep(0.01)
return 10 + len(got)
"""
    rc, err, _ = supervised(body, signal_after=(0.4, signal.SIGINT), group=True)
    assert rc == 11, err


def test_a_signal_to_the_supervisor_alone_is_forwarded():
    body = """
got = []
signal.signal(signal.SIGTERM, lambda *a: got.append(1))
end = time.monotonic() + 1.0
while time.monotonic() < end:
    time.sleep(0.01)
return 10 + len(got)
"""
    rc, err, _ = supervised(body, signal_after=(0.4, signal.SIGTERM))
    assert rc == 11, err


def test_killing_the_supervisor_kills_the_worker(tmp_path):
    mark = tmp_path / "pid"
    body = f"open({str(mark)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\nreturn 0"
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM.format(body=textwrap.indent(body, "    "))])
    deadline = time.monotonic() + 30
    while not (mark.exists() and mark.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    worker = int(mark.read_text())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(worker, signal.SIGKILL)
    pytest.fail("the worker outlived its supervisor")


# --- the real commands ------------------------------------------------------------------------
def test_a_plugin_calling_os_exit_in_gradcheck_is_exit_2_with_the_failure_in_the_json(tmp_path):
    target = cs231n_plugin(tmp_path, "import os; os._exit(0)")
    record = tmp_path / "ex.json"
    r = cli("gradcheck", "--random-data", "--batch-size", "8", "--manual", target, "--json", record)
    line = one_line(r.stderr)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "exited with status 0 while in plug.FullyConnectedNet: backward" in line
    assert json.loads(record.read_text())["verdict"] == "ERROR"


def test_an_update_rule_calling_os_exit_in_optimcheck_is_exit_2(tmp_path):
    rule = tmp_path / "rule.py"
    rule.write_text("import os\ndef sgd(w, dw, config=None):\n    os._exit(0)\n")
    r = cli("optimcheck", "--plugin-optimizer", f"{rule}:sgd")
    assert r.returncode == 2 and "while in rule.sgd: sgd(w, dw, config)" in one_line(r.stderr)


def test_a_hung_plugin_ignoring_sigterm_in_compare_is_gone_after_the_step_timeout(tmp_path, tiny_mnist):
    path = tmp_path / "hang.py"
    path.write_text(
        CS231N
        + textwrap.dedent("""
        import os, signal, time
        class Hanging(FullyConnectedNet):
            calls = 0
            def loss(self, X, y=None):
                if y is not None:
                    Hanging.calls += 1
                    if Hanging.calls == 3:
                        signal.signal(signal.SIGTERM, signal.SIG_IGN)
                        while True:
                            try:
                                time.sleep(0.01)
                            except:  # noqa: E722
                                pass
                return super().loss(X, y)
        """)
    )
    args = train_args(tiny_mnist, tmp_path, "--manual", f"{path}:Hanging", "--step-timeout", "2")
    args[args.index("train") : args.index("train") + 3] = ["compare"]
    started = time.monotonic()
    r = cli(*args, "--json", tmp_path / "c.json")
    assert r.returncode == 4, (r.stdout, r.stderr)
    assert "step 3 ran past --step-timeout 2 s in hang.Hanging: backward" in r.stderr
    assert time.monotonic() - started < 30
    assert json.loads((tmp_path / "c.json").read_text())["exit_code"] == 4


# --- messages name the learner's own call ----------------------------------------------------------
MINIMAL = (ROOT / "examples" / "minimal_ours.py").read_text()
CALL_START = "    def __call__(self, x):\n"


@pytest.mark.parametrize(
    "first_line, says",
    [
        ("raise SystemExit(3)", "forward (__call__) called sys.exit(3) at "),
        ("return list(x)", "the forward (__call__) returned a list, not an array of logits"),
    ],
)
def test_the_forward_of_an_ours_plugin_is_named_forward(first_line, says, tmp_path, capsys):
    from compare.cli import main

    path = tmp_path / "mine.py"
    path.write_text(MINIMAL.replace(CALL_START, CALL_START + f"        {first_line}\n"))
    assert main(["gradcheck", "--random-data", "--batch-size", "4", "--manual", f"{path}:MLP"]) == 2
    line = one_line(capsys.readouterr().err)
    assert says in line and "backward" not in line.split(says)[0], line


class Halt(BaseException):
    pass


def make_halting(**kw):
    raise Halt("stop")


def test_a_factory_raising_a_base_exception_is_exit_2_in_one_line(capsys):
    from compare.cli import main

    assert main(["gradcheck", "--random-data", "--manual", "tests.test_supervisor:make_halting"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "raised Halt (a BaseException) at " in line and "test_supervisor.py:" in line


def test_run_colours_serve_any_number_of_runs():
    """simplenet report on a logdir of 21 experiments ran out of colours (StopIteration)."""
    from compare.figures import run_colours

    runs = [f"exp{k}/manual" for k in range(25)] + ["torch"]
    colours = run_colours(runs)
    assert colours["torch"] == "C0" and len(colours) == 26 and "C0" not in [colours[r] for r in runs[:-1]]


# --- one writer per run; a resume says when the plug-in changed -----------------------------------
def train_minimal(tiny_mnist, tmp_path, *extra):
    from compare.cli import main

    return main(
        ["train", "--impl", "manual", "--manual", str(tmp_path / "mlp.py") + ":MLP", "--epochs", "1",
         "--batch-size", "16", "--data-dir", str(tiny_mnist), "--logdir", str(tmp_path / "runs"),
         "--experiment", "r", "--schedule", "none", "--quiet", "--no-images", *map(str, extra)]
    )  # fmt: skip


def test_a_run_being_written_by_another_process_is_refused(tiny_mnist, tmp_path, capsys):
    from compare.checkpoint import lock_run_dir, unlock_run_dir

    (tmp_path / "mlp.py").write_text(MINIMAL)
    assert train_minimal(tiny_mnist, tmp_path) == 0
    held = lock_run_dir(tmp_path / "runs" / "r")  # as a second writer's process would hold it
    try:
        capsys.readouterr()
        assert (
            train_minimal(tiny_mnist, tmp_path, "--resume", tmp_path / "runs" / "r" / "checkpoints", "--epochs", "2")
            == 2
        )
        line = one_line(capsys.readouterr().err)
        assert f"is being written by another simplenet process (pid {os.getpid()})" in line
    finally:
        unlock_run_dir(held)
    assert (
        train_minimal(tiny_mnist, tmp_path, "--resume", tmp_path / "runs" / "r" / "checkpoints", "--epochs", "2") == 0
    )


def test_a_resume_on_an_edited_plugin_file_says_so(tiny_mnist, tmp_path, capsys):
    path = tmp_path / "mlp.py"
    path.write_text(MINIMAL)
    assert train_minimal(tiny_mnist, tmp_path) == 0
    path.write_text(MINIMAL + "\n# edited after the run\n")
    assert (
        train_minimal(tiny_mnist, tmp_path, "--resume", tmp_path / "runs" / "r" / "checkpoints", "--epochs", "2") == 0
    )
    err = capsys.readouterr().err
    assert f"note: {path.resolve()} changed since the checkpoint was written" in one_line(err)
    capsys.readouterr()  # the file as the last checkpoint had it: no note
    assert (
        train_minimal(tiny_mnist, tmp_path, "--resume", tmp_path / "runs" / "r" / "checkpoints", "--epochs", "3") == 0
    )
    assert "changed since the checkpoint" not in capsys.readouterr().err


def test_a_plugin_that_leaves_a_bias_gradient_out_trains_to_the_end(tmp_path, tiny_mnist, capsys):
    """The docs say a parameter whose gradient a plug-in does not give is left alone; the epoch end's
    diagnostics read every gradient and crashed on the missing one (KeyError: 'layer1.bias')."""
    from compare.cli import main

    target = cs231n_plugin(tmp_path, "")  # the example itself, its b1 gradient then dropped
    path = Path(target.rsplit(":", 1)[0])
    path.write_text(
        path.read_text().replace(
            "        return loss, grads\n", "        grads.pop('b1')\n        return loss, grads\n"
        )
    )
    code = main(["train", "--impl", "manual", "--manual", target, "--epochs", "1", "--batch-size", "16", "--data-dir",
                 str(tiny_mnist), "--logdir", str(tmp_path / "runs"), "--quiet", "--no-images"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
