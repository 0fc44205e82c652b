"""``simplenet report RUN_DIR``: one self-contained HTML file of a run - no server, no network.

The verdict and its checks with their tolerances (compare), the per-epoch figures of each twin, the
curves and the divergence on a log axis (the figure ``simplenet plot`` draws, same colours: torch
blue, the hand-written side orange), the pictures the run logged to TensorBoard, the config and the
environment card.  Every image is inline (base64 PNG): the file opens from a mail attachment or an
issue tracker.  Reads the run's results.json, config.json, environment*.json and event files; never
imports torch.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

from compare import tags
from compare.datasets import DataError

PICTURES = (
    (tags.CONFUSION, "confusion matrix (test set, last epoch)"),
    (tags.LAYER1_WEIGHTS, "what each layer1 unit looks at"),
    (tags.MISTAKES, "the most confident mistakes"),
    (tags.LAYER1_WEIGHTS_DIFF, "|manual − torch| of layer1's weights"),
    (tags.DISAGREEMENTS, "test images the twins classify differently"),
)
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#1f2328}"
    "table{border-collapse:collapse;margin:0.5em 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:right}"
    "th{background:#f6f8fa}code,pre{background:#f6f8fa}pre{padding:8px;overflow-x:auto}"
    "img{max-width:100%;image-rendering:pixelated}figure{margin:1em 0}h2{border-bottom:1px solid #d0d7de}"
    # the pictures side by side, as many to a row as fit (each at least 340 px), not one narrow column
    ".pictures{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1em;align-items:start}"
    ".pictures figure{margin:0}figcaption{font-size:0.9em;color:#57606a}"
)


def gradcheck_section(d: dict) -> str:
    """The gradient proof the run wrote (gradcheck.json) as ``simplenet gradcheck``'s table, in HTML."""
    from compare.gradreport import report_from_dict

    return report_from_dict(d)._repr_html_()


def png_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    fig.clear()
    return buffer.getvalue()


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def epochs_table(payload: dict) -> str:
    if "impl" in payload:  # train: one twin
        rows = [(e["epoch"], e["train_loss"], e["test_loss"], e["test_accuracy"]) for e in payload["epochs"]]
        head = "<tr><th>epoch</th><th>train loss</th><th>test loss</th><th>test accuracy</th></tr>"
        body = "".join(f"<tr><td>{a}</td><td>{b:.6f}</td><td>{c:.6f}</td><td>{d:.4f}</td></tr>" for a, b, c, d in rows)
        return f"<table>{head}{body}</table>"
    return ""  # compare: lockstep_html has the per-epoch table of both twins


def report(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write ``output`` (default RUN_DIR/report.html) and return its path."""
    from compare import plot
    from compare.report import lockstep_html

    root = Path(run_dir)
    if not root.is_dir():
        raise DataError(f"{root}: not a directory; give the run directory a train or compare run printed (logs: …)")
    payload = read_json(root / "results.json")
    data = plot.load(root)  # a DataError (one line) when it holds no simplenet events
    parts = [f"<h1>simplenet run {html.escape(root.name)}</h1>"]
    if payload and "checks" in payload:
        parts += ["<h2>Verdict</h2>", lockstep_html(payload)]
    elif payload:
        final = payload.get("final_test_accuracy")
        parts += [
            f"<h2>Result</h2><p>train {html.escape(payload['impl'])}: final test accuracy "
            f"{'-' if final is None else f'{final:.4f}'} after {payload['steps']} steps</p>",
            epochs_table(payload),
        ]
    else:
        parts.append("<p>No results.json: the run did not finish; the curves below are what it logged.</p>")
    gradcheck = read_json(root / "gradcheck.json")
    if gradcheck:
        parts += ["<h2>Gradient check</h2>", gradcheck_section(gradcheck)]
    parts += [
        "<h2>Curves and divergence</h2>",  # the confusion matrices are among the pictures below
        f'<figure><img alt="curves" src="{png_uri(figure_png(plot.overlay(root, dict(data, matrices={}))))}"></figure>',
    ]
    pictures = []
    for name, images in data["images"].items():
        for tag, caption in PICTURES:
            if tag in images:
                pictures.append(
                    f'<figure><img alt="{html.escape(tag)}" src="{png_uri(images[tag])}">'
                    f"<figcaption>{html.escape(name)}: {html.escape(caption)}</figcaption></figure>"
                )
    if pictures:
        parts += ["<h2>Pictures</h2>", f"<div class='pictures'>{''.join(pictures)}</div>"]
    config = read_json(root / "config.json")
    if config:
        parts += ["<h2>Config</h2>", f"<pre>{html.escape(json.dumps(config, indent=2))}</pre>"]
    env = read_json(root / "environment.json")
    if env:
        parts += ["<h2>Environment</h2>", f"<pre>{html.escape(json.dumps(env, indent=2))}</pre>"]
    out = Path(output) if output else root / "report.html"
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>simplenet {html.escape(root.name)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    return out
