#!/usr/bin/env bash
# Set up (.venv, project installed), then run the main job: the gradient proof on a real MNIST batch.
# Extra arguments go to `simplenet gradcheck`.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec simplenet gradcheck "$@"
