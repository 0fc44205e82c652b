# Sourced by run.sh and test.sh: create or reuse .venv in the repo and install the project
# (with its dev extra) into it; fast when nothing changed since the last install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${SIMPLENET_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with ${PYTHON:-python3}" >&2
    "${PYTHON:-python3}" -m venv "$VENV"
fi
stamp="$VENV/.simplenet-install-stamp"
want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! "$VENV/bin/python" -c "import compare.cli" 2>/dev/null; then
    echo "setup: installing simplenet and its dependencies into $VENV (torch is large; first time takes minutes)" >&2
    if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -e ".[dev]" >"$VENV/pip-install.log" 2>&1; then
        tail -n 30 "$VENV/pip-install.log" >&2
        echo "setup: pip install failed; the full log is $VENV/pip-install.log" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
fi
export PATH="$PWD/$VENV/bin:$PATH"
