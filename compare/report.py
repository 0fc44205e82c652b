"""The reports' tables: one module that the command line and the library's report objects share
(``str(report)`` is the CLI's table, character for character; ``_repr_html_`` the same rows for Jupyter)."""

from __future__ import annotations

import html

from compare import architecture

PHASE_HEADINGS = {
    "running statistics": "running statistics, after more training forwards of the batch (the judge's masks):",
    "test mode": "test mode (no dropout; batchnorm by the running statistics, the same on both sides):",
}


def format_gradcheck(r) -> str:
    impl = r.implementation
    label = impl.get("label", "manual")
    column = label if len(label) <= 8 else "plug-in"
    wide = max([15, *(len(p.name) + 2 for p in r.params)])  # the name column
    lines = [impl["header"], *impl["mapping_lines"]] if impl else []
    lines += [
        f"gradcheck: {r.spec}, {r.dtype}, batch of {r.batch_size} ({r.source})"
        + (f", injected fault: {r.fault}" if r.fault else ""),
        *(f"  {line}" for line in r.conventions),
        f"{'parameter':<{wide}}{'shape':<13}{'max |Δ|':>11}{'max rel err':>13}{'tolerance':>11}  verdict",
    ]
    # the forward first: a wrong forward explains every gradient after it
    lines.append(
        f"{'forward':<{wide}}{str((r.batch_size, 10)):<13}{r.logits['max_abs_diff']:>11.2e}"
        f"{r.logits['max_rel_err']:>13.2e}{r.tolerance:>11.0e}  {r.forward['verdict']}   (logits"
        + (", test mode: your loss(X)'s scores)" if r.forward.get("mode") == "test" else ")")
    )
    if r.forward.get("diagnosis"):
        d = r.forward["diagnosis"]
        lines.append(f"{'':<{wide}}diagnosis [{d['code']}]: {d['message']}")
    loss_verdict = "OK" if r.loss["passed"] else ("DIFFERS (reported, not judged)" if r.passed else "MISMATCH")
    lines.append(
        f"{'loss':<{wide}}{'()':<13}{r.loss['abs_diff']:>11.2e}{r.loss['rel_err']:>13.2e}{r.tolerance:>11.0e}  "
        f"{loss_verdict}   ({label} {r.loss['manual']:.10f}, torch {r.loss['torch']:.10f})"
    )
    if r.loss.get("diagnosis"):
        lines.append(f"{'':<{wide}}diagnosis [{r.loss['diagnosis']['code']}]: {r.loss['diagnosis']['message']}")
    phase = "training"
    for p in r.params:
        if p.phase != phase:  # a spec with batchnorm, layernorm or dropout: its other phases under headings
            phase = p.phase
            lines.append(PHASE_HEADINGS.get(phase, phase + ":"))
        lines.append(
            f"{p.name:<{wide}}{str(tuple(p.shape)):<13}{p.max_abs_diff:>11.2e}{p.max_rel_err:>13.2e}"
            f"{r.tolerance:>11.0e}  {'OK' if p.passed else 'MISMATCH'}" + (f"   ({p.note})" if p.note else "")
        )
        if p.diagnosis:
            where = f" at {p.diagnosis['layer']}" if p.diagnosis.get("layer") else ""
            lines.append(f"{'':<{wide}}diagnosis [{p.diagnosis['code']}{where}]: {p.diagnosis['message']}")
            if p.diagnosis.get("reenacted"):
                again = p.diagnosis["reenacted"]
                at = f" at {again['layer']}" if again.get("layer") else ""
                lines.append(f"{'':<{wide}}re-enacted [{again['code']}{at}]: {again['message']}")
        for w in p.worst:
            native = f" = {p.native}{w['native_index']}" if p.native != p.name else ""
            lines.append(
                f"{'':<{wide}}{p.name}{w['index']}{native}: {label} {w['plugin']:.6g}, autograd {w['autograd']:.6g}"
            )
    if r.fd is not None:
        lines.append("")
        lines.append(
            "finite differences (float64, central, h=1e-5) of the reference loss - the harness's own "
            f"forward - against each side, and of {label}'s own loss against its gradient:"
        )
        lines.append(
            f"{'parameter':<{wide}}{'checked':>8}{'kinks':>7}{'|fd−' + column + '|':>13}{'|fd−torch|':>12}"
            f"{'own |fd−' + column + '|':>17}  verdict"
        )
        for c in r.fd:
            lines.append(
                f"{c.name:<15}{c.checked:>8}{c.kinks:>7}{c.max_abs_err_manual:>13.2e}"
                f"{c.max_abs_err_torch:>12.2e}{c.max_abs_err_own:>17.2e}  {c.verdict}"
            )
    bad = [p.label for p in r.params if not p.passed]
    if not r.logits["passed"]:
        bad.insert(0, "forward")
    lines.append("")
    for note in r.notes:
        lines.append(f"note: {note}")
    if r.passed:
        trained = sum(p.phase == "training" for p in r.params)
        phases = sorted({p.phase for p in r.params} - {"training"}, reverse=True)
        also = f"; {' and '.join(phases)} {'agree' if len(phases) > 1 else 'agrees'} too" if phases else ""
        marked = sum(p.max_rel_err > r.tolerance for p in r.params)  # passed as their row says (its note)
        within = (
            f"agree: within {r.tolerance:.0e}, or as each of the {marked} marked rows says"
            if marked
            else f"within {r.tolerance:.0e}"
        )
        lines.append(f"verdict: AGREE - the forward and all {trained} parameters {within}{also}")
    else:
        lines.append(f"verdict: MISMATCH - {', '.join(bad) or 'finite differences'} outside tolerance")
    return "\n".join(lines)


def gradcheck_html(r) -> str:
    """The gradient proof as an HTML table: one row per check, green OK, red MISMATCH, the diagnosis under it."""

    def row(name, shape, abs_diff, rel, ok, note=None):
        colour = "#1a7f37" if ok else "#cf222e"
        cells = (
            f"<td><code>{html.escape(name)}</code></td><td>{html.escape(str(shape))}</td>"
            f"<td>{abs_diff:.2e}</td><td>{rel:.2e}</td>"
            f"<td style='color:{colour};font-weight:bold'>{'OK' if ok else 'MISMATCH'}</td>"
        )
        out = f"<tr>{cells}</tr>"
        if note:
            out += f"<tr><td></td><td colspan='4' style='color:#57606a'>{html.escape(note)}</td></tr>"
        return out

    def note(d):
        return f"[{d['code']}] {d['message']}" if d else None

    rows = [
        row(
            "forward (logits)",
            (r.batch_size, len(r.params) and r.params[-1].shape[0]),
            r.logits["max_abs_diff"],
            r.logits["max_rel_err"],
            r.logits["passed"],
            note(r.forward.get("diagnosis")),
        ),
        row("loss", "()", r.loss["abs_diff"], r.loss["rel_err"], r.loss["passed"], note(r.loss.get("diagnosis"))),
    ]
    rows += [
        row(p.label, tuple(p.shape), p.max_abs_diff, p.max_rel_err, p.passed, note(p.diagnosis) or p.note or None)
        for p in r.params
    ]
    for p in r.params:  # the worst coordinates of a failing parameter, as the text shows them
        for w in p.worst:
            rows.append(
                f"<tr><td></td><td colspan='4' style='color:#57606a'>{html.escape(p.name)}{list(w['index'])} "
                f"(yours {html.escape(str(w['native_index']))}): {w['plugin']:.6g} where autograd has "
                f"{w['autograd']:.6g}</td></tr>"
            )
    failing = [p.label for p in r.params if not p.passed]
    verdict = "AGREE" if r.passed else "MISMATCH" + (f" in {', '.join(failing)}" if failing else "")
    colour = "#1a7f37" if r.passed else "#cf222e"
    implementation = r.implementation or {}
    said = [implementation.get("header", ""), *implementation.get("mapping_lines", [])]
    head = "<br>".join(html.escape(line) for line in said if line)
    head += ("<br>" if head else "") + html.escape(
        f"gradcheck: {r.spec}, {r.dtype}, batch of {r.batch_size} ({r.source}), tolerance {r.tolerance:.0e}"
    )
    notes = "".join(f"<p style='color:#57606a'>note: {html.escape(n)}</p>" for n in r.notes)
    return (
        f"<div><p>{head}</p><table><tr><th>check</th><th>shape</th><th>max |Δ|</th><th>max rel err</th>"
        f"<th>verdict</th></tr>{''.join(rows)}</table>{notes}"
        f"<p style='color:{colour};font-weight:bold'>verdict: {html.escape(verdict)}</p></div>"
    )


def lockstep_html(payload: dict) -> str:
    """The lockstep verdict as an HTML table for Jupyter: each check green OK, red MISMATCH, grey when it
    is reported and not judged; the per-epoch figures and the notes under it."""

    def verdict(passed):
        text, colour = {None: ("(reported)", "#57606a"), True: ("OK", "#1a7f37"), False: ("MISMATCH", "#cf222e")}[
            passed
        ]
        return f"<td style='color:{colour};font-weight:bold'>{text}</td>"

    rows = "".join(
        f"<tr><td>{html.escape(c['name'])}</td><td>{c['measured']:.2e}</td>"
        f"<td>{'-' if c['tolerance'] is None else format(c['tolerance'], '.0e')}</td>{verdict(c['passed'])}</tr>"
        for c in payload["checks"]
    )
    label = html.escape(payload["implementation"]["label"])
    epochs = "".join(
        f"<tr><td>{e['epoch']}</td><td>{e['manual']['test_accuracy']:.4f}</td>"
        f"<td>{e['torch']['test_accuracy']:.4f}</td><td>{e['manual']['test_loss']:.6f}</td>"
        f"<td>{e['torch']['test_loss']:.6f}</td></tr>"
        for e in payload["epochs"]
    )
    notes = "".join(f"<p style='color:#57606a'>note: {html.escape(n)}</p>" for n in payload["notes"])
    ok = payload["passed"]
    colour = "#1a7f37" if ok else "#cf222e"
    return (
        f"<div><p>lockstep compare, {html.escape(payload['dtype'])}, {payload['steps']} steps</p>"
        f"<table><tr><th>check</th><th>measured</th><th>tolerance</th><th>verdict</th></tr>{rows}</table>"
        f"<table><tr><th>epoch</th><th>{label} test acc</th><th>torch test acc</th><th>{label} loss</th>"
        f"<th>torch loss</th></tr>{epochs}</table>{notes}"
        f"<p style='color:{colour};font-weight:bold'>verdict: {'AGREE' if ok else 'MISMATCH'}</p>"
        f"<p>logs: <code>{html.escape(payload['run_dir'])}</code></p></div>"
    )


def run_lines(payload: dict) -> list[str]:
    from compare.process import program

    return [f"logs: {payload['run_dir']}", f"view: {program('tensorboard')} --logdir {payload['run_dir']}"]


def format_train(payload: dict, label: str, quiet: bool = False) -> str:
    final = payload["final_test_accuracy"]
    if quiet:  # one summary line all the same: what came out and where it went
        acc = f"final test accuracy {final:.4f}" if final is not None else "no epoch completed"
        return f"train {label}: {acc} after {payload['steps']} steps; logs: {payload['run_dir']}"
    return "\n".join([f"final test accuracy: {final}" if final is not None else "no epoch run", *run_lines(payload)])


def format_compare(payload: dict) -> str:
    """The lockstep verdict: the checks with their tolerances, the per-epoch figures, notes and verdict."""
    from compare.config import TrainConfig
    from compare.datasets import DATASETS

    cfg = TrainConfig.from_dict(payload["config"])
    epochs, steps = payload["epochs"], payload["steps"]
    lines = [
        "",
        f"lockstep compare: {DATASETS[cfg.dataset].title}, {cfg.spec.describe()}, {cfg.dtype}, "
        f"{cfg.optimizer} lr {cfg.lr}, {len(epochs)} epoch(s), {steps} steps of batch {cfg.batch_size}",
        *(f"  {line}" for line in architecture.conventions(cfg.spec)),
    ]
    judged = payload.get("judged_steps")
    if judged == 0:
        lines.append("judged: no step of this unstable run; the twins' gradients at the same parameters (see the note)")
    elif judged is not None:
        lines.append(f"judged: steps 1-{judged} of {steps} (a chaotic run after them: see the note)")
    width = max(32, *(len(c["name"]) + 1 for c in payload["checks"]))
    lines.append(f"{'check':<{width}}{'measured':>11}{'tolerance':>11}  verdict")
    for c in payload["checks"]:
        limit = "-" if c["tolerance"] is None else f"{c['tolerance']:.0e}"
        verdict = {None: "(reported)", True: "OK", False: "MISMATCH"}[c["passed"]]
        lines.append(f"{c['name']:<{width}}{c['measured']:>11.2e}{limit:>11}  {verdict}")
    lines.append(f"per-step losses agreed within 1e-4 for the first {payload['steps_within_1e-4']} of {steps} steps")
    label = payload["implementation"]["label"]
    acc_w, loss_w = max(16, len(label) + 10), max(13, len(label) + 7)  # columns as wide as their heads
    lines.append(
        f"{'epoch':<7}{label + ' test acc':>{acc_w}}{'torch test acc':>16}{label + ' loss':>{loss_w}}{'torch loss':>12}"
    )
    for e in epochs:
        lines.append(
            f"{e['epoch']:<7}{e['manual']['test_accuracy']:>{acc_w}.4f}{e['torch']['test_accuracy']:>16.4f}"
            f"{e['manual']['test_loss']:>{loss_w}.6f}{e['torch']['test_loss']:>12.6f}"
        )
    lines += [f"note: {note}" for note in payload["notes"]]
    ok, judged = payload["passed"], payload.get("judged_steps")
    if judged == 0:
        says = "their logits and gradients agree at the same parameters where the unstable run parted (no step could be judged in lockstep)"
    else:
        says = f"the twins' curves {'match' if ok else 'do not match'} within the {cfg.dtype} tolerances" + (
            f" over steps 1-{judged}, and their gradients agree where the chaotic run parted" if judged else ""
        )
    lines.append(f"verdict: {'AGREE' if ok else 'MISMATCH'} - {says}")
    return "\n".join(lines + run_lines(payload))


def format_overfit(payload: dict, labels: dict) -> str:
    from compare.config import TrainConfig
    from compare.datasets import DATASETS

    cfg = TrainConfig.from_dict(payload["config"])
    lines = [
        f"overfit one batch: {cfg.batch_size} {DATASETS[cfg.dataset].title} training images, "
        f"{cfg.spec.describe()}, {cfg.dtype}, {cfg.optimizer} lr {cfg.lr}; target loss < {payload['target']:g} "
        f"within {payload['max_steps']} steps"
    ]
    for r in payload["results"].values():
        lines.append(
            f"  {labels[r['impl']]:<7} reached loss {r['final_loss']:.2e} at step {r['step']}  OK"
            if r["reached"]
            else f"  {labels[r['impl']]:<7} FAILED: {r['reason']}"
        )
    lines.append(
        "verdict: "
        + (
            "the net can memorise one batch - data, loss, backward and update are wired up"
            if payload["passed"]
            else "could not overfit one batch: the pipes are broken (check "
            "the backward, the optimizer step, the labels, or try another --lr)"
        )
    )
    return "\n".join(lines)


def format_sweep(payload: dict, impls: list[str], epochs) -> str:
    from compare.process import program

    rows, both = payload["runs"], len(impls) > 1
    good = [r for r in rows if r["verdict"] == "learns"]
    best = max(good, key=lambda r: r["test_accuracy"]) if good else None
    twin_head = f"{'twin':>8}" if both else ""
    lines = [
        "",
        f"learning-rate sweep: {' and '.join(impls)} twin{'s' if both else ''}, {epochs or 'default'} "
        f"epoch(s) each; logs: {payload['logdir']}",
        f"{'lr':>10}{twin_head}{'first loss':>12}{'train loss':>12}{'test acc':>10}  verdict",
    ]

    def fmt(v, f):
        return "-" if v is None else format(v, f)

    for r in rows:
        twin = f"{r['impl']:>8}" if both else ""
        note = f" ({r['note']})" if r["note"] else ""
        lines.append(
            f"{r['lr']:>10g}{twin}{fmt(r['first_loss'], '.4f'):>12}{fmt(r['train_loss'], '.4f'):>12}"
            f"{fmt(r['test_accuracy'], '.4f'):>10}  {r['verdict']}{note}{'  <- best' if r is best else ''}"
        )
    lines.append(f"view: {program('tensorboard')} --logdir {payload['logdir']}")
    return "\n".join(lines)


def format_bench(r: dict) -> str:
    from compare.bench import Figure, outside_parts_text

    env = r["environment"]
    blas = (
        ", ".join(f"{b.get('internal_api')} {b.get('version')} ({b.get('num_threads')} threads)" for b in env["blas"])
        or "unknown"
    )
    lines = [
        "",
        f"simplenet bench - {r['train_examples']} training images, one epoch per sample, "
        f"{r['repeats']} repeats (median; min in brackets)",
        f"machine: {env['platform']}, {r['cpu_count']} cores; numpy BLAS: {blas}; torch {env['torch']} "
        f"({env['torch_blas']}, {env['torch_threads']} threads); torch device {r['device']}",
        f"FLOPs: {r['flops_per_sample'] / 1e3:.1f} kFLOP per sample, {r['flops_per_epoch'] / 1e9:.1f} GFLOP "
        "per epoch; GEMM peak "
        + ", ".join(f"{d} {p['flops'] / 1e9:.0f} GFLOP/s" for d, p in r["gemm_peak"].items())
        + " -> floor "
        + ", ".join(f"{d} {r['flops_per_epoch'] / p['flops']:.3f}s" for d, p in r["gemm_peak"].items()),
        "load MNIST into memory: " + ", ".join(f"{k} {v['median']:.2f}s" for k, v in r["load_seconds"].items()),
        "",
        f"{'training epoch':<30}{'batch':>6}{'seconds':>18}{'µs/step':>10}{'× floor':>9}",
    ]
    for key, s in r["epoch_seconds"].items():
        impl, dt, bs = Figure.parse(key)
        lines.append(
            f"{impl + ' twin, ' + dt:<30}{bs:>6}{s['median']:>10.3f} [{s['min']:.3f}]"
            f"{s['us_per_step']:>10.0f}{s['x_floor']:>9.1f}"
        )
    for bs, s in r["lockstep"].items():
        lines.append(
            f"{'lockstep compare, float32':<30}{bs:>6}{s['median']:>10.3f} [{s['min']:.3f}]"
            f"   vs {s['separate_sum']:.3f}s apart = {s['ratio']:.2f}×"
        )
    for key, s in r.get("plain_loops", {}).items():
        impl, bs = key.split("/")
        base = "plain NumPy loop" if impl == "manual" else "plain torch loop"
        floor = r["gemm_floor"][bs]["seconds_per_step"]
        lines.append(
            f"{base + ', float32':<30}{bs:>6}{s['median']:>10.3f} [{s['min']:.3f}]"
            f"   {impl} twin {s['twin_ratio']:.2f}× it (round by round; fastest to fastest "
            f"{s['twin_ratio_of_fastest']:.2f}×); GEMM floor "
            f"{floor * 1e6:.0f} µs/step, {impl} twin "
            f"{r['epoch_seconds'][f'{impl}/float32/{bs}']['x_gemm_floor']:.1f}× it"
        )
        if "bare_ratio" in s:
            lines.append(
                f"{'':<36}the manual twin's own code without the judge (manual.train.train_step): "
                f"{s['bare_ratio']:.2f}× it; judging adds {s['judging_us_per_step']:.0f} µs/step"
            )
    for bs, s in r["dataloader_seconds"].items():
        lines.append(
            f"{'DataLoader + ToTensor, float32':<30}{bs:>6}{s['median']:>10.3f} [{s['min']:.3f}]"
            f"   torch twin is {s['torch_speedup']:.1f}× faster"
        )
    if "logging" in r:
        lg = r["logging"]
        lines += [
            "",
            f"TensorBoard logging: {lg['call_site_us']:.2f} µs per scalar at the call site, "
            f"{lg['amortised_us']:.2f} µs with its encoding and write "
            f"({'C' if lg['c_crc32c'] else 'pure-Python'} CRC-32C)",
        ]
    if "startup" in r:
        st = r["startup"]
        lines += [
            "",
            f"start-up and overhead of default commands (bare `import torch` {st['bare_import_torch']:.2f}s):",
            f"{'command':<22}{'wall':>8}{'× import':>10}{'first step':>12}{'× import':>10}{'outside steps':>15}",
        ]
        for name, c in st["commands"].items():
            first = (
                (
                    f"{c['to_first_step']:>11.2f}s{c['to_first_step_x_import']:>10.2f}"
                    f"{c['outside_steps']:>8.1f}s ({c['outside_fraction']:.0%})"
                )
                if "to_first_step" in c
                else ""
            )
            torch_note = {True: "  imports torch", False: "  no torch", None: ""}[c.get("imported_torch")]
            lines.append(f"{name:<22}{c['wall']:>7.1f}s{c['wall_x_import']:>10.2f}{first}{torch_note}")
            if "outside_parts" in c:
                lines.append(f"{'':<22}outside steps: {outside_parts_text(c['outside_parts'])}")
    if r.get("nproc"):
        lines += ["", f"torch twin under DDP (train --impl torch --nproc N, batch {r['batch_sizes'][0]}, steps only):"]
        for n, row in r["nproc"].items():
            if "error" in row:
                lines.append(f"  --nproc {n}: failed: {row['error']}")
                continue
            ar = row["allreduce_seconds"]
            lines.append(
                f"  --nproc {n}: {row['epoch_seconds']:.2f}s per epoch"
                + (f", gradient all-reduce {ar * 1e6:.0f} µs per step" if ar else " (one process: no all-reduce)")
            )
    lines += ["", "targets:"]
    for t in r["targets"]:
        lines.append(f"  {'met   ' if t['met'] else 'MISSED'}  {t['target']}: {t['text']}")
    return "\n".join(lines)
