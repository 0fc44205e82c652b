#!/usr/bin/env bash
# Set up (.venv, project installed with its dev extra), then run the test suite.
# Arguments go to pytest, e.g.  scripts/test.sh -m "not slow" -x
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec python -m pytest "$@"
