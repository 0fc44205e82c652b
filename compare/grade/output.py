"""What a graded class writes: each student's Gradescope ``results.json`` and ``junit.xml``, and for the
class ``grades.csv`` and ``class.html`` (one self-contained file: the score distribution, the bug kinds
across the class, each student's table)."""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter
from xml.sax.saxutils import escape, quoteattr

from compare.grade.checks import Check


def gradescope(checks: list[Check], results: dict[str, dict], seconds: float) -> dict:
    """Gradescope's results.json for one student (score, execution_time, output, visibility,
    stdout_visibility, tests[] with name, score, max_score, status, output, output_format, visibility, tags)."""
    tests = []
    for check in checks:
        r = results[check.name]
        output = r["output"]
        if r.get("parts"):
            output += "\n\n" + "\n".join(
                f"- {p['layer']}: {p['verdict']} ({p['score']:g} of {check.points / len(r['parts']):g})"
                for p in r["parts"]
            )
        tests.append(
            {
                "name": check.name,
                "score": round(float(r["score"]), 6),
                "max_score": check.points,
                "status": "passed" if r["passed"] else "failed",
                "output": output,
                "output_format": "md",
                "visibility": check.visibility,
                "tags": list(r.get("tags", [])),
            }
        )
    total = sum(t["score"] for t in tests)
    return {
        "score": round(total, 6),
        "execution_time": round(seconds, 3),
        "output": f"{total:g} of {sum(c.points for c in checks):g} points: each check below is the judge's verdict on your code against torch",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def junit(student: str, payload: dict) -> str:
    cases = []
    for t in payload["tests"]:
        body = (
            ""
            if t["status"] == "passed"
            else f"<failure message={quoteattr(', '.join(t['tags']) or 'failed')}>{escape(t['output'])}</failure>"
        )
        cases.append(f"  <testcase classname={quoteattr(student)} name={quoteattr(t['name'])}>{body}</testcase>")
    failures = sum(t["status"] != "passed" for t in payload["tests"])
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<testsuite name={quoteattr(student)} tests="{len(payload["tests"])}" failures="{failures}" '
        f'time="{payload["execution_time"]}">\n' + "\n".join(cases) + "\n</testsuite>\n"
    )


def grades_csv(checks: list[Check], students: dict[str, dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student", "score", "max_score", *[c.name for c in checks]])
    top = sum(c.points for c in checks)
    for name, payload in sorted(students.items()):
        scores = {t["name"]: t["score"] for t in payload["tests"]}
        writer.writerow([name, f"{payload['score']:g}", f"{top:g}", *[f"{scores.get(c.name, 0):g}" for c in checks]])
    return out.getvalue()


def bug_kinds(students: dict[str, dict]) -> Counter:
    """How many students each diagnosis code was found in (once per student)."""
    return Counter(
        tag for payload in students.values() for tag in {t for test in payload["tests"] for t in test["tags"]}
    )


def class_html(checks: list[Check], students: dict[str, dict]) -> str:
    top = sum(c.points for c in checks) or 1
    n = len(students)
    buckets = Counter(min(9, int(10 * p["score"] / top)) for p in students.values())
    bars = "".join(
        f"<tr><td>{10 * b}-{10 * b + 10}%</td><td><div style='background:#4c72b0;height:12px;width:{20 * buckets[b]}px'>"
        f"</div></td><td>{buckets[b]}</td></tr>"
        for b in range(10)
    )
    kinds = "".join(
        f"<tr><td>{count} of {n}</td><td><code>{html.escape(code)}</code></td></tr>"
        for code, count in bug_kinds(students).most_common()
    )
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{p['score']:g} / {top:g}</td>"
        + "".join(
            f"<td title='{html.escape(', '.join(t['tags']))}'>{t['score']:g}"
            + (f" <small>{html.escape(', '.join(t['tags']))}</small>" if t["tags"] else "")
            + "</td>"
            for t in p["tests"]
        )
        + "</tr>"
        for name, p in sorted(students.items())
    )
    heads = "".join(f"<th>{html.escape(c.name)}</th>" for c in checks)
    return f"""<!doctype html><meta charset="utf-8"><title>class report</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:left}}small{{color:#a33}}</style>
<h1>Class report: {n} submission(s)</h1>
<h2>Scores</h2><table>{bars}</table>
<h2>Bug kinds across the class</h2><table>{kinds or "<tr><td>none found</td></tr>"}</table>
<h2>Each student</h2><table><tr><th>student</th><th>score</th>{heads}</tr>{rows}</table>
"""


def write_json(path, payload) -> None:
    from compare.process import write_file

    write_file(path, json.dumps(payload, indent=2) + "\n")
