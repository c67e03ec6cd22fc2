#!/usr/bin/env bash
# Tuning sweep, on the validation slice only: pretrains one recipe per line of a recipe file under the same
# wall-clock budget (or the options' own --epochs), scores each pretrained encoder with `evaluate --split val`
# (probes fitted on the training split, scored on the validation slice carved from it), and appends a row per
# recipe to OUT/results.md. It never asks for a test figure: pretrain runs with --no-eval, and a row is written
# only from an evaluation.json whose split is "val".
#   bench/tune.sh DATA_SPEC MINUTES RECIPES_FILE OUT
# A recipe line: NAME then `contramask pretrain` options, e.g.  fusion-m25  --method fusion --mask-ratio 0.25
# MINUTES 0 means no budget (give --epochs in the recipe). Set THREADS to pin the thread count (default: all), and
# SKIP_BUILD=1 when several sweeps share one build (epoch-limited recipes can run side by side with THREADS=1), and
# CLI="dotnet FOLDER/Contramask.Cli.dll" to run another build (one made with -o while a sweep runs from bin/Release).
set -uo pipefail
spec=${1:?data spec}; minutes=${2:?minutes}; recipes=${3:?recipe file}; out=${4:?output folder}
cd "$(dirname "$0")/.."
[ -n "${SKIP_BUILD:-}${CLI:-}" ] || dotnet build src/Contramask.Cli -c Release -v q >/dev/null || exit 1
cli=${CLI:-"dotnet src/Contramask.Cli/bin/Release/net10.0/Contramask.Cli.dll"}
mkdir -p "$out"
[ -f "$out/results.md" ] || printf '| recipe | options | steps | rec/s | val linear | val kNN-20 | val linear 1%% | val linear 10%% | val kNN-20 1%% | val NMI |\n|---|---|---|---|---|---|---|---|---|---|\n' > "$out/results.md"
budget=(); [ "$minutes" != 0 ] && budget=(--budget "$minutes")
threads=(); [ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
while read -r name options; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  run="$out/$name"
  grep -q "^| $name |" "$out/results.md" && continue
  # shellcheck disable=SC2086
  $cli pretrain --data "$spec" "${budget[@]}" "${threads[@]}" --out "$run" --overwrite --no-eval --quiet $options > "$run.log" 2>&1 || { echo "$name failed"; tail -3 "$run.log"; continue; }
  $cli evaluate --run "$run" --split val --pretrained-only >> "$run.log" 2>&1 || { echo "$name: evaluation failed"; tail -3 "$run.log"; continue; }
  row=$(/usr/bin/env python3 - "$run" <<'PY'
import json, sys, re
run = sys.argv[1]
e = json.load(open(f"{run}/evaluation.json"))["pretrained"]
if e.get("split") != "val":
    sys.exit(f"{run}/evaluation.json is not a validation figure")
log = open(f"{run}.log").read()
m = re.search(r"Finished: (\d+) steps.*?, (\d+) img/s", log)
print(f"{m.group(1)} | {m.group(2)} | {100*e['linear']:.2f} | {100*e['knn20']:.2f} | {100*e['linear_1pct']:.1f} ± {100*e['linear_1pct_std']:.1f} | {100*e['linear_10pct']:.1f} | {100*e['knn20_1pct']:.1f} | {e['nmi']:.3f}")
PY
) || { echo "$name: no validation figure"; continue; }
  echo "| $name | \`$options\` | $row |" | tee -a "$out/results.md"
done < "$recipes"
