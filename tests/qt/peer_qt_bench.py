#!/usr/bin/env python3
"""peer_qt_bench.py - the peer benchmarks: Trio guest mode and asyncio inside PyQt6, measured like gloop_bench_qt.

Two peers, chosen with --peer:

* trio: the AsyncHelper of the Qt for Python async examples (trio
  flavour). run_sync_soon_threadsafe posts a custom QEvent carrying the
  callback to a receiver QObject whose event() calls it.
* asyncio: the same examples' asyncio flavour. run_forever() runs one batch,
  a call_soon callback stops the loop and posts a QEvent whose handler
  schedules that callback again and re-enters run_forever(), until the entry
  sets the helper's done flag. The one change: when the ping-pong ends, the
  helper closes its loop and reports the entry's outcome, so the next
  measurement starts after this one's loop is gone (the example leaves that
  to its window).

Each measurement is its own guest run (for asyncio its own event loop),
started from a zero-delay QTimer after the previous one ended, and the table
shows the median [min - max] over the rounds, in the same units and under the
same metric names as gloop_bench_qt.

Needs PyQt6, plus trio for the trio peer (Debian: python3-pyqt6,
python3-trio). Run headless with QT_QPA_PLATFORM=offscreen.
"""

import argparse
import asyncio
import math
import os
import resource
import statistics
import sys
import time

from PyQt6.QtCore import QEvent, QObject, Qt, QTimer
from PyQt6.QtWidgets import QApplication

# ---- The seed's host adapters ----------------------------------------------------

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


class TrioHelper(QObject):
    """Starts one Trio guest run of `entry` and reports its outcome to
    `on_done(error_or_None)`."""

    def __init__(self, entry, on_done):
        super().__init__()
        self.reenter_qt = ReenterQtObject()
        self.entry = entry
        self.on_done = on_done

    def launch_guest_run(self):
        import trio
        trio.lowlevel.start_guest_run(
            self.entry,
            run_sync_soon_threadsafe=self.next_guest_run_schedule,
            done_callback=self.trio_done_callback,
        )

    def next_guest_run_schedule(self, fn):
        QApplication.postEvent(self.reenter_qt, ReenterQtEvent(fn))

    def trio_done_callback(self, outcome_):
        try:
            outcome_.unwrap()
        except BaseException as exc:  # handed to the driver, which stops
            self.on_done(exc)
            return
        self.on_done(None)


class AsyncioHelper(QObject):
    """Runs `entry` on a new asyncio loop driven from Qt, the seed's
    stop/post/run_forever ping-pong, and reports its outcome to
    `on_done(error_or_None)` once the loop is closed."""

    def __init__(self, entry, on_done):
        super().__init__()
        self.reenter_qt = ReenterQtObject()
        self.entry = entry
        self.on_done = on_done
        self.loop = asyncio.new_event_loop()
        self.done = False
        self.error = None

    async def guarded_entry(self):
        # The example's entry emits done_signal when it finishes; an entry
        # that raises would leave the ping-pong running forever, so the
        # outcome is kept and done is set either way.
        try:
            await self.entry()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done = True

    def launch_guest_run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.create_task(self.guarded_entry())
        self.loop.call_soon(self.next_guest_run_schedule)
        self.done = False
        self.loop.run_forever()

    def continue_loop(self):
        if not self.done:
            self.loop.call_soon(self.next_guest_run_schedule)
            self.loop.run_forever()
            return
        self.loop.close()
        asyncio.set_event_loop(None)
        self.on_done(self.error)

    def next_guest_run_schedule(self):
        self.loop.stop()
        QApplication.postEvent(self.reenter_qt, ReenterQtEvent(self.continue_loop))


# ---- Each peer's primitives -------------------------------------------------------


class TrioOps:
    name = "trio"
    helper = TrioHelper

    def __init__(self):
        import trio
        self.trio = trio
        self.title = f"Trio {trio.__version__} guest mode in PyQt6"

    async def sleep(self, seconds):
        await self.trio.sleep(seconds)

    def now(self):
        return self.trio.current_time()

    def event(self):
        return self.trio.Event()

    async def run_all(self, fn, n):
        """Runs n copies of fn concurrently and waits for all of them."""
        async with self.trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(fn)


class AsyncioOps:
    name = "asyncio"
    helper = AsyncioHelper
    title = f"asyncio (Python {sys.version.split()[0]}) driven from PyQt6"

    async def sleep(self, seconds):
        await asyncio.sleep(seconds)

    def now(self):
        return asyncio.get_running_loop().time()

    def event(self):
        return asyncio.Event()

    async def run_all(self, fn, n):
        await asyncio.gather(*[asyncio.create_task(fn()) for _ in range(n)])


PEERS = {"trio": TrioOps, "asyncio": AsyncioOps}

# ---- Parameters ------------------------------------------------------------------

FULL = dict(rounds=5, single_yields=200000, many_tasks=100, many_yields=1000,
            spawn_tasks=10000, sleeps=200, idle_s=3.0, busy_tasks=100, busy_s=2.0,
            waiting_tasks=10000)
SMOKE = dict(rounds=1, single_yields=1000, many_tasks=10, many_yields=100,
             spawn_tasks=100, sleeps=5, idle_s=0.2, busy_tasks=10, busy_s=0.1,
             waiting_tasks=100)
SLEEP_S = 0.005
PROBE_MS = 10
PAGE = os.sysconf("SC_PAGE_SIZE")

# The metric names are gloop_bench_qt's, so that one parser reads all tables.
METRICS = [
    ("single_yield", "1 task, yield loop", "us/yield"),
    ("many_yield", "100 tasks x 1000 yields", "us/yield"),
    ("spawn", "spawn 10000 tasks", "us/task"),
    ("spawn_again", "spawn 10000 tasks, again in the same run", "us/task"),
    ("sleep_mean", "200 x sleep(5 ms): mean lateness", "ms"),
    ("sleep_p99", "200 x sleep(5 ms): p99 lateness", "ms"),
    ("sleep_cpu", "200 x sleep(5 ms): CPU per sleep", "us/sleep"),
    ("idle_cpu", "idle CPU, 1 task sleeping 3 s", "% core"),
    ("busy_gap", "10 ms QTimer max gap, 100 busy tasks", "ms"),
    ("busy_ticks", "10 ms QTimer ticks in 2 s, busy", "ticks"),
    ("waiting_rss", "RSS per waiting task, 10000 tasks", "B/task"),
]


def cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


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
    def __init__(self, ops, params):
        self.ops = ops
        self.p = params
        self.samples = {key: [] for key, _, _ in METRICS}
        self.failed = False
        self.helper = None

    async def single_yield(self):
        n = self.p["single_yields"]
        t0 = time.perf_counter()
        for _ in range(n):
            await self.ops.sleep(0)
        self.samples["single_yield"].append((time.perf_counter() - t0) * 1e6 / n)

    async def many_yield(self):
        tasks, yields = self.p["many_tasks"], self.p["many_yields"]

        async def worker():
            for _ in range(yields):
                await self.ops.sleep(0)

        t0 = time.perf_counter()
        await self.ops.run_all(worker, tasks)
        self.samples["many_yield"].append((time.perf_counter() - t0) * 1e6 / (tasks * yields))

    async def spawn(self):
        # Two bursts in one run: the first is what a fresh run pays, the
        # second what the same run pays once it has done it before.
        n = self.p["spawn_tasks"]

        async def worker():
            await self.ops.sleep(0)

        for key in ("spawn", "spawn_again"):
            t0 = time.perf_counter()
            await self.ops.run_all(worker, n)
            self.samples[key].append((time.perf_counter() - t0) * 1e6 / n)

    async def sleeps(self):
        n = self.p["sleeps"]
        late = []
        c0 = cpu_seconds()
        for _ in range(n):
            t0 = time.perf_counter()
            await self.ops.sleep(SLEEP_S)
            late.append((time.perf_counter() - t0 - SLEEP_S) * 1e3)
        self.samples["sleep_cpu"].append((cpu_seconds() - c0) * 1e6 / n)
        late.sort()
        self.samples["sleep_mean"].append(sum(late) / n)
        self.samples["sleep_p99"].append(late[math.ceil(0.99 * n) - 1])

    async def idle(self):
        c0, t0 = cpu_seconds(), time.perf_counter()
        await self.ops.sleep(self.p["idle_s"])
        self.samples["idle_cpu"].append(100.0 * (cpu_seconds() - c0) / (time.perf_counter() - t0))

    async def busy(self):
        probe = Probe(PROBE_MS)
        start = self.ops.now()
        end = start + self.p["busy_s"]

        async def worker():
            while self.ops.now() < end:
                await self.ops.sleep(0)

        await self.ops.run_all(worker, self.p["busy_tasks"])
        # The window is the busy period plus half a period, as in bench_qt.c.
        await self.ops.sleep(max(0.0, end + PROBE_MS / 2000.0 - self.ops.now()))
        ticks, gap = probe.stop()
        self.samples["busy_gap"].append(gap)
        self.samples["busy_ticks"].append(ticks)

    async def waiting(self):
        # Resident memory added by n tasks that all wait on one event: read
        # once every task has reached its wait, then the event lets them end.
        n = self.p["waiting_tasks"]
        release = self.ops.event()
        state = {"waiting": 0, "rss": 0}

        async def worker():
            state["waiting"] += 1
            await release.wait()

        async def watcher():
            while state["waiting"] < n:
                await self.ops.sleep(0)
            state["rss"] = rss_bytes()
            release.set()

        rss0 = rss_bytes()
        started = iter(range(n + 1))

        async def task():
            # The first task started watches; the other n wait.
            await (watcher() if next(started) == 0 else worker())

        await self.ops.run_all(task, n + 1)
        self.samples["waiting_rss"].append((state["rss"] - rss0) / n)

    # ---- Driving the steps from Qt's loop ----

    def run(self, app):
        steps = [self.single_yield, self.many_yield, self.spawn, self.sleeps, self.idle,
                 self.busy, self.waiting]
        state = {"round": 0, "step": 0}

        def on_done(error):
            if error is not None:
                print(f"bench: a run failed: {error!r}", file=sys.stderr)
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
            self.helper = self.ops.helper(entry, on_done)
            self.helper.launch_guest_run()

        QTimer.singleShot(0, next_step)
        app.exec()

    def print_table(self, smoke):
        dispatcher = "QT_NO_GLIB=1" if os.environ.get("QT_NO_GLIB") else "default dispatcher"
        rounds = self.p["rounds"]
        print(f"{self.ops.title} ({dispatcher}): "
              f"median [min-max] over {rounds} round{'' if rounds == 1 else 's'}")
        if smoke:
            print("(smoke run: tiny counts, the numbers mean nothing)")
        print(f"{'metric':<44} {'median':>12} {'[min - max]':>24}  unit")
        for key, name, unit in METRICS:
            values = self.samples[key]
            span = f"[{min(values):.3f} - {max(values):.3f}]"
            print(f"{name:<44} {statistics.median(values):12.3f} {span:>24}  {unit}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=sorted(PEERS), default="trio",
                        help="which Python design to measure (default: trio)")
    parser.add_argument("--smoke", action="store_true", help="tiny counts, one round")
    parser.add_argument("--rounds", type=int, help="rounds (median over them)")
    args = parser.parse_args()
    params = dict(SMOKE if args.smoke else FULL)
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        params["rounds"] = args.rounds
    app = QApplication(sys.argv[:1])
    bench = Bench(PEERS[args.peer](), params)
    bench.run(app)
    if bench.failed:
        return 1
    bench.print_table(args.smoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())
