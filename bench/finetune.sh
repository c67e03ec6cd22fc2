#!/usr/bin/env bash
# Classifier sweep, on the validation slice only: one `contramask finetune --no-test` per line of a recipe file,
# from the same pretrained run, and a row per recipe in OUT/results.md with the validation figures of its
# classifier.json (the test split is never scored here).
#   bench/finetune.sh RUN_FOLDER RECIPES_FILE OUT
# PUBLISH=1 runs a recipe file whose settings were chosen that way once more, with the test split scored, for
# bench/finetune_publish.py (OUT/results.md then still shows validation figures only).
# A recipe line: NAME then `contramask finetune` options, e.g.  full-1pct  --labels 600 --mode full
# Set SKIP_BUILD=1 when several sweeps share one build, and CLI="dotnet FOLDER/Contramask.Cli.dll" to run another
# build (one made with `dotnet publish -o` while a sweep runs from bin/Release).
set -uo pipefail
run=${1:?run folder}; recipes=${2:?recipe file}; out=${3:?output folder}
cd "$(dirname "$0")/.."
[ -n "${SKIP_BUILD:-}${CLI:-}" ] || dotnet build src/Contramask.Cli -c Release -v q >/dev/null || exit 1
cli=${CLI:-"dotnet src/Contramask.Cli/bin/Release/net10.0/Contramask.Cli.dll"}
mkdir -p "$out"
test_flag=--no-test; [ -n "${PUBLISH:-}" ] && test_flag=""
[ -f "$out/results.md" ] || printf '| recipe | options | labels | steps (best) | seconds | val accuracy | val macro-F1 | val ECE |\n|---|---|---|---|---|---|---|---|\n' > "$out/results.md"
while read -r name options; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  grep -q "^| $name |" "$out/results.md" && continue
  # shellcheck disable=SC2086
  /usr/bin/time -v $cli finetune --run "$run" --out "$out/$name" $test_flag --quiet $options > "$out/$name.log" 2>&1 || { echo "$name failed"; tail -3 "$out/$name.log"; continue; }
  row=$(python3 - "$out/$name/classifier.json" "${PUBLISH:-}" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
if (c.get("test") is not None) != bool(sys.argv[2]):
    sys.exit("a test figure in a tuning sweep" if sys.argv[2] == "" else "no test figure in a publishing run")
v, f = c["validation"], c.get("fine_tune") or {}
members = c.get("members") or []
steps = f"{f['steps']} ({f['best_step']})" if f else " + ".join(f"{m['fine_tune']['steps']} ({m['fine_tune']['best_step']})" for m in members if m.get("fine_tune")) or "–"
print(f"{c['labelled_count']} | {steps} | {c['seconds']:.0f} | {100*v['accuracy']:.2f} | {100*v['macro_f1']:.2f} | {100*v['ece']:.2f}")
PY
) || { echo "$name: no validation figure"; continue; }
  echo "| $name | \`$options\` | $row |" | tee -a "$out/results.md"
done < "$recipes"
