#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus (tests/fuzz/corpus/*.bin) from readable programs.

Each seed is byte 0 (the run's set-up bits) followed by the main task's
script, in the encoding that fuzz_api.c decodes: an opcode byte, then its
argument bytes. The helpers below mirror the opcode list of fuzz_api.c; keep
the two in step. Run this script after changing either, and commit the
regenerated files.
"""

import os
import sys

# Set-up bits (byte 0).
STANDALONE, GUEST, NO_GUARD, BUDGET0, NTS_POST = 0, 1, 2, 4, 8

(OP_SLEEP, OP_CHECKPOINT, OP_SPAWN, OP_OPEN_SCOPE, OP_CLOSE, OP_CANCEL_INNER, OP_CANCEL_OTHER,
 OP_SHIELD, OP_EVENT_SET, OP_EVENT_WAIT, OP_SEND, OP_RECV, OP_CH_CLOSE, OP_TRY, OP_SEM, OP_LOCK,
 OP_FAIL, OP_RETURN, OP_HOST, OP_JUMP, OP_DEADLINE, OP_CANCEL_RUN, OP_POST, OP_SLEEP_FOREVER) = range(24)

SHIELD, FAIL, NURSERY = 1, 2, 4


def sleep(eighths): return [OP_SLEEP, eighths]
def checkpoint(): return [OP_CHECKPOINT]
def close(): return [OP_CLOSE]
def cancel_inner(): return [OP_CANCEL_INNER]
def cancel_other(i): return [OP_CANCEL_OTHER, i]
def shield(on): return [OP_SHIELD, on]
def event_set(e): return [OP_EVENT_SET, e]
def event_wait(e): return [OP_EVENT_WAIT, e]
def send(c): return [OP_SEND, c]
def recv(c): return [OP_RECV, c]
def ch_close(c): return [OP_CH_CLOSE, c]
def try_send(c): return [OP_TRY, c << 1]
def try_recv(c): return [OP_TRY, (c << 1) | 1]
def sem_acquire(): return [OP_SEM, 0]
def sem_release(): return [OP_SEM, 1]
def lock(): return [OP_LOCK, 0]
def unlock(): return [OP_LOCK, 1]
def fail(): return [OP_FAIL]
def ret(): return [OP_RETURN]
def jump(tenths): return [OP_JUMP, tenths]
def cancel_run(): return [OP_CANCEL_RUN]
def post(): return [OP_POST]
def sleep_forever(): return [OP_SLEEP_FOREVER]


def scope(a, flags=0):
    """a % 4 == 0: no deadline; else a deadline (a % 16) / 16 s ahead."""
    return [OP_OPEN_SCOPE, a, flags]


def deadline(a):
    """a % 5 == 0: none; else (a % 16) / 16 s ahead."""
    return [OP_DEADLINE, a]


def spawn(*ops):
    script = [b for op in ops for b in op]
    assert len(script) < 48, "a child script holds at most 47 bytes"
    return [OP_SPAWN, len(script)] + script


def host(kind, a=0, b=0, script=None):
    """kind: 0 set event a, 1 cancel an open scope, 2 try_send, 3 close a
    channel, 4 jump the clock, 5 cancel the run, 6 start a task in an open
    nursery, 7 post through the token. b bit 0: between ticks (guest runs);
    else from a timer (b % 4) / 8 s ahead."""
    out = [OP_HOST, kind, a, b]
    if kind % 8 == 6:
        body = [x for op in (script or []) for x in op]
        assert len(body) < 32
        out += [len(body)] + body
    return out


def prog(setup, *ops):
    return bytes([setup] + [b for op in ops for b in op])


SEEDS = {
    "00-empty": prog(STANDALONE),
    "01-sleeps": prog(STANDALONE, sleep(3), checkpoint(), sleep(1), sleep(0)),
    "02-spawn-tree": prog(GUEST, spawn(sleep(2), spawn(sleep(1), checkpoint())), spawn(checkpoint()), close()),
    "03-failing-child": prog(GUEST, spawn(sleep(1), fail()), spawn(sleep_forever()), sleep(4), close()),
    "04-deadlines": prog(STANDALONE, scope(5), sleep(7), close(), scope(3, FAIL), sleep(7), close()),
    "05-shield": prog(GUEST, scope(0), cancel_inner(), scope(8, SHIELD), sleep(1), shield(0), checkpoint(),
                      close(), checkpoint(), close()),
    "06-events": prog(GUEST, spawn(event_wait(0)), spawn(event_wait(1)), sleep(1), event_set(0),
                      host(0, 1, 2), sleep(2), close()),
    "07-channel": prog(STANDALONE, spawn(send(0), send(0), send(0), send(0), send(0), ch_close(0)),
                       spawn(recv(0), recv(0), recv(0), recv(0), recv(0), recv(0)), close()),
    "08-rendezvous": prog(GUEST, spawn(send(1), send(1)), spawn(recv(1), recv(1)), spawn(try_recv(1), try_send(1)),
                          close()),
    "09-lock-semaphore": prog(STANDALONE, spawn(lock(), sleep(1), unlock()), spawn(lock(), sleep(1), unlock()),
                              spawn(sem_acquire(), checkpoint(), sem_release()),
                              spawn(sem_acquire(), checkpoint(), sem_release()), close()),
    "10-abrupt-return": prog(GUEST, spawn(scope(0, NURSERY), spawn(sleep_forever()), ret()), sleep(1), close()),
    "11-host-actions": prog(GUEST, spawn(sleep_forever()), host(1, 1, 1), host(4, 0, 3),
                            host(6, 1, 1, [sleep(1), post()]), host(7, 0, 1), sleep(2), close()),
    "12-cancel-run": prog(STANDALONE, spawn(sleep_forever()), spawn(scope(8, SHIELD), sleep(1), close()),
                          sleep(1), cancel_run(), sleep(1), close()),
    "13-clock-jumps": prog(GUEST, jump(5), scope(2), jump(3), sleep(1), deadline(7), sleep(2), close()),
    "14-budget-zero": prog(GUEST | BUDGET0, *[spawn(checkpoint(), checkpoint(), checkpoint()) for _ in range(10)],
                           close()),
    "15-nts-post": prog(GUEST | NTS_POST | NO_GUARD, spawn(sleep(1), post()), host(2, 0, 1), host(3, 0, 1),
                        try_recv(0), sleep(1), close()),
    "16-cancel-other": prog(STANDALONE, scope(0), spawn(sleep(1), cancel_other(1)), sleep_forever(), close(),
                            close()),
    "17-nested-failure": prog(GUEST, spawn(spawn(spawn(sleep(1), fail()), sleep_forever()), sleep_forever()),
                              sleep_forever(), close()),
    # A task that ends holding the lock, then a new task (which may reuse the
    # ended task's record) asks for it: it must wait, not be taken for the
    # dead owner. The run ends when the reaper cancels the waiter.
    "18-lock-dead-owner": prog(STANDALONE, spawn(lock()), sleep(1), spawn(lock(), unlock()), sleep(1), close()),
}


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(SEEDS), out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
