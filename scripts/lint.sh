#!/usr/bin/env bash
# Set up (.venv, as test.sh does), then lint and check the formatting with ruff (config: pyproject.toml).
# Arguments go to `ruff check`, e.g.  scripts/lint.sh --fix
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ruff check "$@" .
ruff format --check .
