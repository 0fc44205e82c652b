#!/usr/bin/env bash
# Set up (.venv, project installed), then run the main job:
#   1. the gradient proof on a real MNIST batch (both twins, every parameter), then
#   2. three epochs of lockstep training of both twins, logged to TensorBoard under ./runs.
# Extra arguments go to `simplenet compare` (e.g. --dtype float64, --epochs 1).
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
simplenet gradcheck
echo
exec simplenet compare --epochs 3 "$@"
