#!/usr/bin/env bash
# Embedding speed of TorchSharp vs ONNX Runtime (the exported model), side by side in one process per encoder, at
# batch 1 and 256, 2 threads: `contramask speed --onnx`. Writes OUT.jsonl (one line per encoder and batch, with the
# CPU, its flags and the commit). Run on an otherwise idle machine from a committed tree:
#   bench/onnx_speed.sh docs/results/onnx-speed-zen4   (name the CPU kind: see the cpu_id field)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/onnx_speed.sh OUT (without extension)}
threads=${THREADS:-2}
dotnet build src/Contramask.Cli -c Release >/dev/null
bin=src/Contramask.Cli/bin/Release/net10.0/Contramask.Cli
: > "$out.jsonl.tmp"
for recipe in ${RECIPES:-convnet:28x28x1 resnet18:32x32x3 vit-tiny:28x28x1 vit-tiny:32x32x3}; do
  encoder=${recipe%%:*} input=${recipe#*:}
  echo "$encoder $input…" >&2
  "$bin" speed --onnx --encoder "$encoder" --input "$input" --batch-size 256 --threads "$threads" --json >> "$out.jsonl.tmp"
done
mv "$out.jsonl.tmp" "$out.jsonl"
echo "command: bench/onnx_speed.sh $out" >&2
/usr/bin/python3 - "$out.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
m = rows[0]["machine"]
print(f"{m['cpu']}, AVX-512 {m['avx512']}, bf16 {m['bf16']}, {rows[0]['threads']} threads, commit {m['commit']}")
print("| encoder | input | batch | TorchSharp records/s | ONNX Runtime records/s | throughput ratio | TorchSharp ms | ONNX Runtime ms | latency ratio (rounds min–max) | max difference |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
for r in rows:
    print(f"| {r['encoder']} | {r['input']} | {r['batch']} | {r['torchsharp_records_per_s']:.0f} | {r['onnxruntime_records_per_s']:.0f} | "
          f"{r['throughput_ratio']:.2f} | {r['torchsharp_median_ms']:.2f} | {r['onnxruntime_median_ms']:.2f} | {r['latency_ratio']:.2f} ({r['latency_ratio_min']:.2f}–{r['latency_ratio_max']:.2f}) | {r['max_difference']:.1e} |")
PY
