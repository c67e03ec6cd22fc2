#!/usr/bin/env bash
# mine at scale: N synthetic 128-d embeddings (bench/synthetic_embeddings.py), then `contramask mine` with clusters,
# outliers, near-duplicates, the neighbours of 1,000 random records and the map, timed with /usr/bin/time -v.
# Writes OUT/mine.log (progress, wall time, peak RSS) and OUT/mining.json (with the approximate index's recall).
# Run on an otherwise idle machine from a committed tree:  bench/mine_scale.sh 1000000 /tmp/scale-1m
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: bench/mine_scale.sh N OUT}
out=${2:?usage: bench/mine_scale.sh N OUT}
mkdir -p "$out"
dotnet build src/Contramask.Cli -c Release >/dev/null
/usr/bin/python3 bench/synthetic_embeddings.py "$n" "$out/embeddings.npy"
ids=$(/usr/bin/python3 -c "import random,sys; n=int(sys.argv[1]); r=random.Random(5); print(','.join('r%d'%i for i in r.sample(range(n),min(1000,n))))" "$n")
/usr/bin/time -v src/Contramask.Cli/bin/Release/net10.0/Contramask.Cli mine --embeddings "$out/embeddings.npy" --duplicates \
  --neighbours-of "$ids" --out "$out/mining" > "$out/mine.log" 2>&1
grep -E "recall|Elapsed|Maximum resident" "$out/mine.log"
echo "commit $(git rev-parse --short HEAD), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2) model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2), avx512: $(grep -c avx512f /proc/cpuinfo | head -1)" >> "$out/mine.log"
