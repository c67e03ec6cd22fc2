#!/usr/bin/env bash
# Tuning sweep: pretrains one recipe per line of a recipe file under the same wall-clock budget, evaluates each
# (pretrained encoder only), and appends a table row per recipe to OUT/results.md.
#   bench/tune.sh DATA_SPEC MINUTES RECIPES_FILE OUT
# A recipe line: NAME then `contramask pretrain` options, e.g.  fusion-m25  --method fusion --mask-ratio 0.25
set -uo pipefail
spec=${1:?data spec}; minutes=${2:?minutes}; recipes=${3:?recipe file}; out=${4:?output folder}
cd "$(dirname "$0")/.."
dotnet build src/Contramask.Cli -c Release -v q >/dev/null || exit 1
cli="dotnet src/Contramask.Cli/bin/Release/net10.0/Contramask.Cli.dll"
mkdir -p "$out"
[ -f "$out/results.md" ] || printf '| recipe | options | steps | img/s | linear | kNN-20 | linear 1%% | linear 10%% | kNN-20 1%% | NMI |\n|---|---|---|---|---|---|---|---|---|---|\n' > "$out/results.md"
while read -r name options; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  run="$out/$name"
  [ -f "$run/evaluation.json" ] && continue
  rm -rf "$run"
  # shellcheck disable=SC2086
  $cli pretrain --data "$spec" --budget "$minutes" --out "$run" --quiet $options > "$run.log" 2>&1 || { echo "$name failed"; tail -3 "$run.log"; continue; }
  row=$(/usr/bin/env python3 - "$run" <<'PY'
import json, sys, re
run = sys.argv[1]
e = json.load(open(f"{run}/evaluation.json"))["pretrained"]
log = open(f"{run}.log").read()
m = re.search(r"Finished: (\d+) steps.*?, (\d+) img/s", log)
print(f"{m.group(1)} | {m.group(2)} | {100*e['linear']:.2f} | {100*e['knn20']:.2f} | {100*e['linear_1pct']:.1f} ± {100*e['linear_1pct_std']:.1f} | {100*e['linear_10pct']:.1f} | {100*e['knn20_1pct']:.1f} | {e['nmi']:.3f}")
PY
)
  echo "| $name | \`$options\` | $row |" | tee -a "$out/results.md"
done < "$recipes"
