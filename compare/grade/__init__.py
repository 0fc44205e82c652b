"""``simplenet grade SUBMISSIONS --checks CHECKS.toml``: a class's submissions judged in one command.

    simplenet grade submissions/ --checks checks.toml --out graded/     # a folder of student folders
    simplenet grade /autograder/submission --checks checks.toml --gradescope /autograder/results/results.json

The checks are the instructor's (``checks.read_checks``); each check of each submission runs in a child
forked from this one warm process (``runner``), with a timeout, a memory cap and a scratch copy of the
submission; the judge's verdicts become points and what the student reads (``execute``), and the outputs
are Gradescope's results.json and JUnit per student, grades.csv and class.html for the class (``output``).

Grading runs the students' code with the grader's own rights: for untrusted code, run it where
Gradescope runs it, in a throwaway container (docs/grading.md).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from compare.errors import ConfigError
from compare.grade import output
from compare.grade.checks import Check, read_checks
from compare.grade.runner import Task, run_all, warm

__all__ = ["grade", "read_checks", "Check"]


def submissions_of(path: Path) -> dict[str, Path]:
    """A folder of submission folders (one per student), or one submission (files at its top)."""
    if not path.is_dir():
        raise ConfigError(f"{path}: not a folder of submissions")
    folders = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if folders and not any(p.suffix == ".py" for p in path.iterdir() if p.is_file()):
        return {p.name: p for p in folders}
    return {path.name: path}


def grade(
    submissions,
    checks_path,
    *,
    out=None,
    gradescope=None,
    jobs: int = 1,
    timeout: float = 60.0,
    memory: float = 4.0,
    again: bool = False,
    log=print,
) -> dict:
    """Grade every submission; returns {student: Gradescope payload} (those skipped as already graded
    included, read back).  Each student's files are written as soon as that student is done."""
    checks = read_checks(checks_path)
    students = submissions_of(Path(submissions))
    out = Path(out) if out else None
    if out is None and gradescope is None:
        raise ConfigError("give --out DIR (a folder per student, grades.csv, class.html) or --gradescope PATH")
    if gradescope is not None and len(students) != 1:
        raise ConfigError(f"--gradescope writes one submission's results.json; {submissions} holds {len(students)}")
    payloads, todo = {}, {}
    for name, folder in students.items():
        done_file = out / name / "results.json" if out else None
        if done_file is not None and done_file.exists() and not again:
            import json

            payloads[name] = json.loads(done_file.read_text())
            log(f"{name}: graded before ({payloads[name]['score']:g} points; --again regrades)")
        else:
            todo[name] = folder
    warm()
    results: dict[str, dict[str, dict]] = {name: {} for name in todo}
    started = {name: time.monotonic() for name in todo}

    def done(task: Task) -> None:
        results[task.student][task.check.name] = task.result
        if len(results[task.student]) == len(checks):
            payload = output.gradescope(checks, results[task.student], time.monotonic() - started[task.student])
            payloads[task.student] = payload
            if out is not None:
                output.write_json(out / task.student / "results.json", payload)
                from compare.process import write_file

                write_file(out / task.student / "junit.xml", output.junit(task.student, payload))
            if gradescope is not None:
                output.write_json(gradescope, payload)
            top = sum(c.points for c in checks)
            log(f"{task.student}: {payload['score']:g} of {top:g}" + "".join(
                f"; {t['name']}: {', '.join(t['tags'])}" for t in payload["tests"] if t["tags"]
            ))  # fmt: skip

    tasks = [Task(name, folder, check) for name, folder in todo.items() for check in checks]
    with tempfile.TemporaryDirectory(prefix="simplenet-grade-") as scratch:
        run_all(tasks, jobs=jobs, timeout=timeout, memory_gib=memory, scratch=Path(scratch), done=done)
    if out is not None:
        from compare.process import write_file

        write_file(out / "grades.csv", output.grades_csv(checks, payloads))
        write_file(out / "class.html", output.class_html(checks, payloads))
    return payloads
