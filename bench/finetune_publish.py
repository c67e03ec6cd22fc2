#!/usr/bin/env python3
"""Collects the classifier.json files of a published set of `contramask finetune` runs into one JSON file and
prints a Markdown table (validation / test). Refuses a classifier.json without a test figure (a tuning run).
    python3 bench/finetune_publish.py OUT.json FOLDER...
"""
import json, os, sys

out, folders = sys.argv[1], sys.argv[2:]
# Named by their path below the folders' common parent, so that sets from two encoders (contrastive/semi-600 and
# fusion/semi-600) keep apart; one folder per parent gives the plain folder name, as before.
parents = {os.path.dirname(os.path.normpath(f)) for f in folders}
common = os.path.commonpath(list(parents)) if len(parents) > 1 else None
records = []
def record(name, c, f, scores, seconds, temperature):
    return {"name": name, "run": c["run"], "mode": c["mode"], "labels": c["labels"], "labelled": c["labelled_count"],
            "unlabelled": c["unlabelled_count"], "steps": f.get("steps"), "best_step": f.get("best_step"),
            "seconds": round(seconds, 1), "temperature": round(temperature, 3), "machine": c.get("machine"),
            "val": scores["validation"], "test": scores["test"]}
for folder in folders:
    c = json.load(open(os.path.join(folder, "classifier.json")))
    if c.get("test") is None:
        sys.exit(f"{folder}: no test figure (a --no-test tuning run); publish from a run without --no-test")
    name = os.path.relpath(os.path.normpath(folder), common) if common else os.path.basename(os.path.normpath(folder))
    members = c.get("members") or []
    r = record(name, c, c.get("fine_tune") or {}, c, c["seconds"], c["temperature"])
    if members:
        # An ensemble (finetune --members): its own row, then each member's, every one a candidate; member 1 is the
        # classifier a run without --members trains.
        r["mode"] += f", ensemble of {len(members)}"
        r["steps"] = " + ".join(str((m.get("fine_tune") or {}).get("steps")) for m in members)
        r["temperature"] = None
    if c.get("test_time_shift"):
        # Its test-time shift (finetune --test-time-shifts or --classifier), chosen on validation: its own and its
        # validation and test scores are the shifted predictions' (members' rows below stay their plain ones).
        r["mode"] += f", test-time shift {c['test_time_shift']} px"
    r["test_time_checks"] = c.get("test_time_checks")
    records.append(r)
    listed = {os.path.realpath(f) for f in folders}
    for k, m in enumerate(members):
        # A member joined from another classifier (finetune --classifier A --classifier B) names its folder; one whose
        # folder is published too already has its row there.
        source = m.get("source")
        if source and os.path.realpath(source) in listed and os.path.realpath(source) != os.path.realpath(folder):
            continue
        r = record(f"{name} member {k + 1} (seed {m['seed']}{', ' + os.path.basename(source) if source else ''})", c,
                   m.get("fine_tune") or {}, m, m["seconds"], m["temperature"])
        r["run"], r["mode"] = m.get("run") or r["run"], m.get("mode") or r["mode"]
        records.append(r)
# The chosen classifier of each label budget: the best validation accuracy among the pretrained ones (a model trained
# from scratch is the baseline, not a candidate). The test figures play no part in it.
for labelled in sorted({r["labelled"] for r in records}):
    candidates = [r for r in records if r["labelled"] == labelled and "scratch" not in r["mode"]]
    if candidates:
        max(candidates, key=lambda r: r["val"]["accuracy"])["chosen"] = True
json.dump({"records": records}, open(out, "w"), indent=2)
print("| classifier | mode | labels | steps (best) | seconds | accuracy val / test | macro-F1 val / test | ECE val / test |")
print("|---|---|---|---|---|---|---|---|")
for r in records:
    v, t = r["val"], r["test"]
    steps = f"{r['steps']} ({r['best_step']})" if r["best_step"] is not None else (r["steps"] or "–")
    name = f"**{r['name']}**" if r.get("chosen") else r["name"]
    print(f"| {name} | {r['mode']} | {r['labelled']} | {steps} | {r['seconds']:.0f} | {100*v['accuracy']:.2f} / {100*t['accuracy']:.2f} | "
          f"{100*v['macro_f1']:.2f} / {100*t['macro_f1']:.2f} | {100*v['ece']:.2f} / {100*t['ece']:.2f} |")
