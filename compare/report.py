"""The reports' tables: one module that the command line and the library's report objects share
(``str(report)`` is the CLI's table, character for character; ``_repr_html_`` the same rows for Jupyter)."""
from __future__ import annotations

import html


def format_gradcheck(r) -> str:
    impl = r.implementation
    label = impl.get("label", "manual")
    column = label if len(label) <= 8 else "plug-in"
    lines = [impl["header"], *impl["mapping_lines"]] if impl else []
    lines += [f"gradcheck: {r.spec}, {r.dtype}, batch of {r.batch_size} ({r.source})"
              + (f", injected fault: {r.fault}" if r.fault else ""),
              f"{'parameter':<15}{'shape':<13}{'max |Δ|':>11}{'max rel err':>13}{'tolerance':>11}  verdict"]
    # the forward first: a wrong forward explains every gradient after it
    lines.append(f"{'forward':<15}{str((r.batch_size, 10)):<13}{r.logits['max_abs_diff']:>11.2e}"
                 f"{r.logits['max_rel_err']:>13.2e}{r.tolerance:>11.0e}  {r.forward['verdict']}   (logits)")
    if r.forward.get("diagnosis"):
        d = r.forward["diagnosis"]
        lines.append(f"{'':<15}diagnosis [{d['code']}]: {d['message']}")
    loss_verdict = "OK" if r.loss["passed"] else ("DIFFERS (reported, not judged)" if r.passed else "MISMATCH")
    lines.append(f"{'loss':<15}{'()':<13}{r.loss['abs_diff']:>11.2e}{r.loss['rel_err']:>13.2e}{r.tolerance:>11.0e}  "
                 f"{loss_verdict}   ({label} {r.loss['manual']:.10f}, torch {r.loss['torch']:.10f})")
    if r.loss.get("diagnosis"):
        lines.append(f"{'':<15}diagnosis [{r.loss['diagnosis']['code']}]: {r.loss['diagnosis']['message']}")
    for p in r.params:
        lines.append(f"{p.name:<15}{str(tuple(p.shape)):<13}{p.max_abs_diff:>11.2e}{p.max_rel_err:>13.2e}"
                     f"{r.tolerance:>11.0e}  {'OK' if p.passed else 'MISMATCH'}")
        if p.diagnosis:
            where = f" at {p.diagnosis['layer']}" if p.diagnosis.get("layer") else ""
            lines.append(f"{'':<15}diagnosis [{p.diagnosis['code']}{where}]: {p.diagnosis['message']}")
            if p.diagnosis.get("reenacted"):
                again = p.diagnosis["reenacted"]
                at = f" at {again['layer']}" if again.get("layer") else ""
                lines.append(f"{'':<15}re-enacted [{again['code']}{at}]: {again['message']}")
        for w in p.worst:
            native = f" = {p.native}{w['native_index']}" if p.native != p.name else ""
            lines.append(f"{'':<15}{p.name}{w['index']}{native}: {label} {w['plugin']:.6g}, "
                         f"autograd {w['autograd']:.6g}")
    if r.fd is not None:
        lines.append("")
        lines.append("finite differences (float64, central, h=1e-5) of the reference loss - the harness's own "
                     f"forward - against each side, and of {label}'s own loss against its gradient:")
        lines.append(f"{'parameter':<15}{'checked':>8}{'kinks':>7}{'|fd−' + column + '|':>13}{'|fd−torch|':>12}"
                     f"{'own |fd−' + column + '|':>17}  verdict")
        for c in r.fd:
            lines.append(f"{c.name:<15}{c.checked:>8}{c.kinks:>7}{c.max_abs_err_manual:>13.2e}"
                         f"{c.max_abs_err_torch:>12.2e}{c.max_abs_err_own:>17.2e}  {c.verdict}")
    bad = [p.name for p in r.params if not p.passed]
    if not r.logits["passed"]:
        bad.insert(0, "forward")
    lines.append("")
    for note in r.notes:
        lines.append(f"note: {note}")
    if r.passed:
        lines.append(f"verdict: AGREE - the forward and all {len(r.params)} parameters within {r.tolerance:.0e}")
    else:
        lines.append(f"verdict: MISMATCH - {', '.join(bad) or 'finite differences'} outside tolerance")
    return "\n".join(lines)


def gradcheck_html(r) -> str:
    """The gradient proof as an HTML table: one row per check, green OK, red MISMATCH, the diagnosis under it."""
    def row(name, shape, abs_diff, rel, ok, note=None):
        colour = "#1a7f37" if ok else "#cf222e"
        cells = (f"<td><code>{html.escape(name)}</code></td><td>{html.escape(str(shape))}</td>"
                 f"<td>{abs_diff:.2e}</td><td>{rel:.2e}</td>"
                 f"<td style='color:{colour};font-weight:bold'>{'OK' if ok else 'MISMATCH'}</td>")
        out = f"<tr>{cells}</tr>"
        if note:
            out += f"<tr><td></td><td colspan='4' style='color:#57606a'>{html.escape(note)}</td></tr>"
        return out

    def note(d):
        return f"[{d['code']}] {d['message']}" if d else None

    rows = [row("forward (logits)", (r.batch_size, len(r.params) and r.params[-1].shape[0]), r.logits["max_abs_diff"],
                r.logits["max_rel_err"], r.logits["passed"], note(r.forward.get("diagnosis"))),
            row("loss", "()", r.loss["abs_diff"], r.loss["rel_err"], r.loss["passed"], note(r.loss.get("diagnosis")))]
    rows += [row(p.name, tuple(p.shape), p.max_abs_diff, p.max_rel_err, p.passed, note(p.diagnosis)) for p in r.params]
    verdict = "AGREE" if r.passed else "MISMATCH"
    colour = "#1a7f37" if r.passed else "#cf222e"
    head = html.escape(f"gradcheck: {r.spec}, {r.dtype}, batch of {r.batch_size} ({r.source}), tolerance {r.tolerance:.0e}")
    return (f"<div><p>{head}</p><table><tr><th>check</th><th>shape</th><th>max |Δ|</th><th>max rel err</th>"
            f"<th>verdict</th></tr>{''.join(rows)}</table>"
            f"<p style='color:{colour};font-weight:bold'>verdict: {verdict}</p></div>")
