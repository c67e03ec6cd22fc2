#!/usr/bin/env bash
# Side-by-side pretraining speed, Contramask vs the PyTorch reference (issue #6). One command:
#   bench/speed.sh [ROUNDS=3] [OUT=docs/results/performance.json]
# Installs Debian's python3-torch (+ a fast OpenBLAS) if missing, checks once per recipe that both implementations
# compute the same loss for the same weights, views and mask, then runs the recipes alternately (Contramask, PyTorch,
# PyTorch, Contramask, … so that neither always goes first), 2 threads each, and aggregates with speed_report.py.
# Environment: THREADS (2), BATCH (256), RECIPES ("method:encoder:input …"), CM_ARGS (extra `contramask speed` options, e.g. --low-memory),
# REFERENCE_BLAS (native | as-is), BOTH_WAYS (1 = measure the reference both ways).
#
# An unhandicapped reference: some machines pin OpenBLAS to an older core type (OPENBLAS_CORETYPE=Haswell, and
# OPENBLAS_L2_SIZE, set for old OpenBLAS builds), which on an AVX-512 CPU halves the reference's fp32 GEMM rate.
# By default (REFERENCE_BLAS=native) the reference runs without those variables, so OpenBLAS picks the kernels of
# the CPU it runs on; the report records what was removed. REFERENCE_BLAS=as-is keeps the environment and refuses
# to compare when that selects another core type than the native one, unless BOTH_WAYS=1, which measures the
# reference both ways and reports both ratios. Both sides' CPU flags, BLAS and backend variables are recorded.
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
ref_as_is="$py bench/pytorch_reference.py"
ref_native="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $py bench/pytorch_reference.py"
work=$(mktemp -d); raw="$work/raw.jsonl"; trap 'rm -rf "$work"' EXIT

echo "== environments"
corename() { $py -c 'import json,sys; print(json.load(sys.stdin)["openblas_corename"])'; }
$ref_native env --threads "$threads" | sed 's/^{/{"reference_blas": "native", /' > "$work/env-native.json"
$ref_as_is env --threads "$threads" | sed 's/^{/{"reference_blas": "as-is", /' > "$work/env-as-is.json"
native=$(corename < "$work/env-native.json"); as_is=$(corename < "$work/env-as-is.json")
echo "  OpenBLAS core type: native $native, as the environment sets it $as_is"
ways=native
case ${REFERENCE_BLAS:-native} in
  native) ;;
  as-is)
    ways=as-is
    if [ "$native" != "$as_is" ]; then
      if [ "${BOTH_WAYS:-}" = 1 ]; then ways="native as-is"
      else echo "error: the environment pins the reference's OpenBLAS to $as_is kernels on a CPU whose own are $native" \
                "(OPENBLAS_* variables); a lead over a handicapped reference is not a lead. Use REFERENCE_BLAS=native," \
                "or BOTH_WAYS=1 to report both." >&2; exit 2; fi
    fi;;
  *) echo "error: REFERENCE_BLAS must be native or as-is, not '${REFERENCE_BLAS}'" >&2; exit 2;;
esac
ref="$ref_native"; [ "$ways" = as-is ] && ref="$ref_as_is"
{ cat "$work/env-native.json" "$work/env-as-is.json"
  env | grep -E '^(OPENBLAS_|GOTO_|MKL_|KMP_|OMP_|DNNL_|ONEDNN_|ATEN_CPU_CAPABILITY|LD_PRELOAD)' | $py -c 'import json,sys; print(json.dumps({"implementation": "contramask", "variables": dict(l.rstrip("\n").split("=", 1) for l in sys.stdin)}))'
} > "$work/environments.jsonl"

# The reference implements CAN's fusion (both views masked at 0.5, the decoder on the last block), not the layered default.
fusion_of() { [ "$1" = fusion ] && echo "--fusion can"; }
echo "== same loss for the same weights, views and mask (batch 32)"
for r in $recipes; do
  IFS=: read -r method encoder input <<< "$r"
  $cm speed --method "$method" $(fusion_of "$method") --encoder "$encoder" --input "$input" --batch-size 32 --threads "$threads" --loss-check "$work/check-$r" >/dev/null
  $ref check "$work/check-$r" --threads "$threads" | tee -a "$work/checks.jsonl"
done

steps_for() { case $1:$2 in resnet18:*) echo "--warmup 1 --steps 3";; vit-tiny:32x32x3) echo "--warmup 2 --steps 6";; *) echo "--warmup 3 --steps 10";; esac; }
run_one() {  # implementation method encoder input
  local s; s=$(steps_for "$3" "$4")
  case $1 in
    contramask) $cm speed --method "$2" $(fusion_of "$2") --encoder "$3" --input "$4" --batch-size "$batch" --threads "$threads" $s ${CM_ARGS:-} --json;;
    pytorch-native) $ref_native run --method "$2" --encoder "$3" --input "$4" --batch-size "$batch" --threads "$threads" $s | sed 's/^{/{"reference_blas": "native", /';;
    pytorch-as-is) $ref_as_is run --method "$2" --encoder "$3" --input "$4" --batch-size "$batch" --threads "$threads" $s | sed 's/^{/{"reference_blas": "as-is", /';;
  esac
}
for round in $(seq 1 "$rounds"); do
  echo "== round $round of $rounds"
  for r in $recipes; do
    IFS=: read -r method encoder input <<< "$r"
    refs=""; for w in $ways; do refs="$refs pytorch-$w"; done
    order="contramask$refs"; [ $((round % 2)) -eq 0 ] && order="${refs# } contramask"
    for impl in $order; do
      line=$(run_one "$impl" "$method" "$encoder" "$input" | tail -1)
      echo "$line" | sed "s/^{/{\"round\": $round, /" >> "$raw"
      printf '  %-14s %-12s %-9s %-8s %7.1f img/s\n' "$impl" "$method" "$encoder" "$input" "$(echo "$line" | $py -c 'import json,sys; print(json.load(sys.stdin)["images_per_s"])')"
    done
  done
done
echo "== fp32 matmul peak (2048², $threads threads)"
$cm speed --method contrastive --encoder convnet --warmup 1 --steps 1 --threads "$threads" --matmul-peak --json | sed 's/^{/{"peak": true, /' >> "$raw"
for w in $ways; do
  r="$ref_native"; [ "$w" = as-is ] && r="$ref_as_is"
  $r peak --threads "$threads" | sed "s/^{/{\"peak\": true, \"reference_blas\": \"$w\", /" >> "$raw"
done
$py bench/speed_report.py "$raw" "$work/checks.jsonl" "$out" "REFERENCE_BLAS=${REFERENCE_BLAS:-native} BOTH_WAYS=${BOTH_WAYS:-} RECIPES=\"$recipes\" bench/speed.sh $rounds $out" "$work/environments.jsonl"
