#!/usr/bin/env bash
# embed at scale: N generated 28x28 grey images (bench/image_folder.py, from MNIST's training digits) embedded by a run's
# encoder straight from the folder (streamed: decoded in a bounded pipeline while the encoder runs), timed with
# /usr/bin/time -v. Writes OUT/embed.log (wall time, peak RSS, CPU, commit) and OUT/embeddings.npy.
# Run on an otherwise idle machine from a committed tree:
#   bench/embed_scale.sh 1000000 ../shared/data/mnist runs/benchmark-mnist/fusion-convnet /tmp/embed-1m
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: bench/embed_scale.sh N MNIST_DIR RUN OUT}
mnist=${2:?usage: bench/embed_scale.sh N MNIST_DIR RUN OUT}
run=${3:?usage: bench/embed_scale.sh N MNIST_DIR RUN OUT}
out=${4:?usage: bench/embed_scale.sh N MNIST_DIR RUN OUT}
mkdir -p "$out"
dotnet build src/Contramask.Cli -c Release >/dev/null
[ -f "$out/images/.complete-$n" ] || { rm -rf "$out/images"; /usr/bin/python3 bench/image_folder.py "$n" "$mnist" "$out/images" && touch "$out/images/.complete-$n"; }
/usr/bin/time -v src/Contramask.Cli/bin/Release/net10.0/Contramask.Cli embed --run "$run" --data "folder:$out/images" \
  --out "$out/embeddings.npy" --quiet > "$out/embed.log" 2>&1
grep -E "Written|Elapsed|Maximum resident" "$out/embed.log"
echo "commit $(git rev-parse --short HEAD), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2) model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2), flags: $(grep -m1 -o -E 'avx512f|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')" >> "$out/embed.log"
