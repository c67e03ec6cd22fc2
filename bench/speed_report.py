#!/usr/bin/python3
"""Aggregates bench/speed.sh's raw lines: per recipe, Contramask and PyTorch images/s (median over rounds), the
ratio Contramask / PyTorch per round (min, median, max), peak RSS, achieved GFLOP/s of the step against the
measured matmul peak. Writes docs/results/performance.json and prints a Markdown table for docs/PERFORMANCE.md.
  speed_report.py RAW.jsonl CHECKS.jsonl OUT.json COMMAND"""
import json, platform, statistics, subprocess, sys

raw_path, checks_path, out_path, command = sys.argv[1:5]
lines = [json.loads(l) for l in open(raw_path) if l.strip()]
checks = [json.loads(l) for l in open(checks_path) if l.strip()]
runs = [l for l in lines if not l.get("peak")]
peaks = {l["implementation"]: l["matmul_gflops"] for l in lines if l.get("peak")}
peak = max(peaks.values())

def cpu_name():
    try:
        return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except Exception:
        return platform.processor()

records = []
keys = list(dict.fromkeys((r["method"], r["encoder"], r["input"]) for r in runs))  # recipes in the order they ran
for method, encoder, input_ in keys:
    mine = [r for r in runs if (r["method"], r["encoder"], r["input"]) == (method, encoder, input_)]
    cm = {r["round"]: r for r in mine if r["implementation"] == "contramask"}
    pt = {r["round"]: r for r in mine if r["implementation"] == "pytorch"}
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
    })

result = {
    "command": command, "machine": {"cpu": cpu_name(), "cores": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
                                    "kernel": platform.release()},
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
print(f"\nloss checks: {sum(c['same'] for c in checks)} of {len(checks)} identical within 1e-4 (relative)")
print(f"written {out_path}")
