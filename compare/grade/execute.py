"""One check of one submission, run in its forked child: the judge's own API on the submission's code,
its verdict turned into points and into what the student reads."""

from __future__ import annotations

from pathlib import Path

from compare.grade.checks import Check


def target_in(check: Check, folder: Path) -> str:
    """The check's target inside the submission: a relative file (``factory.py:make``, ``cs231n/layers.py``)
    is the submission's; an absolute path (an instructor's factory) and a module name stay as they are."""
    path, sep, name = check.target.rpartition(":") if ":" in check.target else (check.target, "", "")
    if not Path(path).is_absolute() and (path.endswith(".py") or "/" in path):
        path = str(folder / path)
    return f"{path}{sep}{name}"


def run(check: Check, folder: Path) -> dict:
    """The check's result: {passed, score, output (markdown), tags (diagnosis codes), parts}."""
    from compare import api

    target = target_in(check, folder)
    shown = lambda text: text.replace(f"{folder}/", "")  # the student's own paths, not the scratch copy's
    if check.kind == "gradcheck":
        options = dict(check.options)
        from compare.config import MODEL_FIELDS, ModelSpec

        model = {k: options.pop(k) for k in MODEL_FIELDS if k in options}
        if model:  # the CLI's model flags are the API's spec
            options["spec"] = ModelSpec.from_values(model)
        report = api.check_gradients(target, **options)
        # a two-bugs diagnosis counts as each of its bugs in the class's picture
        tags = [
            c
            for p in report.params
            if p.diagnosis
            for c in ([b["code"] for b in p.diagnosis.get("bugs", [])] or [p.diagnosis["code"]])
        ]
        if report.forward.get("diagnosis"):
            tags.append(report.forward["diagnosis"]["code"])
        return whole(check, report.ok, shown(str(report)), tags)
    if check.kind == "optimcheck":
        report = api.check_optimizer(target, **check.options)
        d = report.diagnosis
        tags = ([b["code"] for b in d.get("bugs", [])] or [d["code"]]) if d else []
        return whole(check, report.passed, shown(str(report)), tags)
    if check.kind == "compare":
        report = api.compare_training(target, **{"logdir": Path.cwd() / "runs", **check.options})
        tags = [n.split(":", 1)[0] for n in report.to_dict().get("notes", []) if ":" in n[:40]]
        return whole(check, report.ok, shown(str(report)), tags)
    report = api.check_layers(target, **check.options)
    share = check.points / max(1, len(report.results))  # partial credit: each layer its share
    parts = [
        {
            "layer": r.function,
            "verdict": r.verdict,
            "score": share
            if r.verdict == "AGREE"
            else share * kept(check, [r.diagnosis["code"]] if r.diagnosis else []),
        }
        for r in report.results
    ]
    tags = [r.diagnosis["code"] for r in report.results if r.verdict == "MISMATCH" and r.diagnosis]
    result = whole(check, report.ok, shown(str(report)), tags)
    result.update(score=sum(p["score"] for p in parts), parts=parts)
    return result


def kept(check: Check, codes: list[str]) -> float:
    """The share of the points a failing check keeps: none, unless every diagnosis found has a deduction
    below 1 in the instructor's table (then it loses the largest of them)."""
    if not codes or any(c not in check.deductions for c in codes):
        return 0.0
    return 1.0 - max(check.deductions[c] for c in codes)


def whole(check: Check, passed: bool, text: str, tags: list[str]) -> dict:
    return {
        "passed": bool(passed),
        "score": check.points if passed else check.points * kept(check, tags),
        "output": f"```\n{text}\n```",
        "tags": sorted(set(tags)),
    }
