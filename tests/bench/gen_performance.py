#!/usr/bin/env python3
# gen_performance.py - runs every benchmark once and regenerates docs/performance.md and its charts from that one run.
"""Regenerates docs/performance.md (and docs/images/perf-core.png,
docs/images/perf-qt.png) from one run of every benchmark:

* gloop_bench in an asm and a ucontext Release build (CSV, read by chart.py),
  optionally also its one-million-task pass;
* gloop_bench_qt beside the two Python peers (Trio guest mode and asyncio in
  PyQt6), as interleaved process rounds: each round runs the three programs
  once, one after another, so a slow minute slows all three;
* gloop_iobench beside libuv (its own table, taken over verbatim);
* a CPU profile (perf, software clock) of the core probe behind each missed
  target, when perf is installed.

Every number on the page comes from this run: the prose is in
tests/bench/performance.md.in, whose @NAME@ fields this script fills. The
load average is stamped at the start and end of every pass.

Usage (from the repository root, after building both trees):
  cmake -S . -B build-asm -DCMAKE_BUILD_TYPE=Release -DGUESTLOOP_CONTEXT=asm
  cmake --build build-asm --target gloop_bench gloop_bench_qt gloop_iobench
  cmake -S . -B build-uc -DCMAKE_BUILD_TYPE=Release -DGUESTLOOP_CONTEXT=ucontext -DGUESTLOOP_QT=OFF
  cmake --build build-uc --target gloop_bench
  python3 tests/bench/gen_performance.py --asm build-asm --uc build-uc

--quick runs every part with smoke counts (minutes shrink to seconds; the
numbers then mean nothing) and writes to --out, which it then requires, so
that a quick run never overwrites the page.
"""

import argparse
import csv
import datetime
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import chart  # noqa: E402  (tests/bench/chart.py: CSV reading, Markdown, bar drawing)


def header_default(name):
    """A GLOOP_DEFAULT_* option value as the public header defines it."""
    header = os.path.join(ROOT, "core", "include", "guestloop", "guestloop.h")
    with open(header) as f:
        m = re.search(r"#define %s ([0-9.eE+-]+)" % name, f.read())
    return float(m.group(1))


DEFAULT_BUDGET = header_default("GLOOP_DEFAULT_TICK_BUDGET")
DEFAULT_SPIN = header_default("GLOOP_DEFAULT_TIMER_SPIN")
PEER_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
QT_ENV = dict(os.environ, QT_QPA_PLATFORM="offscreen")


def log(msg):
    print(f"gen_performance: {msg}", file=sys.stderr, flush=True)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")


def load():
    return "%.2f / %.2f / %.2f" % os.getloadavg()


class Pass:
    """Start and end stamps of one part of the run, for the page."""

    def __init__(self, what):
        self.what = what
        self.t0, self.l0 = now_utc(), load()
        log(f"{what}: start {self.t0}, load {self.l0}")

    def end(self):
        self.t1, self.l1 = now_utc(), load()
        log(f"{self.what}: end {self.t1}, load {self.l1}")
        return self

    def text(self):
        return (f"{self.what} from {self.t0} to {self.t1} UTC (1/5/15-minute load "
                f"averages {self.l0} at the start, {self.l1} at the end)")


def run(cmd, env=None, capture=True):
    log("$ " + " ".join(cmd))
    r = subprocess.run(cmd, env=env, text=True,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.stderr.write(r.stderr or "")
        sys.exit(f"gen_performance: {cmd[0]} failed with status {r.returncode}")
    return r.stdout


# ---- Machine facts ------------------------------------------------------------------


def read(path, default="?"):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def first_line(cmd):
    try:
        out = subprocess.run(cmd, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout
    except OSError:
        return "?"
    return out.splitlines()[0].strip() if out.strip() else "?"


def cmake_cache(build, key):
    for line in read(os.path.join(build, "CMakeCache.txt"), "").splitlines():
        if line.startswith(key + ":"):
            return line.split("=", 1)[1]
    return ""


def machine_facts(asm_build):
    cpu = {}
    for line in read("/proc/cpuinfo", "").splitlines():
        k, _, v = line.partition(":")
        cpu.setdefault(k.strip(), v.strip())
    mem = {}
    for line in read("/proc/meminfo", "").splitlines():
        k, _, v = line.partition(":")
        mem[k] = v.strip()
    thp = re.search(r"\[(\w+)\]", read("/sys/kernel/mm/transparent_hugepage/enabled", ""))
    boost = re.search(r'BOOST_LIB_VERSION "([\d_]+)"', read("/usr/include/boost/version.hpp", ""))
    peers = subprocess.run(
        [PEER_PYTHON, "-c",
         "import sys, PyQt6.QtCore as q\n"
         "try:\n import trio; t = trio.__version__\nexcept ImportError: t = 'not installed'\n"
         "print(sys.version.split()[0], q.PYQT_VERSION_STR, q.QT_VERSION_STR, t)"],
        text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.split()
    while len(peers) < 4:
        peers.append("?")
    cc = cmake_cache(asm_build, "CMAKE_C_COMPILER") or "cc"

    def kib_to_gib(v):
        try:
            return "%.0f GiB" % (int(v.split()[0]) / 1024 / 1024)
        except (ValueError, IndexError):
            return "?"

    return [
        ("CPU", f"{os.cpu_count()} logical CPUs: {cpu.get('model name', '?')} "
                f"(family {cpu.get('cpu family', '?')})"),
        ("Memory", f"{kib_to_gib(mem.get('MemTotal', '?'))}, swap "
                   f"{kib_to_gib(mem.get('SwapTotal', '?'))}; transparent huge pages "
                   f"`{thp.group(1) if thp else '?'}`, `vm.max_map_count` = "
                   f"{read('/proc/sys/vm/max_map_count')}, `vm.overcommit_memory` = "
                   f"{read('/proc/sys/vm/overcommit_memory')}"),
        ("System", f"Linux {platform.release()}, "
                   f"{os.confstr('CS_GNU_LIBC_VERSION') if hasattr(os, 'confstr') else '?'}, "
                   f"compiler: {first_line([cc, '--version'])}"),
        ("C peers", f"libuv {first_line(['pkg-config', '--modversion', 'libuv'])}, Boost "
                    f"{boost.group(1).replace('_', '.') if boost else '?'} (fcontext)"),
        ("Qt and Python peers", f"Qt {first_line(['pkg-config', '--modversion', 'Qt6Core'])} "
                                f"(the C benchmark), Python {peers[0]}, PyQt6 {peers[1]} on Qt "
                                f"{peers[2]}, trio {peers[3]}"),
    ]


# ---- Core benchmark -------------------------------------------------------------------


def core_pass(build, backend, args, tmp, million):
    exe = os.path.join(build, "tests", "bench", "gloop_bench")
    out = os.path.join(tmp, f"{backend}{'-million' if million else ''}.csv")
    cmd = [exe, "--csv", out]
    if args.quick:
        cmd.append("--quick")
    if million:
        cmd += ["--million", "--only", "million"]
        if not args.quick:
            cmd += ["--rounds", str(args.million_rounds)]
    elif not args.quick:
        cmd += ["--rounds", str(args.rounds)]
    rounds = 2 if args.quick else args.million_rounds if million else args.rounds
    p = Pass(f"{backend} build, {rounds} round{'s' if rounds > 1 else ''}")
    run(cmd)
    p.end()
    return out, p


def row_of(rows, rid, backend, role="guestloop"):
    for r in rows:
        if r["id"] == rid and r["role"] == role and (backend is None or r["backend"] == backend):
            return r
    return None


# ---- Qt benchmark -----------------------------------------------------------------------

QT_LINE = re.compile(r"^(\S.*?)\s{2,}(-?[\d.]+|nan)\s+\[(\S+) - (\S+)\]\s+(\S.*?)\s*$")
QT_SIDES = ("guestloop", "trio", "asyncio")


def parse_qt_table(text):
    rows = {}
    for line in text.splitlines():
        m = QT_LINE.match(line)
        if m and m.group(1) != "metric":
            rows[m.group(1)] = (float(m.group(2)), m.group(5))
    return rows


def qt_passes(args):
    """{side: {metric: [value per round]}}, units, and the pass stamp."""
    exe = os.path.join(args.asm, "tests", "qt", "gloop_bench_qt")
    peer = os.path.join(ROOT, "tests", "qt", "peer_qt_bench.py")
    cmds = {
        "guestloop": [exe, "--smoke"] if args.quick else [exe, "--rounds", "1"],
        "trio": [PEER_PYTHON, peer, "--peer", "trio"] + (["--smoke"] if args.quick else
                                                          ["--rounds", "1"]),
        "asyncio": [PEER_PYTHON, peer, "--peer", "asyncio"] + (["--smoke"] if args.quick else
                                                                ["--rounds", "1"]),
    }
    values = {side: {} for side in QT_SIDES}
    units = {}
    rounds = 1 if args.quick else args.qt_rounds
    p = Pass(f"Qt: {rounds} round{'s' if rounds > 1 else ''}")
    for k in range(rounds):
        # Alternate the order, so that no program always runs right after
        # the asyncio peer's busy idle measurement.
        order = QT_SIDES if k % 2 == 0 else tuple(reversed(QT_SIDES))
        for side in order:
            for metric, (v, unit) in parse_qt_table(run(cmds[side], env=QT_ENV)).items():
                values[side].setdefault(metric, []).append(v)
                units[metric] = unit
    return values, units, rounds, p.end()


def stat(vs):
    vs = [v for v in vs if not math.isnan(v)]
    if not vs:
        return None
    return statistics.median(vs), min(vs), max(vs)


def ratios(a, b):
    return [x / y for x, y in zip(a, b) if y > 0]


def fmt(v):
    """chart.fmt, with three significant digits below 0.1 (ratios of 0.001)."""
    return f"{v:.3g}" if 0 < abs(v) < 0.1 else chart.fmt(v)


def cell(vs, bold=True):
    s = stat(vs)
    if s is None:
        return "-"
    med = f"**{fmt(s[0])}**" if bold else fmt(s[0])
    return med if len(vs) == 1 or s[1] == s[2] else f"{med} [{fmt(s[1])}-{fmt(s[2])}]"


def qt_table(values, units):
    gl, tr, aio = (values[s] for s in QT_SIDES)
    head = ("| metric | unit | libguestloop in Qt | Trio guest mode in PyQt6 | asyncio in PyQt6 "
            "| libguestloop / Trio | libguestloop / asyncio |\n|---|---|---|---|---|---|---|")
    out = [head]
    for metric, vs in gl.items():
        t, a = tr.get(metric, []), aio.get(metric, [])
        out.append(f"| {metric} | {units[metric]} | {cell(vs)} | {cell(t)} | {cell(a)} | "
                   f"{cell(ratios(vs, t), False) if t else '-'} | "
                   f"{cell(ratios(vs, a), False) if a else '-'} |")
    return "\n".join(out)


def option_sweep(args, flag, label, settings, rounds):
    """gloop_bench_qt with `flag` at each of `settings` (seconds), one round each in a
    rotating order: {setting: {metric: [values]}}, the rounds, and the pass's text,
    which names the settings as `label`."""
    exe = os.path.join(args.asm, "tests", "qt", "gloop_bench_qt")
    rounds = 1 if args.quick else rounds
    values = {b: {} for b in settings}
    p = Pass(f"{label} {','.join(f'{b:g}' for b in settings)} s: "
             f"{rounds} round{'s' if rounds > 1 else ''}")
    for k in range(rounds):
        for i in range(len(settings)):
            b = settings[(i + k) % len(settings)]
            cmd = [exe, flag, repr(b)] + (["--smoke"] if args.quick else ["--rounds", "1"])
            for metric, (v, _) in parse_qt_table(run(cmd, env=QT_ENV)).items():
                values[b].setdefault(metric, []).append(v)
    return values, rounds, p.end()


def budget_sweep(args):
    """gloop_bench_qt at several tick budgets, interleaved: {budget: {metric: [values]}}."""
    return option_sweep(args, "--tick-budget", "tick budgets",
                        [float(b) for b in args.budgets.split(",")],
                        args.budget_rounds)


SPIN_METRICS = ("200 x sleep(5 ms): mean lateness", "200 x sleep(5 ms): p99 lateness",
                "200 x sleep(5 ms): CPU per sleep")


def spin_table(spin, units):
    """The timer_spin comparison: the default against no waiting on the host thread."""
    head = "| timer_spin | " + " | ".join(f"{m} ({units.get(m, '')})" for m in SPIN_METRICS) + " |"
    out = [head, "|" + "---|" * (len(SPIN_METRICS) + 1)]
    for b, vals in spin.items():
        label = f"{b * 1e6:g} µs" + (" (default)" if b == DEFAULT_SPIN else "") + \
            (" (off)" if b == 0 else "")
        out.append(f"| {label} | " + " | ".join(cell(vals.get(m, [])) for m in SPIN_METRICS) + " |")
    cpu = {b: med(vals.get(SPIN_METRICS[2], [])) for b, vals in spin.items()}
    summary = ""
    if 0.0 in cpu and DEFAULT_SPIN in cpu:
        summary = (f"In this run the default spin cost {fmt(cpu[DEFAULT_SPIN] - cpu[0.0])} µs "
                   f"of CPU per sleep over no spin (medians; the rounds' ranges overlap "
                   f"where that difference is within the noise).")
    return "\n".join(out), summary


SWEEP_METRICS = ("10 ms QTimer max gap, 100 busy tasks", "10 ms QTimer ticks in 2 s, busy",
                 "100 tasks x 1000 yields", "1 task, yield loop",
                 "200 x sleep(5 ms): mean lateness")


def sweep_table(sweep, units, trio_gap):
    head = "| tick budget | " + " | ".join(f"{m} ({units.get(m, '')})" for m in SWEEP_METRICS) + \
        " | meets target 2 |"
    out = [head, "|" + "---|" * (len(SWEEP_METRICS) + 2)]
    meets = []
    for b, vals in sweep.items():
        gap, ticks = med(vals.get(SWEEP_METRICS[0], [])), med(vals.get(SWEEP_METRICS[1], []))
        many = med(vals.get(SWEEP_METRICS[2], []))
        ok = gap <= trio_gap and ticks >= 200 and many <= 0.05
        if ok:
            meets.append(b)
        label = f"{b * 1e3:g} ms" + (" (default)" if b == DEFAULT_BUDGET else "") + \
            (" (one batch per tick)" if b == 0 else "")
        out.append(f"| {label} | " + " | ".join(cell(vals.get(m, [])) for m in SWEEP_METRICS) +
                   f" | {'yes' if ok else 'no'} |")
    gaps = {b: med(vals.get(SWEEP_METRICS[0], [])) for b, vals in sweep.items()}
    one = {b: med(vals.get(SWEEP_METRICS[3], [])) for b, vals in sweep.items()}
    compare = ""
    if 0.0 in gaps and DEFAULT_BUDGET in gaps:
        compare = (f"With one batch per tick the max gap was {fmt(gaps[0.0])} ms against "
                   f"{fmt(gaps[DEFAULT_BUDGET])} ms at the default budget and "
                   f"{fmt(trio_gap)} ms for Trio, while one yielding task paid "
                   f"{fmt(one[0.0])} µs per yield against "
                   f"{fmt(one[DEFAULT_BUDGET])} µs. ")
    if meets:
        verdict = ("Budgets that meet all three parts of target 2 in this run: " +
                   ", ".join(f"{b * 1e3:g} ms" for b in meets) + ".")
    else:
        verdict = ("No budget meets all three parts of target 2 in this run (the max gap "
                   f"bound is Trio's median, {fmt(trio_gap)} ms).")
    return "\n".join(out), compare + verdict


# ---- Targets of the performance issue -------------------------------------------------

M_SPAWN = "spawn 10000 tasks"
M_SPAWN2 = "spawn 10000 tasks, again in the same run"
M_GAP = "10 ms QTimer max gap, 100 busy tasks"
M_TICKS = "10 ms QTimer ticks in 2 s, busy"
M_MANY = "100 tasks x 1000 yields"
M_MEAN = "200 x sleep(5 ms): mean lateness"
M_P99 = "200 x sleep(5 ms): p99 lateness"
M_RSS = "RSS per waiting task, 10000 tasks"


def med(vs):
    s = stat(vs)
    return s[0] if s else math.nan


def targets(core, qt, fault_ns):
    """(number, what, measured, bound, met, profile id or None) per target."""
    gl, tr, aio = (qt[s] for s in QT_SIDES)
    out = []

    def add(num, what, measured, bound, met, profile=None):
        out.append(dict(num=num, what=what, measured=measured, bound=bound, met=bool(met),
                        profile=profile))

    sp = gl.get(M_SPAWN, [])
    r_aio = med(ratios(sp, aio.get(M_SPAWN, [])))
    add(1, "spawn 10 000 tasks in Qt, fresh run, against asyncio-in-Qt (same round)",
        f"{fmt(med(sp))} µs/task, {fmt(r_aio)}x asyncio's",
        "<= 1x asyncio", r_aio <= 1, "spawn.fresh")
    warm = med(gl.get(M_SPAWN2, []))
    bound = warm + fault_ns / 1000.0
    add(1, "spawn 10 000 tasks in Qt, fresh run, against the same run's second burst plus "
        "one page (the `reference: mmap + first touch + munmap` row, an upper bound for one "
        "page fault)", f"{fmt(med(sp))} µs/task",
        f"<= {fmt(warm)} + {fmt(fault_ns / 1000.0)} µs", med(sp) <= bound,
        "spawn.fresh")
    gap_ratio = med(ratios(gl.get(M_GAP, []), tr.get(M_GAP, [])))
    add(2, "10 ms QTimer max gap while 100 tasks yield, against Trio-in-Qt (same round)",
        f"{fmt(med(gl.get(M_GAP, [])))} ms, {fmt(gap_ratio)}x Trio's",
        "<= 1x Trio", gap_ratio <= 1)
    ticks = med(gl.get(M_TICKS, []))
    add(2, "10 ms QTimer ticks in 2 s while 100 tasks yield", f"{fmt(ticks)}",
        ">= 200", ticks >= 200)
    many = med(gl.get(M_MANY, []))
    add(2, "100 tasks x 1000 yields in Qt", f"{fmt(many)} µs/yield", "<= 0.05 µs",
        many <= 0.05)
    for rid, bound_x in (("step.many", 2.0), ("step.huge", 2.5)):
        g = row_of(core, rid, "asm")
        q = row_of(core, rid, "asm", "ratio")
        if g is None or q is None:
            continue
        add(3, f"{g['label']} (asm build), against the bare fcontext loop (same round)",
            f"{fmt(g['median'])} ns, {fmt(q['median'])}x the loop",
            f"<= {bound_x:g}x", q["median"] <= bound_x, "step")
    g = row_of(core, "idle.rss", "asm")
    if g is not None:
        add(4, f"{g['label']} (asm build)", f"{fmt(g['median'])} B",
            "<= 4.4 KiB (4 506 B)", g["median"] <= 4.4 * 1024)
    rss = med(gl.get(M_RSS, []))
    add(4, "RSS per task, 10 000 tasks waiting on one event in Qt "
        f"(Trio {fmt(med(tr.get(M_RSS, [])))} B, asyncio "
        f"{fmt(med(aio.get(M_RSS, [])))} B)", f"{fmt(rss)} B",
        "<= 4.4 KiB (4 506 B)", rss <= 4.4 * 1024)
    mean, p99 = med(gl.get(M_MEAN, [])), med(gl.get(M_P99, []))
    add(5, "200 x sleep(5 ms) in Qt: mean lateness", f"{fmt(mean)} ms", "<= 0.1 ms",
        mean <= 0.1)
    add(5, "200 x sleep(5 ms) in Qt: p99 lateness", f"{fmt(p99)} ms", "<= 0.3 ms",
        p99 <= 0.3)
    return out


def targets_table(ts):
    out = ["| # | what | measured (median) | target | status |", "|---|---|---|---|---|"]
    for t in ts:
        out.append(f"| {t['num']} | {t['what']} | {t['measured']} | {t['bound']} | "
                   f"{'met' if t['met'] else '**MISSED**'} |")
    return "\n".join(out)


# ---- Profiles ---------------------------------------------------------------------------


# What each profiled --only selection runs (the whole probe, set-up included).
PROBE_TEXT = {
    "step": "the scheduler-step probe (all its task counts, with their set-up and the "
            "fcontext floor; `--only step`)",
    "spawn.fresh": "the fresh-spawn probe (10 000 tasks at once on new guarded stacks, "
                   "`--only spawn.fresh`)",
}


def profile(args, rid, tmp):
    """The hottest symbols of one core probe (asm build, one round), or None."""
    perf = shutil.which("perf")
    if perf is None:
        return None
    exe = os.path.join(args.asm, "tests", "bench", "gloop_bench")
    data = os.path.join(tmp, f"perf-{rid}.data")
    cmd = [perf, "record", "-q", "-e", "cpu-clock", "-F", "4000", "-o", data, "--", exe,
           "--rounds", "1", "--only", rid] + (["--quick"] if args.quick else [])
    log("$ " + " ".join(cmd))
    if subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
        return None
    def report(sort, n):
        rep = subprocess.run([perf, "report", "-i", data, "--stdio", "--sort", sort],
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        lines = [re.sub(r"(\s+-)+\s*$", "", ln.rstrip()) for ln in rep.splitlines()
                 if ln.strip() and not ln.startswith("#")]
        return "\n".join(lines[:n])

    head = f"$ perf record -e cpu-clock gloop_bench --rounds 1 --only {rid}   # asm build"
    return (head + "\n# by shared object\n" + report("dso", 4) + "\n# by symbol\n" +
            report("dso,symbol", args.profile_lines))


# ---- The page -----------------------------------------------------------------------------


def fill(template, fields):
    def sub(m):
        key = m.group(1)
        if key not in fields:
            sys.exit(f"gen_performance: the template names @{key}@, which nothing fills")
        return fields[key]
    return re.sub(r"@([A-Z0-9_]+)@", sub, template)


def qt_chart(values, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("gen_performance: needs matplotlib (Debian: python3-matplotlib)")
    gl = values["guestloop"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for ax, peer, title in ((axes[0], "trio", "libguestloop / Trio guest mode (same round)"),
                            (axes[1], "asyncio", "libguestloop / asyncio in Qt (same round)")):
        bars = []
        for metric, vs in gl.items():
            pv = values[peer].get(metric)
            if not pv:
                continue
            s = stat(ratios(vs, pv))
            if s is None or s[0] <= 0:
                continue
            bars.append(dict(id=metric, shared=True, median=s[0], min=s[1], max=s[2]))
        chart.draw(ax, bars, title + ", lower is better", "parity", "no common metric")
    fig.suptitle("Inside Qt (offscreen); bars: median, whiskers: min-max over rounds. "
                 "For ticks, higher is better", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--asm", default="build-asm", help="Release build, asm context (with Qt)")
    ap.add_argument("--uc", default="build-uc", help="Release build, ucontext context")
    ap.add_argument("--rounds", type=int, default=7, help="core benchmark rounds")
    ap.add_argument("--million-rounds", type=int, default=3,
                    help="rounds of the one-million-task pass (0: skip it)")
    ap.add_argument("--qt-rounds", type=int, default=5, help="interleaved Qt process rounds")
    ap.add_argument("--budgets", default="0.001,0.0005,0.0002,0.0001,0",
                    help="tick budgets (s) of the host-fairness sweep")
    ap.add_argument("--budget-rounds", type=int, default=3, help="rounds of that sweep")
    ap.add_argument("--spin-rounds", type=int, default=3,
                    help="rounds of the timer_spin comparison (default against off)")
    ap.add_argument("--profile-lines", type=int, default=12, help="symbols per profile")
    ap.add_argument("--quick", action="store_true", help="smoke counts; needs --out")
    ap.add_argument("--out", help="page to write (default docs/performance.md)")
    args = ap.parse_args()
    if args.quick and not args.out:
        ap.error("--quick needs --out (a quick run must not overwrite the page)")
    for name in ("rounds", "qt_rounds"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    out_md = args.out or os.path.join(ROOT, "docs", "performance.md")
    images = os.path.join(os.path.dirname(os.path.abspath(out_md)), "images")
    os.makedirs(images, exist_ok=True)

    started = datetime.datetime.now(datetime.timezone.utc)
    uptime0 = read("/proc/loadavg")
    with tempfile.TemporaryDirectory(prefix="gloop-perf-") as tmp:
        facts = machine_facts(args.asm)
        asm_csv, asm_pass = core_pass(args.asm, "asm", args, tmp, False)
        uc_csv, uc_pass = core_pass(args.uc, "ucontext", args, tmp, False)
        core = chart.read_rows([asm_csv, uc_csv])
        million_md = "(not run: `--million-rounds 0`)"
        million_csvs, million_texts = [], []
        if args.million_rounds > 0:
            for build, backend in ((args.asm, "asm"), (args.uc, "ucontext")):
                csvp, p = core_pass(build, backend, args, tmp, True)
                million_csvs.append(csvp)
                million_texts.append(p.text())
            million_md = chart.markdown(chart.read_rows(million_csvs))
        qt_values, qt_units, qt_rounds, qt_pass = qt_passes(args)
        sweep, sweep_rounds, sweep_pass = budget_sweep(args)
        spin, spin_rounds, spin_pass = option_sweep(args, "--timer-spin", "timer_spin",
                                                    [DEFAULT_SPIN, 0.0],
                                                    args.spin_rounds)
        io_pass = Pass("gloop_iobench")
        io_exe = os.path.join(args.asm, "tests", "iobench", "gloop_iobench")
        io_out = run([io_exe] + (["--quick"] if args.quick else []))
        io_pass.end()

        fault = row_of(core, "ref.page", None)
        ts = targets(core, qt_values, fault["median"] if fault else math.nan)
        profiles = []
        for rid in dict.fromkeys(t["profile"] for t in ts if not t["met"] and t["profile"]):
            text = profile(args, rid, tmp)
            if text:
                what = PROBE_TEXT.get(rid, f"the rows `{rid}`")
                profiles.append(f"Profile of {what}:\n\n```\n{text}\n```")

        # Charts: the core one as chart.py draws it, and the Qt ratios.
        subprocess.run([sys.executable, os.path.join(HERE, "chart.py"), "-o",
                        os.path.join(images, "perf-core.png"), asm_csv, uc_csv] + million_csvs,
                       check=True, stdout=subprocess.DEVNULL)
        qt_chart(qt_values, os.path.join(images, "perf-qt.png"))

    missed = [t for t in ts if not t["met"]]
    sweep_md, sweep_verdict = sweep_table(sweep, qt_units,
                                          med(qt_values["trio"].get(M_GAP, [])))
    spin_md, spin_summary = spin_table(spin, qt_units)
    rec = row_of(core, "idle.record", "asm")
    fields = {
        "STARTED": started.strftime("%Y-%m-%d %H:%M UTC"),
        "LOADAVG_START": uptime0,  # the raw /proc/loadavg line
        "MACHINE": "\n".join(f"* **{k}:** {v}" for k, v in facts),
        "REFERENCE": "\n".join(
            f"* {r['label']}: **{fmt(r['median'])}** [{fmt(r['min'])}-"
            f"{fmt(r['max'])}] {r['unit']}"
            for r in core if r["id"].startswith("ref.") and r["backend"] == "asm"
            and r["role"] == "guestloop"),
        "CORE_PASSES": asm_pass.text() + "; " + uc_pass.text(),
        "CORE_TABLE": chart.markdown(core),
        "MILLION_PASSES": "; ".join(million_texts) or "not run",
        "MILLION_TABLE": million_md,
        "RECORD_ASM": fmt(rec["median"]) if rec else "?",
        "QT_PASS": qt_pass.text(),
        "QT_ROUNDS": str(qt_rounds),
        "QT_TABLE": qt_table(qt_values, qt_units),
        "SWEEP_PASS": sweep_pass.text(),
        "SWEEP_ROUNDS": str(sweep_rounds),
        "SWEEP_TABLE": sweep_md,
        "SWEEP_VERDICT": sweep_verdict,
        "SPIN_PASS": spin_pass.text(),
        "SPIN_ROUNDS": str(spin_rounds),
        "SPIN_TABLE": spin_md,
        "SPIN_SUMMARY": spin_summary,
        "IO_PASS": io_pass.text(),
        "IO_TABLE": io_out.strip(),
        "TARGETS_TABLE": targets_table(ts),
        "TARGETS_MET": f"{len(ts) - len(missed)} of {len(ts)}",
        "MISSED_LIST": "\n".join(f"* target {t['num']}: {t['what']}: {t['measured']} "
                                 f"against {t['bound']}" for t in missed) or "* none",
        "PROFILES": "\n\n".join(profiles) if profiles else
                    "(no target with a core probe was missed, or perf is not installed)",
        "QUICK_NOTE": "\n**This page came from a `--quick` run: smoke counts, the numbers "
                      "mean nothing.**\n" if args.quick else "",
    }
    template = read(os.path.join(HERE, "performance.md.in"), None)
    if template is None:
        sys.exit("gen_performance: tests/bench/performance.md.in is missing")
    page = fill(template, fields)  # before opening: a bad template leaves the old page
    with open(out_md, "w") as f:
        f.write(page + "\n")
    log(f"wrote {out_md} and the charts in {images}")


if __name__ == "__main__":
    main()
