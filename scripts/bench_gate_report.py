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


def median(values):
    v = sorted(values)
    n = len(v)
    if n == 0:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def summary(runs):
    """Median QPS and p95 of one target's runs; None if any run failed."""
    try:
        qps = [float(r["qps"]) for r in runs]
        p95 = [float(r["p95_ms"]) for r in runs]
    except ValueError:
        return None
    return median(qps), median(p95)


def paired_ratio(gate, haproxy, field):
    """Median over rounds of gate / haproxy (runs of one round are adjacent)."""
    by_round = {r.get("round", "1"): r for r in haproxy}
    ratios = []
    for g in gate:
        h = by_round.get(g.get("round", "1"))
        try:
            ratios.append(float(g[field]) / float(h[field]))
        except (TypeError, ValueError, ZeroDivisionError):
            return "-"
    m = median(ratios)
    return "-" if m is None else f"{m:.2f}×"


def report(conditions, tsv):
    rows = {}
    order = []
    with open(tsv) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            key = (r["workload"], r["ps_mode"], r["threads"])
            if key not in rows:
                rows[key] = {}
                order.append(key)
            rows[key].setdefault(r["target"], []).append(r)
    rounds = max((len(runs) for t in rows.values() for runs in t.values()), default=1)
    out = ["```"]
    with open(conditions) as f:
        out += [line.rstrip("\n") for line in f]
    out.append("```")
    out.append("")
    if rounds > 1:
        out.append(f"QPS (p95 latency in ms), medians of {rounds} rounds. Ratios: gate on "
                   "one shard vs haproxy, the median of the rounds' ratios.")
    else:
        out.append("QPS (p95 latency in ms). Ratios: gate on one shard vs haproxy.")
    out.append("")
    out.append("| workload | statements | threads | " + " | ".join(TARGETS)
               + " | gate-1 / haproxy QPS | gate-1 / haproxy p95 |")
    out.append("|---|---|---|" + "---|" * len(TARGETS) + "---|---|")
    for key in order:
        wl, mode, th = key
        cells = []
        for t in TARGETS:
            runs = rows[key].get(t)
            if not runs:
                cells.append("-")
                continue
            s = summary(runs)
            if s is None:
                cells.append("FAILED")
            else:
                cells.append(f"{fmt_qps(s[0])} ({s[1]:.2f})")
        g, h = rows[key].get("gate-1-shard"), rows[key].get("haproxy")
        qr = paired_ratio(g, h, "qps") if g and h else "-"
        pr = paired_ratio(g, h, "p95_ms") if g and h else "-"
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
