"""Every Python snippet of the README and docs/ runs as written, from a folder where `examples/` is what
the repository's is (issue 29: the README's API example failed with NameError as copied)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPETS = [
    pytest.param(block, id=f"{path.name}#{k}")
    for path in DOCS
    for k, block in enumerate(re.findall(r"^```python\n(.*?)^```", path.read_text(), re.S | re.M), start=1)
]


@pytest.mark.parametrize("block", SNIPPETS)
def test_the_snippet_runs_as_written(block, tmp_path, monkeypatch):
    if "compare_training(" in block and not os.environ.get("SIMPLENET_DATA"):
        pytest.skip("trains on MNIST: set SIMPLENET_DATA (CI sets it to ../shared/data)")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)  # what a snippet writes (TensorBoard runs) lands here, not in the checkout
    namespace: dict = {"__name__": "snippet"}
    exec(compile(block, "snippet", "exec"), namespace)
    for name, fn in list(namespace.items()):
        if name.startswith("test_") and callable(fn):
            fn()  # a pytest example: its tests pass on the example files
