#!/usr/bin/env bash
# Side-by-side pretraining speed, Contramask vs the PyTorch reference (issue #6). One command:
#   bench/speed.sh [ROUNDS=3] [OUT=docs/results/performance.json]
# Installs Debian's python3-torch (+ a fast OpenBLAS) if missing, checks once per recipe that both implementations
# compute the same loss for the same weights, views and mask, then runs the recipes alternately (Contramask, PyTorch,
# PyTorch, Contramask, … so that neither always goes first), 2 threads each, and aggregates with speed_report.py.
# Environment: THREADS (2), BATCH (256), RECIPES ("method:encoder:input …"), CM_ARGS (extra `contramask speed` options, e.g. --low-memory).
set -euo pipefail
rounds=${1:-3}; out=${2:-docs/results/performance.json}
threads=${THREADS:-2}; batch=${BATCH:-256}
recipes=${RECIPES:-"fusion:vit-tiny:28x28x1 fusion:vit-tiny:32x32x3 masked:vit-tiny:28x28x1 masked:vit-tiny:32x32x3 contrastive:resnet18:28x28x1 contrastive:resnet18:32x32x3 contrastive:convnet:28x28x1 contrastive:convnet:32x32x3"}
cd "$(dirname "$0")/.."
py=/usr/bin/python3   # Debian's python3-torch installs for the system Python, not for a python3 earlier on PATH
if ! $py -c "import torch" 2>/dev/null; then
  echo "installing python3-torch and libopenblas0-openmp (apt)…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-openmp) >/dev/null
fi
dotnet build src/Contramask.Cli -c Release -v q >/dev/null
cm="src/Contramask.Cli/bin/Release/net10.0/Contramask.Cli"
ref="$py bench/pytorch_reference.py"
work=$(mktemp -d); raw="$work/raw.jsonl"; trap 'rm -rf "$work"' EXIT

echo "== same loss for the same weights, views and mask (batch 32)"
for r in $recipes; do
  IFS=: read -r method encoder input <<< "$r"
  $cm speed --method "$method" --encoder "$encoder" --input "$input" --batch-size 32 --threads "$threads" --loss-check "$work/check-$r" >/dev/null
  $ref check "$work/check-$r" --threads "$threads" | tee -a "$work/checks.jsonl"
done

steps_for() { case $1:$2 in resnet18:*) echo "--warmup 1 --steps 3";; vit-tiny:32x32x3) echo "--warmup 2 --steps 6";; *) echo "--warmup 3 --steps 10";; esac; }
run_one() {  # implementation method encoder input
  local s; s=$(steps_for "$3" "$4")
  if [ "$1" = contramask ]; then $cm speed --method "$2" --encoder "$3" --input "$4" --batch-size "$batch" --threads "$threads" $s ${CM_ARGS:-} --json
  else $ref run --method "$2" --encoder "$3" --input "$4" --batch-size "$batch" --threads "$threads" $s; fi
}
for round in $(seq 1 "$rounds"); do
  echo "== round $round of $rounds"
  for r in $recipes; do
    IFS=: read -r method encoder input <<< "$r"
    order="contramask pytorch"; [ $((round % 2)) -eq 0 ] && order="pytorch contramask"
    for impl in $order; do
      line=$(run_one "$impl" "$method" "$encoder" "$input" | tail -1)
      echo "$line" | sed "s/^{/{\"round\": $round, /" >> "$raw"
      printf '  %-11s %-12s %-9s %-8s %7.1f img/s\n' "$impl" "$method" "$encoder" "$input" "$(echo "$line" | $py -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')"
    done
  done
done
echo "== fp32 matmul peak (2048², $threads threads)"
$cm speed --method contrastive --encoder convnet --warmup 1 --steps 1 --threads "$threads" --matmul-peak --json | sed 's/^{/{"peak": true, /' >> "$raw"
$ref peak --threads "$threads" | sed 's/^{/{"peak": true, /' >> "$raw"
$py bench/speed_report.py "$raw" "$work/checks.jsonl" "$out" "bench/speed.sh $rounds $out"
