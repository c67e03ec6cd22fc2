#!/usr/bin/env bash
# Long-run memory soak (issue #7): pretrains STEPS steps and prints the resident memory logged in metrics.jsonl at
# intervals (flat after warm-up = no leak); SIGTERM (not SIGINT: a background job ignores it) stops it; then embeds every record with /usr/bin/time and prints the peak RSS.
#   bench/soak.sh DATA_SPEC [STEPS=2000] [OUT=runs/soak] [extra pretrain options…]
set -uo pipefail
spec=${1:?data spec, e.g. idx:../shared/data/mnist}; steps=${2:-2000}; out=${3:-runs/soak}; shift $(( $# < 3 ? $# : 3 ))
cd "$(dirname "$0")/.."
dotnet build src/Contramask.Cli -c Release -v q >/dev/null || exit 1
cli="dotnet src/Contramask.Cli/bin/Release/net10.0/Contramask.Cli.dll"
rm -rf "$out"; mkdir -p "$out"
# Batch 256 unless given; enough epochs for STEPS steps (the run stops at the epoch end just past STEPS).
$cli pretrain --data "$spec" --out "$out/run" --method contrastive --batch-size 256 --epochs 100000 --budget 600 --no-eval --quiet "$@" \
  > "$out/pretrain.log" 2>&1 &
pid=$!
metrics="$out/run/metrics.jsonl"
while kill -0 $pid 2>/dev/null; do
  if [ -f "$metrics" ] && [ "$(grep -c '"loss"' "$metrics")" -ge "$steps" ]; then kill -TERM $pid; wait $pid; break; fi
  sleep 5
done
echo "step  rss_mb  images_per_s"
for s in 1 50 100 250 500 750 1000 1250 1500 1750 2000 "$steps"; do
  grep -m1 "\"step\":$s," "$metrics" | sed -E 's/.*"step":([0-9]+).*"images_per_s":([0-9.]+).*"rss_mb":([0-9]+).*/\1  \3  \2/'
done | sort -n -u
/usr/bin/time -v $cli embed --run "$out/run" --out "$out/embeddings.parquet" --quiet 2> "$out/embed.time" | tail -1
grep -E "Maximum resident|Elapsed" "$out/embed.time"
