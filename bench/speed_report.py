#!/usr/bin/python3
"""Aggregates bench/speed.sh's raw lines: per recipe, Contramask and PyTorch images/s (median over rounds), the
ratio Contramask / PyTorch per round (min, median, max), peak RSS, achieved GFLOP/s of the step against the
measured matmul peak. Writes docs/results/performance.json and prints a Markdown table for docs/PERFORMANCE.md.
With the reference measured both ways (bench/speed.sh BOTH_WAYS=1), the ratio is against the reference on its native
BLAS kernels, and the ratio against the reference as the environment pinned it is reported beside it.
  speed_report.py RAW.jsonl CHECKS.jsonl OUT.json COMMAND [ENVIRONMENTS.jsonl]"""
import json, platform, statistics, subprocess, sys

raw_path, checks_path, out_path, command = sys.argv[1:5]
environments = [json.loads(l) for l in open(sys.argv[5]) if l.strip()] if len(sys.argv) > 5 else []
lines = [json.loads(l) for l in open(raw_path) if l.strip()]
checks = [json.loads(l) for l in open(checks_path) if l.strip()]
runs = [l for l in lines if not l.get("peak")]
both_ways = {l.get("reference_blas") for l in lines} >= {"native", "as-is"}
def side(line):  # "contramask", "pytorch" (native BLAS, or the only way measured), "pytorch as-is"
    if line["implementation"] != "pytorch":
        return line["implementation"]
    return "pytorch as-is" if both_ways and line.get("reference_blas") == "as-is" else "pytorch"
peaks = {side(l): l["matmul_gflops"] for l in lines if l.get("peak")}
peak = max(peaks.values())

def cpu_info():
    try:
        lines = open("/proc/cpuinfo").read().splitlines()
        name = next(l.split(":", 1)[1].strip() for l in lines if l.startswith("model name"))
        flags = set(next(l.split(":", 1)[1] for l in lines if l.startswith("flags")).split())
    except Exception:
        return {"cpu": platform.processor()}
    return {"cpu": name, "avx2": "avx2" in flags, "avx512f": "avx512f" in flags, "avx512_bf16": "avx512_bf16" in flags}

records = []
keys = list(dict.fromkeys((r["method"], r["encoder"], r["input"]) for r in runs))  # recipes in the order they ran
for method, encoder, input_ in keys:
    mine = [r for r in runs if (r["method"], r["encoder"], r["input"]) == (method, encoder, input_)]
    cm = {r["round"]: r for r in mine if r["implementation"] == "contramask"}
    pt = {r["round"]: r for r in mine if side(r) == "pytorch"}
    pinned = {r["round"]: r for r in mine if side(r) == "pytorch as-is"}
    rounds = sorted(set(cm) & set(pt))
    ratios = [cm[i]["images_per_s"] / pt[i]["images_per_s"] for i in rounds]
    flops = next((r["flops_per_step"] for r in pt.values() if r.get("flops_per_step")), None)
    med = lambda rs, key: statistics.median(r[key] for r in rs)
    cm_step, pt_step = med(cm.values(), "pure_step_s"), med(pt.values(), "pure_step_s")
    records.append({
        "recipe": f"{method} {encoder}", "input": input_, "contramask_precision": cm[rounds[0]].get("precision", "fp32"), "rounds": len(rounds), "batch": cm[rounds[0]]["batch"], "threads": cm[rounds[0]]["threads"],
        "contramask_img_s": round(med(cm.values(), "images_per_s"), 1), "pytorch_img_s": round(med(pt.values(), "images_per_s"), 1),
        "ratio_median": round(statistics.median(ratios), 3), "ratio_min": round(min(ratios), 3), "ratio_max": round(max(ratios), 3),
        "contramask_step_ms": round(1000 * cm_step, 1), "pytorch_step_ms": round(1000 * pt_step, 1),
        "contramask_rss_mb": round(max(r["peak_rss_mb"] for r in cm.values())), "pytorch_rss_mb": round(max(r["peak_rss_mb"] for r in pt.values())),
        "gflops": round(flops / cm_step / 1e9, 1) if flops else None, "pytorch_gflops": round(flops / pt_step / 1e9, 1) if flops else None,
        "peak_gflops": round(peak, 1), "gflop_per_step": round(flops / 1e9, 2) if flops else None,
        "contramask_phases_ms": {k: round(1000 * statistics.median(r["phases_s"][k] for r in cm.values()), 1) for k in cm[rounds[0]]["phases_s"]},
        "pytorch_phases_ms": {k: round(1000 * statistics.median(r["phases_s"][k] for r in pt.values()), 1) for k in pt[rounds[0]]["phases_s"]},
        "pytorch_blas": pt[rounds[0]].get("reference_blas"),
    })
    if pinned:
        both = [i for i in rounds if i in pinned]
        records[-1]["pytorch_as_is_img_s"] = round(med(pinned.values(), "images_per_s"), 1)
        records[-1]["ratio_vs_as_is_median"] = round(statistics.median(cm[i]["images_per_s"] / pinned[i]["images_per_s"] for i in both), 3)

result = {
    "command": command,
    "commit": subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], capture_output=True, text=True).stdout.strip() or None,
    "machine": {**cpu_info(), "cores": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
                                    "kernel": platform.release()},
    "environments": environments,
    "pytorch": next((r["torch"] for r in runs if r.get("torch")), None), "matmul_peak_gflops": {k: round(v, 1) for k, v in peaks.items()},
    "loss_checks": checks, "records": records,
}
with open(out_path, "w") as f:
    json.dump(result, f, indent=2)
    f.write("\n")

print(f"\n| recipe | input | Contramask img/s | PyTorch img/s | ratio median (min–max) | step ms C# / Py | peak RSS MB C# / Py | GFLOP/s (peak {peak:.0f}) |")
print("|---|---|---:|---:|---|---|---|---|")
for r in records:
    print(f"| {r['recipe']} ({r['contramask_precision']}) | {r['input']} | {r['contramask_img_s']} | {r['pytorch_img_s']} | {r['ratio_median']:.2f} ({r['ratio_min']:.2f}–{r['ratio_max']:.2f}) | "
          f"{r['contramask_step_ms']:.0f} / {r['pytorch_step_ms']:.0f} | {r['contramask_rss_mb']} / {r['pytorch_rss_mb']} | {r['gflops']} / {r['pytorch_gflops']} |")
if any("ratio_vs_as_is_median" in r for r in records):
    print("\nAgainst the reference as the environment pinned its BLAS:")
    for r in records:
        print(f"- {r['recipe']} {r['input']}: PyTorch {r['pytorch_as_is_img_s']} img/s, ratio {r['ratio_vs_as_is_median']:.2f}")
print(f"matmul peak GFLOP/s: " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()))
print(f"\nloss checks: {sum(c['same'] for c in checks)} of {len(checks)} identical within 1e-4 (relative)")
print(f"written {out_path}")
