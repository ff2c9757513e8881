#!/usr/bin/env python3
"""trio_qt_bench.py - the peer benchmark: Trio guest mode inside PyQt6, measured like gloop_bench_qt.

The host adapter is the AsyncHelper of the Qt for Python async examples
(trio flavour): run_sync_soon_threadsafe posts a custom QEvent carrying the
callback to a receiver QObject whose event() calls it; there is no
not-threadsafe variant. Each measurement is its own guest run, started from a
zero-delay QTimer after the previous one's done_callback, and the table shows
the median [min - max] over the rounds, in the same units as gloop_bench_qt.

Needs PyQt6 and trio (Debian: python3-pyqt6, python3-trio). Run headless with
QT_QPA_PLATFORM=offscreen.
"""

import argparse
import math
import os
import resource
import statistics
import sys
import time

import trio
from PyQt6.QtCore import QEvent, QObject, Qt, QTimer
from PyQt6.QtWidgets import QApplication

# ---- The seed's AsyncHelper ---------------------------------------------------

REENTER_TYPE = QEvent.Type(QEvent.Type.User.value + 1)


class ReenterQtObject(QObject):
    """Receives the posted events and runs the callback each one carries."""

    def event(self, event):
        if event.type() == REENTER_TYPE:
            event.fn()
            return True
        return False


class ReenterQtEvent(QEvent):
    """A QEvent carrying the next entry point of the guest loop."""

    def __init__(self, fn):
        super().__init__(REENTER_TYPE)
        self.fn = fn


class AsyncHelper(QObject):
    """Starts one guest run of `entry` and reports its outcome to `on_done`."""

    def __init__(self, entry, on_done):
        super().__init__()
        self.reenter_qt = ReenterQtObject()
        self.entry = entry
        self.on_done = on_done

    def launch_guest_run(self):
        trio.lowlevel.start_guest_run(
            self.entry,
            run_sync_soon_threadsafe=self.next_guest_run_schedule,
            done_callback=self.trio_done_callback,
        )

    def next_guest_run_schedule(self, fn):
        QApplication.postEvent(self.reenter_qt, ReenterQtEvent(fn))

    def trio_done_callback(self, outcome_):
        self.on_done(outcome_)


# ---- Parameters ------------------------------------------------------------------

FULL = dict(rounds=5, single_yields=200000, many_tasks=100, many_yields=1000,
            spawn_tasks=10000, sleeps=200, idle_s=3.0, busy_tasks=100, busy_s=2.0)
SMOKE = dict(rounds=1, single_yields=1000, many_tasks=10, many_yields=100,
             spawn_tasks=100, sleeps=5, idle_s=0.2, busy_tasks=10, busy_s=0.1)
SLEEP_S = 0.005
PROBE_MS = 10

METRICS = [
    ("single_yield", "1 task, yield loop", "us/yield"),
    ("many_yield", "100 tasks x 1000 yields", "us/yield"),
    ("spawn", "spawn 10000 tasks", "us/task"),
    ("sleep_mean", "200 x sleep(5 ms): mean lateness", "ms"),
    ("sleep_p99", "200 x sleep(5 ms): p99 lateness", "ms"),
    ("idle_cpu", "idle CPU, 1 task sleeping 3 s", "% core"),
    ("busy_gap", "10 ms QTimer max gap, 100 busy tasks", "ms"),
    ("busy_ticks", "10 ms QTimer ticks in 2 s, busy", "ticks"),
]


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Probe:
    """A precise QTimer that records the largest gap between its firings,
    counting the edges (start to first firing, last firing to stop)."""

    def __init__(self, interval_ms):
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.mark)
        self.ticks = 0
        self.max_gap = 0.0
        self.last = time.perf_counter()
        self.timer.start()

    def gap_to_now(self):
        now = time.perf_counter()
        self.max_gap = max(self.max_gap, now - self.last)
        self.last = now

    def mark(self):
        self.gap_to_now()
        self.ticks += 1

    def stop(self):
        self.timer.stop()
        self.gap_to_now()
        return self.ticks, self.max_gap * 1e3


# ---- Measurements ---------------------------------------------------------------


class Bench:
    def __init__(self, params):
        self.p = params
        self.samples = {key: [] for key, _, _ in METRICS}
        self.failed = False
        self.helper = None

    async def single_yield(self):
        n = self.p["single_yields"]
        t0 = time.perf_counter()
        for _ in range(n):
            await trio.sleep(0)
        self.samples["single_yield"].append((time.perf_counter() - t0) * 1e6 / n)

    async def many_yield(self):
        tasks, yields = self.p["many_tasks"], self.p["many_yields"]

        async def worker():
            for _ in range(yields):
                await trio.sleep(0)

        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(tasks):
                nursery.start_soon(worker)
        self.samples["many_yield"].append((time.perf_counter() - t0) * 1e6 / (tasks * yields))

    async def spawn(self):
        n = self.p["spawn_tasks"]

        async def worker():
            await trio.sleep(0)

        t0 = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(worker)
        self.samples["spawn"].append((time.perf_counter() - t0) * 1e6 / n)

    async def sleeps(self):
        n = self.p["sleeps"]
        late = []
        for _ in range(n):
            t0 = time.perf_counter()
            await trio.sleep(SLEEP_S)
            late.append((time.perf_counter() - t0 - SLEEP_S) * 1e3)
        late.sort()
        self.samples["sleep_mean"].append(sum(late) / n)
        self.samples["sleep_p99"].append(late[math.ceil(0.99 * n) - 1])

    async def idle(self):
        c0, t0 = cpu_seconds(), time.perf_counter()
        await trio.sleep(self.p["idle_s"])
        self.samples["idle_cpu"].append(100.0 * (cpu_seconds() - c0) / (time.perf_counter() - t0))

    async def busy(self):
        end = trio.current_time() + self.p["busy_s"]

        async def worker():
            while trio.current_time() < end:
                await trio.sleep(0)

        probe = Probe(PROBE_MS)
        async with trio.open_nursery() as nursery:
            for _ in range(self.p["busy_tasks"]):
                nursery.start_soon(worker)
        ticks, gap = probe.stop()
        self.samples["busy_gap"].append(gap)
        self.samples["busy_ticks"].append(ticks)

    # ---- Driving the steps from Qt's loop ----

    def run(self, app):
        steps = [self.single_yield, self.many_yield, self.spawn, self.sleeps, self.idle,
                 self.busy]
        state = {"round": 0, "step": 0}

        def on_done(outcome_):
            try:
                outcome_.unwrap()
            except BaseException as exc:  # report whatever ended the run, then stop
                print(f"bench: a run failed: {exc!r}", file=sys.stderr)
                self.failed = True
                app.quit()
                return
            QTimer.singleShot(0, next_step)

        def next_step():
            if state["step"] == len(steps):
                print(f"bench: round {state['round'] + 1} of {self.p['rounds']} done",
                      file=sys.stderr)
                state["round"] += 1
                state["step"] = 0
                if state["round"] == self.p["rounds"]:
                    app.quit()
                    return
            entry = steps[state["step"]]
            state["step"] += 1
            self.helper = AsyncHelper(entry, on_done)
            self.helper.launch_guest_run()

        QTimer.singleShot(0, next_step)
        app.exec()

    def print_table(self, smoke):
        dispatcher = "QT_NO_GLIB=1" if os.environ.get("QT_NO_GLIB") else "default dispatcher"
        rounds = self.p["rounds"]
        print(f"Trio {trio.__version__} guest mode in PyQt6 ({dispatcher}): "
              f"median [min-max] over {rounds} round{'' if rounds == 1 else 's'}")
        if smoke:
            print("(smoke run: tiny counts, the numbers mean nothing)")
        print(f"{'metric':<40} {'median':>12} {'[min - max]':>24}  unit")
        for key, name, unit in METRICS:
            values = self.samples[key]
            span = f"[{min(values):.3f} - {max(values):.3f}]"
            print(f"{name:<40} {statistics.median(values):12.3f} {span:>24}  {unit}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts, one round")
    parser.add_argument("--rounds", type=int, help="rounds (median over them)")
    args = parser.parse_args()
    params = dict(SMOKE if args.smoke else FULL)
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        params["rounds"] = args.rounds
    app = QApplication(sys.argv[:1])
    bench = Bench(params)
    bench.run(app)
    if bench.failed:
        return 1
    bench.print_table(args.smoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())
