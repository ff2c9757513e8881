#!/usr/bin/env python3
# chart.py - draws docs/images/perf-core.png from the CSV summaries that gloop_bench --csv writes.
"""Bar charts of guestloop against its peers and against its targets.

Usage: chart.py [-o OUT.png] CSV [CSV ...]
       chart.py --markdown CSV [CSV ...]

--markdown prints the merged results as a Markdown table instead of drawing,
one guestloop column per build, for docs/performance.md.

Each CSV comes from one gloop_bench run (for example one per context
backend: a ucontext build and an asm build). The left panel shows, for every
row that has a peer, guestloop's time divided by the best peer's time, the
ratio having been taken inside each round by the benchmark; the right panel
shows every row that has an absolute target as its median divided by that
target. In both panels a bar below the line at 1 is better than the
reference. Error bars span the min-max over rounds. The scale is
logarithmic, because the portable ucontext switch is hundreds of times
slower than the assembly one on a machine with slow system calls.
"""

import argparse
import csv
import math
import os
import sys

# Rows whose numbers do not depend on the backend the library was built
# with: the raw switches are timed on private copies of both backends in
# every build, and the reference rows measure the machine. They are drawn
# once, from the first CSV that has them.
BUILD_INDEPENDENT = ("switch.", "ref.")


def parse_float(text):
    return float(text) if text not in ("", None) else math.nan


def read_rows(paths):
    """Returns a list of dicts, one per CSV line, in file order."""
    rows = []
    for path in paths:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            need = {"backend", "id", "label", "role", "name", "median", "min", "max",
                    "strict_abs"}
            if reader.fieldnames is None or not need.issubset(reader.fieldnames):
                sys.exit(f"chart.py: {path} is not a gloop_bench --csv file")
            for r in reader:
                for key in ("median", "min", "max", "strict_abs"):
                    r[key] = parse_float(r[key])
                rows.append(r)
    return rows


def pick(rows, role):
    """The rows of one role, deduplicating the build-independent ones."""
    seen = set()
    out = []
    for r in rows:
        if r["role"] != role:
            continue
        shared = r["id"].startswith(BUILD_INDEPENDENT)
        key = (r["id"], r["name"]) if shared else (r["id"], r["name"], r["backend"])
        if key in seen:
            continue
        seen.add(key)
        out.append(dict(r, shared=shared))
    return out


def best_peer_ratios(rows):
    """For each (row, build), the ratio row of the peer with the lowest median."""
    best = {}
    for r in pick(rows, "ratio"):
        key = (r["id"], None if r["shared"] else r["backend"])
        if key not in best or r["median"] < best[key]["median"]:
            best[key] = r
    return list(best.values())


def target_ratios(rows):
    out = []
    for r in pick(rows, "guestloop"):
        t = r["strict_abs"]
        if math.isnan(t) or t <= 0:
            continue
        out.append(dict(r, median=r["median"] / t, min=r["min"] / t, max=r["max"] / t))
    return out


def bar_label(r):
    if r["shared"]:
        return r["id"]
    return f'{r["id"]} ({r["backend"]})'


def draw(ax, bars, title, reference_text, empty_text):
    ax.set_title(title, fontsize=10)
    if not bars:
        ax.text(0.5, 0.5, empty_text, ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    labels = [bar_label(b) for b in bars]
    med = [b["median"] for b in bars]
    lo = [max(b["median"] - b["min"], 0) for b in bars]
    hi = [max(b["max"] - b["median"], 0) for b in bars]
    colours = ["#3b7dd8" if m <= 1 else "#d8553b" for m in med]
    ys = range(len(bars))
    ax.barh(ys, med, xerr=[lo, hi], color=colours, ecolor="#333333", capsize=3)
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1)
    ax.text(1.0, -0.7, " " + reference_text, fontsize=8, va="bottom")
    for y, b in zip(ys, bars):
        ax.text(b["max"] * 1.08, y, f'{b["median"]:.3g}', va="center", fontsize=8)
    left = min(min(b["min"] for b in bars), 1.0) / 2
    right = max(max(b["max"] for b in bars), 1.0) * 4
    ax.set_xlim(left, right)
    ax.grid(axis="x", which="major", linestyle=":", linewidth=0.5)


def fmt(v):
    if math.isnan(v):
        return "?"
    if abs(v) >= 100:
        return f"{v:,.0f}".replace(",", " ")
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_cell(r):
    if r is None:
        return ""
    if r["n"] in ("", "1") or r["min"] == r["max"]:
        return f"**{fmt(r['median'])}**"
    return f"**{fmt(r['median'])}** [{fmt(r['min'])}-{fmt(r['max'])}]"


def markdown(rows):
    """One line per row id in first-seen order; one guestloop column per build."""
    backends = []
    for r in rows:
        if r["backend"] not in backends:
            backends.append(r["backend"])
    ids, label, unit, target = [], {}, {}, {}
    cell, ratio, peer, status = {}, {}, {}, {}
    for r in rows:
        rid, b = r["id"], r["backend"]
        if rid not in label:
            ids.append(rid)
            label[rid] = r["label"]
            unit[rid] = r["unit"]
            target[rid] = r["target"]
        shared = rid.startswith(BUILD_INDEPENDENT)
        col = backends[0] if shared else b
        if r["role"] == "guestloop":
            if (rid, col) not in cell:
                cell[(rid, col)] = r
                status[(rid, col)] = r["status"]
        elif r["role"] == "ratio":
            ratio.setdefault((rid, col), r)
        elif r["role"] == "peer":
            peer.setdefault((rid, col), r)
    head = ["metric", "unit"] + [f"guestloop, {b} build" for b in backends] + \
        ["peer (" + " / ".join(f"{b} pass" for b in backends) + ")", "target", "status"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rid in ids:
        cols = [label[rid], unit[rid]]
        st = []
        for b in backends:
            c = fmt_cell(cell.get((rid, b)))
            q = ratio.get((rid, b))
            if c and q is not None:
                c += f" ({fmt(q['median'])}x peer)"
            cols.append(c or ("" if rid.startswith(BUILD_INDEPENDENT) else "-"))
            if (rid, b) in status and status[(rid, b)] != "-":
                st.append(f"{b}: {status[(rid, b)]}" if len(backends) > 1 else
                          status[(rid, b)])
        # Each pass measured its own peer; the ratios above are against these.
        ps = [peer[(rid, b)] for b in backends if (rid, b) in peer]
        cols.append(f"{ps[0]['name']} " + " / ".join(fmt_cell(p) for p in ps) if ps else "-")
        cols.append(target[rid])
        cols.append("; ".join(st) if st else "-")
        out.append("| " + " | ".join(cols) + " |")
    return "\n".join(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.normpath(os.path.join(here, "..", "..", "docs", "images",
                                                "perf-core.png"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", nargs="+", help="CSV files written by gloop_bench --csv")
    ap.add_argument("-o", "--output", default=default_out, help="PNG to write")
    ap.add_argument("--markdown", action="store_true",
                    help="print a Markdown table instead of drawing")
    args = ap.parse_args()

    if args.markdown:
        print(markdown(read_rows(args.csv)))
        return

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("chart.py: needs matplotlib (Debian: apt-get install python3-matplotlib)")

    rows = read_rows(args.csv)
    peers = best_peer_ratios(rows)
    targets = target_ratios(rows)
    backends = sorted({r["backend"] for r in rows})
    n = max(len(peers), len(targets), 1)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 1.2 + 0.42 * n))
    draw(a1, peers, "guestloop / best peer (same round), lower is better",
         "parity", "no row with a peer in these files")
    draw(a2, targets, "guestloop / target, below 1 meets it",
         "target", "no row with an absolute target in these files")
    fig.suptitle("libguestloop core benchmark (builds: " + ", ".join(backends) +
                 "); bars: median, whiskers: min-max over rounds", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    fig.savefig(args.output, dpi=110)
    print(f"chart.py: wrote {args.output}")


if __name__ == "__main__":
    main()
