#!/usr/bin/env bash
# Per-operator profiles of one pretraining step, Contramask vs the PyTorch reference, with Linux perf (issue 13).
#   bench/profile.sh [OUT_DIR=runs/profile]
# For each recipe, starts `contramask speed` and `pytorch_reference.py run` with many steps, waits until warm-up is
# over, samples the running process for SAMPLE_SECONDS (20) with `perf record -p`, stops it, and groups the samples by
# operator family (bench/profile_report.py). Only steady-state steps are sampled: start-up, .NET's JIT compilation
# and the final checkpoint are outside the window. Installs linux-perf (apt) if missing.
# Environment: THREADS (2), BATCH (256), SAMPLE_SECONDS (20), WARMUP_SECONDS (25), RECIPES ("method:encoder:input …"),
#   ISA (native | avx2): avx2 caps both sides at the AVX2 instruction set (oneDNN DNNL_MAX_CPU_ISA, MKL
#   MKL_ENABLE_INSTRUCTIONS, OpenBLAS Haswell kernels, ATen AVX2, float32 products): it shows what AVX2 code does,
#   not how an AVX2-only CPU (other caches, clocks) performs.
set -euo pipefail
out=${1:-runs/profile}
threads=${THREADS:-2}; batch=${BATCH:-256}; seconds=${SAMPLE_SECONDS:-20}; warm=${WARMUP_SECONDS:-25}
recipes=${RECIPES:-"contrastive:convnet:28x28x1 contrastive:resnet18:32x32x3 fusion:vit-tiny:28x28x1"}
isa=${ISA:-native}
cd "$(dirname "$0")/.."
py=/usr/bin/python3
command -v perf >/dev/null || { echo "installing linux-perf (apt)…"; (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf) >/dev/null; }
$py -c "import torch" 2>/dev/null || { echo "installing python3-torch (apt)…"; (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-openmp) >/dev/null; }
dotnet build src/Contramask.Cli -c Release -v q >/dev/null
cm="src/Contramask.Cli/bin/Release/net10.0/Contramask.Cli"
mkdir -p "$out"

# The reference always runs with OpenBLAS's own kernel choice (as bench/speed.sh's default), except under ISA=avx2.
cm_env=(env DOTNET_PerfMapEnabled=1); ref_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)
cm_args=()
if [ "$isa" = avx2 ]; then
  cm_env+=(DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 ATEN_CPU_CAPABILITY=avx2)
  ref_env=(env OPENBLAS_CORETYPE=Haswell DNNL_MAX_CPU_ISA=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2)
  cm_args=(--precision fp32)
elif [ "$isa" != native ]; then echo "error: ISA must be native or avx2, not '$isa'" >&2; exit 2; fi

sample() {  # label command…: run the command, sample it once warm, stop it
  local label=$1; shift
  "$@" > "$out/$label.log" 2>&1 &
  local pid=$!
  sleep "$warm"
  if ! kill -0 "$pid" 2>/dev/null; then echo "error: $label ended before it was sampled; see $out/$label.log" >&2; exit 1; fi
  perf record -F 499 -p "$pid" -o "$out/$label.data" -- sleep "$seconds" >/dev/null 2>&1
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  perf report -i "$out/$label.data" --sort dso,sym --stdio 2>/dev/null > "$out/$label.txt"
  rm -f "$out/$label.data" /tmp/perf-"$pid".map
}

{ echo "# Per-operator profiles ($isa instruction set)"
  echo
  echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs); flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o 'avx512[a-z_0-9]*\|amx[a-z_0-9]*\|avx2' | sort -u | xargs);"
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (uncommitted changes)'); command: \`ISA=$isa RECIPES=\"$recipes\" bench/profile.sh $out\`;"
  echo "$threads threads, batch $batch, ${seconds} s of steady-state steps sampled at 499 Hz per process. Shares of CPU samples (both threads)."
} > "$out/profile-$isa.md"
# The reference implements CAN's fusion (both views masked at 0.5, the decoder on the last block), not the layered default.
fusion_of() { [ "$1" = fusion ] && echo "--fusion can"; }
for r in $recipes; do
  IFS=: read -r method encoder input <<< "$r"
  echo "== $r"
  sample "cs-$method-$encoder-$input" "${cm_env[@]}" $cm speed --method "$method" $(fusion_of "$method") --encoder "$encoder" --input "$input" \
    --batch-size "$batch" --threads "$threads" --warmup 2 --steps 100000 "${cm_args[@]}"
  sample "py-$method-$encoder-$input" "${ref_env[@]}" $py bench/pytorch_reference.py run --method "$method" --encoder "$encoder" \
    --input "$input" --batch-size "$batch" --threads "$threads" --warmup 2 --steps 100000
  { echo; echo "## $method $encoder $input"; echo
    $py bench/profile_report.py "$out/profile-$isa-$method-$encoder-$input.json" \
      "Contramask=$out/cs-$method-$encoder-$input.txt" "PyTorch 1.13=$out/py-$method-$encoder-$input.txt"; } | tee -a "$out/profile-$isa.md"
done
echo "wrote $out/profile-$isa.md"
