#!/usr/bin/env python3
"""Formats scripts/bench-gate.sh results as markdown, or splices them into
docs/benchmarks.md between <!-- bench-gate:begin --> and <!-- bench-gate:end -->.

    bench_gate_report.py CONDITIONS RESULTS_TSV > results.md
    bench_gate_report.py --splice DOC results.md
"""
import csv
import sys

BEGIN = "<!-- bench-gate:begin -->"
END = "<!-- bench-gate:end -->"
TARGETS = ["direct", "haproxy", "gate-1-shard", "gate-2-shards"]


def fmt_qps(v):
    try:
        return f"{float(v):,.0f}"
    except ValueError:
        return v


def ratio(a, b):
    try:
        return f"{float(a) / float(b):.2f}×"
    except (ValueError, ZeroDivisionError):
        return "-"


def report(conditions, tsv):
    rows = {}
    order = []
    with open(tsv) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            key = (r["workload"], r["ps_mode"], r["threads"])
            if key not in rows:
                rows[key] = {}
                order.append(key)
            rows[key][r["target"]] = r
    out = ["```"]
    with open(conditions) as f:
        out += [line.rstrip("\n") for line in f]
    out.append("```")
    out.append("")
    out.append("QPS (p95 latency in ms). Ratios: gate on one shard vs haproxy.")
    out.append("")
    out.append("| workload | statements | threads | " + " | ".join(TARGETS)
               + " | gate-1 / haproxy QPS | gate-1 / haproxy p95 |")
    out.append("|---|---|---|" + "---|" * len(TARGETS) + "---|---|")
    for key in order:
        wl, mode, th = key
        cells = []
        for t in TARGETS:
            r = rows[key].get(t)
            if r is None:
                cells.append("-")
            elif r["qps"] == "FAILED":
                cells.append("FAILED")
            else:
                cells.append(f"{fmt_qps(r['qps'])} ({r['p95_ms']})")
        g, h = rows[key].get("gate-1-shard"), rows[key].get("haproxy")
        qr = ratio(g["qps"], h["qps"]) if g and h else "-"
        pr = ratio(g["p95_ms"], h["p95_ms"]) if g and h else "-"
        stmts = "prepared" if mode == "auto" else "text"
        out.append(f"| {wl} | {stmts} | {th} | " + " | ".join(cells) + f" | {qr} | {pr} |")
    return "\n".join(out) + "\n"


def splice(doc, results_md):
    with open(doc) as f:
        text = f.read()
    with open(results_md) as f:
        body = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{doc} has no {BEGIN} … {END} section")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(doc, "w") as f:
        f.write(head + BEGIN + "\n" + body + END + tail)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--splice":
        splice(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3:
        sys.stdout.write(report(sys.argv[1], sys.argv[2]))
    else:
        sys.exit(__doc__)
