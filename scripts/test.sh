#!/usr/bin/env bash
# Set up (.venv, project installed with its dev extra), then run the test suite.
# Arguments go to pytest, e.g.  scripts/test.sh -m "not slow" -x
# The suite runs on up to 4 CPUs at once (pytest-xdist, work-stealing: a worker that finishes early takes
# tests from the other's queue); SIMPLENET_TEST_WORKERS=0 runs it in one process, as plain pytest does.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
workers="${SIMPLENET_TEST_WORKERS:-$(python -c 'import os; print(min(4, len(os.sched_getaffinity(0))))')}"
if [ "$workers" -gt 1 ]; then
    exec python -m pytest -n "$workers" --dist worksteal "$@"
fi
exec python -m pytest "$@"
