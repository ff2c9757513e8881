#!/usr/bin/env python3
"""Lists how long each test took against its real-time limit, and fails when
one took more than a quarter of it.

A test that takes a large share of its limit passes or fails with the load of
the machine; such a test must get faster (a smaller count under slow builds,
the mock clock) or an honestly larger limit, never a rerun. See
docs/reliability.md, "Deterministic under sanitizers and load".

  check_times.py BUILD_DIR          after a ctest run in BUILD_DIR: each test's
                                    time (Testing/Temporary/LastTest.log)
                                    against its TIMEOUT property
  check_times.py --pairs FILE       lines "NAME SECONDS LIMIT" measured by
                                    some other loop (the valgrind stage)

Options: --fraction F (default 0.25), --show N rows of the table (default 12).
Exit status: 0 all within the fraction, 1 some test beyond it, 2 usage or
input errors.
"""
import json
import os
import re
import subprocess
import sys


def last_run_times(build):
    """(name, seconds, passed) for every test of the last ctest run."""
    path = os.path.join(build, "Testing", "Temporary", "LastTest.log")
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError as e:
        sys.exit(f"check_times: cannot read {path}: {e.strerror}")
    runs, name = [], None
    for line in text.splitlines():
        m = re.match(r"^\d+/\d+ Test: (\S+)$", line)
        if m:
            name = m.group(1)
            continue
        m = re.match(r"^Test time =\s*([0-9.]+) sec$", line)
        if m and name is not None:
            runs.append((name, float(m.group(1))))
            name = None
    return runs


def timeouts(build):
    """The TIMEOUT property of every test, read from ctest itself."""
    # --show-only rewrites LastTest.log, so it runs after that was read.
    out = subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1"],
                         check=True, capture_output=True, text=True).stdout
    limits = {}
    for t in json.loads(out)["tests"]:
        for p in t.get("properties", []):
            if p["name"] == "TIMEOUT":
                limits[t["name"]] = float(p["value"])
    return limits


def main(argv):
    fraction, show, build, pairs = 0.25, 12, None, None
    args = iter(argv)
    for a in args:
        if a == "--fraction":
            fraction = float(next(args, "nan"))
        elif a == "--show":
            show = int(next(args, "0"))
        elif a == "--pairs":
            pairs = next(args, None)
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        elif build is None and not a.startswith("-"):
            build = a
        else:
            print(f"check_times: unexpected argument '{a}'", file=sys.stderr)
            return 2
    if not (0 < fraction <= 1) or (build is None) == (pairs is None):
        print(__doc__, file=sys.stderr)
        return 2

    rows = []  # (ratio, name, seconds, limit)
    if pairs is not None:
        for n, line in enumerate(open(pairs, encoding="utf-8"), 1):
            f = line.split()
            if len(f) != 3:
                print(f"check_times: {pairs}:{n}: expected NAME SECONDS LIMIT", file=sys.stderr)
                return 2
            rows.append((float(f[1]) / float(f[2]), f[0], float(f[1]), float(f[2])))
    else:
        runs = last_run_times(build)
        if not runs:
            print(f"check_times: no test times in {build}'s last ctest run", file=sys.stderr)
            return 2
        limits = timeouts(build)
        for name, secs in runs:
            if name not in limits:
                print(f"check_times: {name} has no TIMEOUT", file=sys.stderr)
                return 2
            rows.append((secs / limits[name], name, secs, limits[name]))

    rows.sort(reverse=True)
    over = [r for r in rows if r[0] > fraction]
    print(f"{len(rows)} tests; the slowest against their limits (line: {fraction:.0%}):")
    for ratio, name, secs, limit in rows[:max(show, len(over))]:
        mark = "  OVER" if ratio > fraction else ""
        print(f"  {ratio:6.1%}  {secs:8.2f} s of {limit:6.0f} s  {name}{mark}")
    if over:
        print(f"check_times: {len(over)} test(s) took more than {fraction:.0%} of their limit")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
