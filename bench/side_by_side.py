#!/usr/bin/env python3
"""Renders a benchmark.json as one Markdown table with validation and test figures side by side.

    python3 bench/side_by_side.py runs/benchmark-mnist/benchmark.json

The published tables in docs/RESULTS.md are this script's output, unedited: the validation column is what a
choice may look at, the test column is read once, for publication.
"""
import json
import sys


def pct(x):
    return f"{100 * x:.2f}"


def few(scores, key):
    return f"{100 * scores[key]:.1f} ± {100 * scores[key + '_std']:.1f}"


def main(path):
    try:
        bench = json.load(open(path))
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {path}: cannot read it as JSON ({e})")
    if not isinstance(bench, dict) or "records" not in bench or "machine" not in bench:
        raise SystemExit(f"error: {path}: not a benchmark.json written by `contramask benchmark` (no machine and records; "
                         "files from before the validation split are lists of records)")
    machine = bench["machine"]
    print(f"Commit {bench['commit']}; {machine.get('cpu', '?')}, AVX-512 {machine.get('avx512')}, "
          f"bf16 {machine.get('bf16')}, threads {machine.get('threads')}; "
          f"written {bench['written_utc']} UTC.")
    print()
    print("| method | encoder | steps | epochs | rec/s | linear val / test | kNN-20 val / test | linear 1% val / test "
          "| linear 10% val / test | kNN-20 1% val / test | NMI val / test | eff. rank (test) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in bench["records"]:
        v, t = r.get("val"), r["test"]
        if v is None:
            raise SystemExit(f"{path}: record {r['method']}/{r['encoder']} has no validation figures")
        print(f"| {r['method']} | {r['encoder']} | {r['steps']} | {r['epochs']:.1f} | {r['images_per_s']:.0f} "
              f"| {pct(v['linear'])} / {pct(t['linear'])} | {pct(v['knn20'])} / {pct(t['knn20'])} "
              f"| {few(v, 'linear_1pct')} / {few(t, 'linear_1pct')} | {few(v, 'linear_10pct')} / {few(t, 'linear_10pct')} "
              f"| {few(v, 'knn20_1pct')} / {few(t, 'knn20_1pct')} | {v['nmi']:.3f} / {t['nmi']:.3f} "
              f"| {t['effective_rank']:.1f}/{t['dimensions']} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(sys.argv[1])
