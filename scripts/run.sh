#!/usr/bin/env bash
# Set up (.venv, project installed), then run the main job:
#   1. the gradient proof on a real MNIST batch (both twins, every parameter), then
#   2. three epochs of lockstep training of both twins, logged to TensorBoard under ./runs.
# Extra arguments go to `simplenet compare` (e.g. --dtype float64, --epochs 1); those that say where the
# data is and what the model is (--data-dir, --dataset, --no-download, --dtype, --hidden, --activation,
# --seed, --manual, --convention) go to `simplenet gradcheck` too.
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
shared=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --no-download) shared+=("${args[i]}") ;;
        --data-dir|--dataset|--dtype|--hidden|--activation|--seed|--manual|--convention)
            shared+=("${args[i]}" "${args[i + 1]:-}"); i=$((i + 1)) ;;
        --data-dir=*|--dataset=*|--dtype=*|--hidden=*|--activation=*|--seed=*|--manual=*|--convention=*)
            shared+=("${args[i]}") ;;
    esac
done
simplenet gradcheck "${shared[@]}"
echo
exec simplenet compare --epochs 3 "$@"
