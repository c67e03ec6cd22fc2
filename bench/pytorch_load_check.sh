#!/usr/bin/env bash
# Exports a short run of every encoder kind, and a probe classifier on each, as safetensors and checks that
# PyTorch (Debian's python3-torch, installed if missing) loads each into the matching module and reproduces
# Contramask's outputs within 1e-4 (bench/load_in_pytorch.py). Images: the embedded digits; tables: TABLE_SPEC
# (default: the credit table with missing values and categories).
#   bench/pytorch_load_check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$(mktemp -d)}
table=${TABLE_SPEC:-csv:../shared/data/credit/credit.csv,label=Status,test=0.2}
py=/usr/bin/python3   # Debian's python3-torch installs for the system Python
if ! "$py" -c 'import torch' 2>/dev/null; then
  echo "installing python3-torch (apt)…" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch) >/dev/null
fi
dotnet build src/Contramask.Cli -c Release >/dev/null
bin=src/Contramask.Cli/bin/Release/net10.0/Contramask.Cli
mkdir -p "$out"
status=0
for recipe in "convnet:digits" "resnet18:digits" "vit-mini:digits" "vit-tiny:digits" "mlp:$table" "ft-transformer:$table"; do
  encoder=${recipe%%:*} data=${recipe#*:}
  run="$out/$encoder"
  "$bin" pretrain --data "$data" --encoder "$encoder" --epochs 1 --out "$run" --overwrite --quiet >/dev/null
  "$bin" finetune --run "$run" --labels 10% --mode probe --no-test --out "$run-classifier" --quiet >/dev/null
  for model in "--run $run" "--model $run-classifier"; do
    name=$(basename "${model#* }")
    # shellcheck disable=SC2086
    "$bin" export $model --format safetensors --out "$out/$name.safetensors" --reference "$out/$name.reference.safetensors" >/dev/null
    "$py" bench/load_in_pytorch.py "$out/$name.safetensors" "$out/$name.reference.safetensors" || status=1
  done
done
exit $status
