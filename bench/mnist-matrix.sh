#!/usr/bin/env bash
# Pretrains every method with every encoder briefly on MNIST and evaluates each (a smoke run of the whole matrix,
# not a benchmark of quality). Usage: bench/mnist-matrix.sh MNIST_DIR [MINUTES_EACH] [TRAIN_LIMIT] [OUT]
set -euo pipefail
data=${1:?MNIST folder (IDX files)}; minutes=${2:-1}; limit=${3:-10000}; out=${4:-runs/mnist-matrix}
cd "$(dirname "$0")/.."
dotnet build src/Contramask.Cli -c Release -v q >/dev/null
cli="dotnet src/Contramask.Cli/bin/Release/net10.0/Contramask.Cli.dll"
mkdir -p "$out"
for method in contrastive masked fusion; do
  for encoder in convnet vit-mini resnet18; do
    run="$out/$method-$encoder"
    rm -rf "$run"
    $cli pretrain --data "idx:$data,limit=$limit" --method "$method" --encoder "$encoder" --budget "$minutes" --out "$run" --quiet > "$run.log" 2>&1 || { echo "$method $encoder FAILED"; cat "$run.log"; continue; }
    grep -E "Finished|pretrained|random-init" "$run.log" | sed "s/^/$method $encoder: /"
  done
done
