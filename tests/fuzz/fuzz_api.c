/* fuzz_api.c - the API-sequence fuzzer: input bytes become a tree of task scripts run on a mock clock, with the library's promises checked after every step. */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guestloop/guestloop.h"
#include "harness/harness.h"
#include "harness/host_toy.h"

/* ---- The program -----------------------------------------------------------
 *
 * Byte 0 chooses the run's set-up (bit 0: guest run on a tiny host loop, or
 * standalone gloop_run(); bit 1: guard pages off; bit 2: a tick budget of 0,
 * one batch per tick; bit 3: a not-threadsafe post as well). The remaining
 * bytes are the main task's script. A script is a sequence of operations,
 * one opcode byte each followed by its argument bytes (missing bytes read as
 * 0). SPAWN takes the next bytes as the child's own script, so the input is
 * a tree of scripts; every script is finite, so every task ends.
 *
 * Everything runs on a mock clock with autojump 0: a sleep ends as soon as
 * every task waits, so nothing depends on real time. A "reaper" timer a
 * million seconds ahead cancels the whole run, and every shielded scope has
 * a finite deadline, so a task waiting for something that never comes is
 * still released: a run that does not finish is a bug in the library.
 *
 * The model. Next to each real cancel scope and nursery the fuzzer keeps a
 * model node: parent, shield, whether it was cancelled for certain (an
 * explicit cancel, or gloop_scope_cancel_called() said so) and whether it
 * may have been cancelled (a deadline that has passed, a failed child).
 * After every blocking call it checks:
 *  - a call made while a scope above the task (up to a shield) was
 *    cancelled for certain returns GLOOP_ECANCELED: no task keeps running
 *    past a cancellation without seeing it at its next checkpoint;
 *  - GLOOP_ECANCELED comes only when some scope above may be cancelled;
 *  - a successful sleep ends no earlier than its deadline;
 *  - locks exclude, channels keep each sender's order and report closing
 *    exactly, nursery close reports 0 or one of its failed children's codes.
 * At the end: every task started and ended exactly once, done_cb ran
 * exactly once with the main task's status, every accepted post ran, and
 * the counting allocator is back to zero live blocks. */

#define MAX_TASKS 48
#define MAX_SCOPES 160
#define MAX_DEPTH 6
#define NEVENTS 4
#define NCHANNELS 2
#define NTIMERS 4
#define REAPER_AT 1.0e6
#define USER_ERR_BASE (-7000)
#define HOST_SENDER 0

/* Invariants are the harness's checks. In the libFuzzer build the harness is
 * compiled with GLOOP_HARNESS_FAIL_ABORTS, so a violation aborts and
 * libFuzzer keeps the input; in the replay it fails the case like any
 * other suite's. */
#define CHECK(cond, ...) TEST_CHECK_(cond, __VA_ARGS__)

/* ---- Model ----------------------------------------------------------------- */

typedef struct mscope {
  int used;
  int open;
  int parent;            /* model index, -1 above the root */
  int is_nursery;
  int shield;
  int fail_flag;
  double deadline;       /* INFINITY = none */
  int passed;            /* an earlier deadline had passed when it was moved */
  int cancel_def;        /* cancelled for certain */
  int cancel_pos;        /* may be cancelled (besides deadline and cancel_def) */
  gloop_scope *s;        /* while open, regular scopes */
  gloop_nursery *n;      /* while open, nurseries */
  int owner;             /* task id */
  int closing;           /* nursery: the owner is in gloop_nursery_close() */
  int live_children;
  int kids[MAX_TASKS];   /* nursery: children that failed or may have failed */
  int nkids;
} mscope;

typedef struct ftask {
  int used;
  int id;
  const uint8_t *p, *end;
  int base;              /* model scope the task was started in */
  int stack[MAX_DEPTH];  /* model scopes it has open, innermost last */
  int depth;
  int started, ended;
  int result;            /* what it will return */
  int left[MAX_DEPTH];   /* what it left open when it returned, innermost last */
  int nleft;
  uint32_t send_seq;
} ftask;

typedef struct fuzz_state {
  const uint8_t *data;
  size_t size;
  int guest;
  mscope sc[MAX_SCOPES];
  int nsc;
  ftask tasks[MAX_TASKS];
  int ntasks;
  gloop_clock *clock;
  gloop_event *ev[NEVENTS];
  int ev_set[NEVENTS];
  gloop_channel *ch[NCHANNELS];
  int ch_closed[NCHANNELS];
  /* Per receiver (a task, or the host at index MAX_TASKS), channel and
   * sender: the last sequence number received + 1. Only one receiver's
   * view has an order the fuzzer can observe. */
  uint32_t last_seq[MAX_TASKS + 1][NCHANNELS][MAX_TASKS + 1];
  long sent[NCHANNELS], received[NCHANNELS];
  uint32_t host_seq;
  gloop_semaphore *sem;
  gloop_lock *lock;
  int lock_owner;        /* task id + 1, 0 = free */
  gloop_token *tok;
  long posts_accepted, posts_run;
  gloop_timer *timers[NTIMERS];
  int timer_busy[NTIMERS];
  struct host_action {
    uint8_t kind, a, b;
    const uint8_t *script;
    size_t len;
  } actions[NTIMERS], queued[8];
  int nqueued;
  gloop_timer *reaper;
  int done_calls;
  int done_status;
} fuzz_state;

static fuzz_state F;

/* ---- Counting allocator -------------------------------------------------- */

static _Atomic long live_blocks;

static void *count_realloc(void *ud, void *ptr, size_t size) {
  (void)ud;
  if (size == 0) {
    if (ptr) atomic_fetch_sub(&live_blocks, 1);
    free(ptr);
    return NULL;
  }
  void *p = realloc(ptr, size);
  if (p && !ptr) atomic_fetch_add(&live_blocks, 1);
  return p;
}

/* ---- Reading scripts ----------------------------------------------------- */

static uint8_t next_byte(ftask *t) { return t->p < t->end ? *t->p++ : 0; }

static int new_scope(int parent, int is_nursery, int owner) {
  CHECK(F.nsc < MAX_SCOPES, "model scope table full");
  int i = F.nsc++;
  mscope *m = &F.sc[i];
  memset(m, 0, sizeof *m);
  m->used = 1;
  m->open = 1;
  m->parent = parent;
  m->is_nursery = is_nursery;
  m->deadline = INFINITY;
  m->owner = owner;
  return i;
}

static int innermost(const ftask *t) { return t->depth ? t->stack[t->depth - 1] : t->base; }

/* Syncs certain cancellation of open regular scopes from the library. */
static int certainly_cancelled(int i) {
  mscope *m = &F.sc[i];
  if (!m->cancel_def && m->open && !m->is_nursery && m->s && gloop_scope_cancel_called(m->s))
    m->cancel_def = 1;
  return m->cancel_def;
}

static int maybe_cancelled(int i, double now) {
  const mscope *m = &F.sc[i];
  return certainly_cancelled(i) || m->cancel_pos || m->deadline <= now;
}

/* Walks from the task's innermost scope up to and including the first
 * shield, as cancellation does. */
static int chain_certain(const ftask *t) {
  for (int i = innermost(t); i >= 0; i = F.sc[i].parent) {
    if (certainly_cancelled(i)) return 1;
    if (F.sc[i].shield) break;
  }
  return 0;
}

static int chain_maybe(const ftask *t) {
  double now = gloop_now();
  for (int i = innermost(t); i >= 0; i = F.sc[i].parent) {
    if (maybe_cancelled(i, now)) return 1;
    if (F.sc[i].shield) break;
  }
  return 0;
}

/* The checks after a cancellable blocking call. `certain_before` is what
 * chain_certain() said when the call was made. */
static void after_block(const ftask *t, const char *what, int rc, int certain_before) {
  if (certain_before && rc != GLOOP_ECANCELED)
    TEST_FAIL("task %d: %s returned %s although a scope above it was already cancelled", t->id, what,
        gloop_err_name(rc));
  if (rc == GLOOP_ECANCELED && !chain_maybe(t))
    TEST_FAIL("task %d: %s returned ECANCELED but no scope above it is cancelled", t->id, what);
}

/* The codes a task may have ended with, and the codes a nursery's close
 * may report. They are worked out when the answer is needed, after every
 * task involved has ended: a task that returned with nurseries still open
 * ends only after the library has closed them (cancelling them first), and
 * children may still fail meanwhile. The library then reports GLOOP_EINVAL,
 * unless the task or one of those nurseries had failed. */
#define MAX_CODES 16

static void add_code(int *codes, int *n, int code) {
  for (int i = 0; i < *n; i++)
    if (codes[i] == code) return;
  if (*n < MAX_CODES) codes[(*n)++] = code;
}

static void nursery_codes(int scope, int *codes, int *n);

static void task_codes(int id, int *codes, int *n) {
  const ftask *t = &F.tasks[id];
  if (t->result != 0) {
    add_code(codes, n, t->result);
    return;
  }
  if (t->nleft == 0) {
    add_code(codes, n, 0);
    return;
  }
  for (int k = t->nleft - 1; k >= 0; k--)
    if (F.sc[t->left[k]].is_nursery) nursery_codes(t->left[k], codes, n);
  add_code(codes, n, GLOOP_EINVAL);
}

/* The failure codes only (0 for a nursery none of whose children failed). */
static void nursery_codes(int scope, int *codes, int *n) {
  const mscope *m = &F.sc[scope];
  for (int i = 0; i < m->nkids; i++) {
    int tmp[MAX_CODES], nt = 0;
    task_codes(m->kids[i], tmp, &nt);
    for (int j = 0; j < nt; j++)
      if (tmp[j] != 0) add_code(codes, n, tmp[j]);
  }
}

static int has_code(const int *codes, int n, int code) {
  for (int i = 0; i < n; i++)
    if (codes[i] == code) return 1;
  return 0;
}

/* ---- Tasks ------------------------------------------------------------------ */

static int task_main(void *a);

static int spawn_into(int scope_idx, const uint8_t *script, size_t len, int from_host) {
  mscope *n = &F.sc[scope_idx];
  if (F.ntasks >= MAX_TASKS) return 0;
  ftask *c = &F.tasks[F.ntasks];
  memset(c, 0, sizeof *c);
  c->id = F.ntasks;
  c->p = script;
  c->end = script + len;
  c->base = scope_idx;
  c->result = 0;
  char name[16];
  snprintf(name, sizeof name, "t%d", c->id);
  int rc = gloop_nursery_start(n->n, task_main, c, name, NULL);
  if (rc == GLOOP_ECLOSED && from_host && n->closing && n->live_children == 0) return 0;
  CHECK(rc == 0, "nursery_start into scope %d returned %s", scope_idx, gloop_err_name(rc));
  c->used = 1;
  F.ntasks++;
  n->live_children++;
  return 0;
}

/* Closes the innermost open scope or nursery of the task. */
static void close_innermost(ftask *t) {
  int i = t->stack[t->depth - 1];
  mscope *m = &F.sc[i];
  if (m->is_nursery) {
    m->closing = 1;
    int rc = gloop_nursery_close(m->n);
    m->closing = 0;
    CHECK(m->live_children == 0, "task %d: nursery close returned with %d children alive", t->id,
          m->live_children);
    int codes[MAX_CODES], n = 0;
    nursery_codes(i, codes, &n);
    if (n == 0)
      CHECK(rc == 0, "task %d: nursery close returned %s, no child failed", t->id, gloop_err_name(rc));
    else
      CHECK(has_code(codes, n, rc), "task %d: nursery close returned %s, not a failed child's code",
            t->id, gloop_err_name(rc));
    if (rc != 0 && t->result == 0) t->result = rc;
    m->n = NULL;
  } else {
    double now = gloop_now();
    int rc = gloop_scope_close(m->s);
    CHECK(rc == 0 || rc == GLOOP_ETIMEDOUT, "task %d: scope close returned %s", t->id,
          gloop_err_name(rc));
    if (rc == GLOOP_ETIMEDOUT)
      CHECK(m->fail_flag && (m->deadline <= now || m->passed),
            "task %d: ETIMEDOUT from a scope without a passed fail deadline", t->id);
    m->s = NULL;
  }
  m->open = 0;
  t->depth--;
}

static void sleep_op(ftask *t, double d) {
  double t0 = gloop_now();
  int certain = chain_certain(t);
  int rc = gloop_sleep(d);
  after_block(t, "sleep", rc, certain);
  if (rc == 0) CHECK(gloop_now() >= t0 + d - 1e-9, "task %d: sleep(%g) ended early", t->id, d);
  CHECK(rc == 0 || rc == GLOOP_ECANCELED, "task %d: sleep returned %s", t->id, gloop_err_name(rc));
}

static void channel_send_op(ftask *t, int c) {
  uint32_t v = ((uint32_t)(t->id + 1) << 24) | t->send_seq;
  int certain = chain_certain(t);
  int closed_before = F.ch_closed[c];
  int rc = gloop_channel_send(F.ch[c], &v);
  if (closed_before) {
    CHECK(rc == GLOOP_ECLOSED, "task %d: send on a closed channel returned %s", t->id, gloop_err_name(rc));
    return;
  }
  if (rc == GLOOP_ECLOSED) {
    CHECK(F.ch_closed[c], "task %d: ECLOSED from an open channel", t->id);
    return;
  }
  after_block(t, "channel send", rc, certain);
  CHECK(rc == 0 || rc == GLOOP_ECANCELED, "task %d: send returned %s", t->id, gloop_err_name(rc));
  if (rc == 0) {
    t->send_seq++;
    F.sent[c]++;
  }
}

static void check_received(int receiver, int c, uint32_t v) {
  unsigned sender = v >> 24;
  uint32_t seq = v & 0xffffff;
  CHECK(sender <= MAX_TASKS, "received garbage %08x", v);
  uint32_t *last = &F.last_seq[receiver][c][sender];
  CHECK(seq + 1 > *last, "channel %d: receiver %d got sender %u's element %u after %u", c, receiver,
        sender, seq, *last - 1);
  *last = seq + 1;
  F.received[c]++;
}

static void channel_recv_op(ftask *t, int c) {
  uint32_t v = 0;
  int certain = chain_certain(t);
  int rc = gloop_channel_receive(F.ch[c], &v);
  if (rc == GLOOP_EENDOFCHANNEL) {
    CHECK(F.ch_closed[c], "task %d: end of channel on an open channel", t->id);
    return;
  }
  after_block(t, "channel receive", rc, certain);
  CHECK(rc == 0 || rc == GLOOP_ECANCELED, "task %d: receive returned %s", t->id, gloop_err_name(rc));
  if (rc == 0) check_received(t->id, c, v);
}

static void channel_close_any(int c) {
  int rc = gloop_channel_close(F.ch[c]);
  CHECK(rc == (F.ch_closed[c] ? GLOOP_ECLOSED : 0), "channel close returned %s (closed before: %d)",
        gloop_err_name(rc), F.ch_closed[c]);
  F.ch_closed[c] = 1;
}

static void try_send_any(int c, uint32_t v) {
  int rc = gloop_channel_try_send(F.ch[c], &v);
  if (F.ch_closed[c])
    CHECK(rc == GLOOP_ECLOSED, "try_send on a closed channel returned %s", gloop_err_name(rc));
  else
    CHECK(rc == 0 || rc == GLOOP_EAGAIN, "try_send returned %s", gloop_err_name(rc));
  if (rc == 0) F.sent[c]++;
}

static void try_recv_any(int receiver, int c) {
  uint32_t v;
  int rc = gloop_channel_try_receive(F.ch[c], &v);
  if (rc == 0) check_received(receiver, c, v);
  else if (rc == GLOOP_EENDOFCHANNEL) CHECK(F.ch_closed[c], "end of channel on an open channel");
  else CHECK(rc == GLOOP_EAGAIN, "try_receive returned %s", gloop_err_name(rc));
}

static void cancel_model(int i) {
  mscope *m = &F.sc[i];
  if (!m->open) return;
  int rc = m->is_nursery ? gloop_nursery_cancel(m->n) : gloop_scope_cancel(m->s);
  CHECK(rc == 0, "cancel of scope %d returned %s", i, gloop_err_name(rc));
  m->cancel_def = 1;
}

/* The first open model scope at or after i (wrapping), or -1. */
static int pick_open(int i) {
  if (F.nsc == 0) return -1;
  for (int k = 0; k < F.nsc; k++) {
    int j = (i + k) % F.nsc;
    if (F.sc[j].open && j != 0) return j;
  }
  return -1;
}

static void post_cb(void *a) {
  (void)a;
  F.posts_run++;
}

/* ---- Host-side actions ------------------------------------------------------------ */

static void host_action(const struct host_action *h) {
  if (!gloop_in_run()) return;
  CHECK(gloop_current_task() == NULL, "a host-side action runs inside a task");
  switch (h->kind % 8) {
    case 0: {
      int e = h->a % NEVENTS;
      CHECK(gloop_event_set(F.ev[e]) == 0, "host event_set failed");
      F.ev_set[e] = 1;
      break;
    }
    case 1: {
      int j = pick_open(h->a);
      if (j >= 0) cancel_model(j);
      break;
    }
    case 2:
      try_send_any(h->a % NCHANNELS, ((uint32_t)HOST_SENDER << 24) | F.host_seq++);
      break;
    case 3:
      channel_close_any(h->a % NCHANNELS);
      break;
    case 4:
      CHECK(gloop_mock_clock_jump(F.clock, (h->b % 4) * 0.25) == 0, "host clock jump failed");
      break;
    case 5:
      CHECK(gloop_cancel_run() == 0, "host cancel_run failed");
      F.sc[0].cancel_def = 1;
      break;
    case 6: {
      int j = pick_open(h->a);
      if (j >= 0 && F.sc[j].is_nursery) spawn_into(j, h->script, h->len, 1);
      break;
    }
    default:
      if (gloop_token_post(F.tok, post_cb, NULL) == 0) F.posts_accepted++;
      break;
  }
}

static void timer_fired(void *a) {
  int i = (int)(intptr_t)a;
  F.timer_busy[i] = 0;
  host_action(&F.actions[i]);
}

static void reaper_fired(void *a) {
  (void)a;
  CHECK(gloop_cancel_run() == 0, "the reaper could not cancel the run");
  F.sc[0].cancel_def = 1;
}

/* ---- The interpreter ----------------------------------------------------------------- */

enum {
  OP_SLEEP, OP_CHECKPOINT, OP_SPAWN, OP_OPEN_SCOPE, OP_CLOSE, OP_CANCEL_INNER, OP_CANCEL_OTHER,
  OP_SHIELD, OP_EVENT_SET, OP_EVENT_WAIT, OP_SEND, OP_RECV, OP_CH_CLOSE, OP_TRY, OP_SEM, OP_LOCK,
  OP_FAIL, OP_RETURN, OP_HOST, OP_JUMP, OP_DEADLINE, OP_CANCEL_RUN, OP_POST, OP_SLEEP_FOREVER,
  OP_COUNT
};

static void open_nursery(ftask *t) {
  gloop_nursery *n;
  int rc = gloop_nursery_open(&n);
  CHECK(rc == 0, "nursery_open returned %s", gloop_err_name(rc));
  int i = new_scope(innermost(t), 1, t->id);
  F.sc[i].n = n;
  t->stack[t->depth++] = i;
}

static const char *const op_names[OP_COUNT] = {
    "sleep", "checkpoint", "spawn", "open_scope", "close", "cancel_inner", "cancel_other", "shield",
    "event_set", "event_wait", "send", "recv", "ch_close", "try", "sem", "lock", "fail", "return",
    "host", "jump", "deadline", "cancel_run", "post", "sleep_forever"};

/* FUZZ_TRACE=1 in the environment prints every operation as it starts:
 * the first thing to read when an input fails. */
static int trace_on = -1;

/* Runs one operation; returns 0 when the task should return now. */
static int step(ftask *t) {
  uint8_t op = next_byte(t) % OP_COUNT;
  if (trace_on < 0) {
    const char *e = getenv("FUZZ_TRACE");
    trace_on = e != NULL && *e != '\0' && *e != '0';
  }
  if (trace_on)
    fprintf(stderr, "t=%-9.4f task %-2d %-13s depth %d\n", gloop_now(), t->id, op_names[op], t->depth);
  switch (op) {
    case OP_SLEEP:
      sleep_op(t, (next_byte(t) % 8) * 0.125);
      break;
    case OP_CHECKPOINT: {
      int certain = chain_certain(t);
      int rc = gloop_checkpoint();
      after_block(t, "checkpoint", rc, certain);
      break;
    }
    case OP_SPAWN: {
      size_t len = next_byte(t) % 48;
      if (len > (size_t)(t->end - t->p)) len = (size_t)(t->end - t->p);
      const uint8_t *script = t->p;
      t->p += len;
      int top = t->depth ? t->stack[t->depth - 1] : -1;
      if (top < 0 || !F.sc[top].is_nursery) {
        if (t->depth >= MAX_DEPTH) break;
        open_nursery(t);
      }
      spawn_into(t->stack[t->depth - 1], script, len, 0);
      break;
    }
    case OP_OPEN_SCOPE: {
      uint8_t a = next_byte(t), b = next_byte(t);
      if (t->depth >= MAX_DEPTH) break;
      if (b & 4) {
        open_nursery(t);
        break;
      }
      double now = gloop_now();
      int flags = b & (GLOOP_SCOPE_SHIELD | GLOOP_SCOPE_FAIL);
      double deadline = (a % 4 == 0) ? INFINITY : now + (a % 16) * 0.0625;
      /* A shield must end by itself, or a task could wait past the reaper. */
      if ((flags & GLOOP_SCOPE_SHIELD) && isinf(deadline)) deadline = now + 2.0;
      gloop_scope *s;
      int rc = gloop_scope_open(deadline, flags, &s);
      CHECK(rc == 0, "scope_open returned %s", gloop_err_name(rc));
      int i = new_scope(innermost(t), 0, t->id);
      F.sc[i].s = s;
      F.sc[i].shield = (flags & GLOOP_SCOPE_SHIELD) != 0;
      F.sc[i].fail_flag = (flags & GLOOP_SCOPE_FAIL) != 0;
      F.sc[i].deadline = deadline;
      t->stack[t->depth++] = i;
      break;
    }
    case OP_CLOSE:
      if (t->depth) close_innermost(t);
      break;
    case OP_CANCEL_INNER:
      if (t->depth) cancel_model(t->stack[t->depth - 1]);
      break;
    case OP_CANCEL_OTHER: {
      int j = pick_open(next_byte(t));
      if (j >= 0) cancel_model(j);
      break;
    }
    case OP_SHIELD: {
      uint8_t a = next_byte(t);
      if (!t->depth) break;
      mscope *m = &F.sc[t->stack[t->depth - 1]];
      if (m->is_nursery) break;
      int on = a & 1;
      if (on && isinf(m->deadline)) break;
      CHECK(gloop_scope_set_shield(m->s, on) == 0, "set_shield failed");
      m->shield = on;
      break;
    }
    case OP_EVENT_SET: {
      int e = next_byte(t) % NEVENTS;
      CHECK(gloop_event_set(F.ev[e]) == 0, "event_set failed");
      F.ev_set[e] = 1;
      break;
    }
    case OP_EVENT_WAIT: {
      int e = next_byte(t) % NEVENTS;
      int certain = chain_certain(t);
      int rc = gloop_event_wait(F.ev[e]);
      after_block(t, "event wait", rc, certain);
      CHECK(rc == 0 || rc == GLOOP_ECANCELED, "event wait returned %s", gloop_err_name(rc));
      if (rc == 0) CHECK(F.ev_set[e], "task %d: event wait returned 0 for an unset event", t->id);
      break;
    }
    case OP_SEND:
      channel_send_op(t, next_byte(t) % NCHANNELS);
      break;
    case OP_RECV:
      channel_recv_op(t, next_byte(t) % NCHANNELS);
      break;
    case OP_CH_CLOSE:
      channel_close_any(next_byte(t) % NCHANNELS);
      break;
    case OP_TRY: {
      uint8_t a = next_byte(t);
      if (a & 1)
        try_recv_any(t->id, (a >> 1) % NCHANNELS);
      else
        try_send_any((a >> 1) % NCHANNELS, ((uint32_t)(t->id + 1) << 24) | t->send_seq++);
      break;
    }
    case OP_SEM: {
      uint8_t a = next_byte(t);
      if (a & 1) {
        CHECK(gloop_semaphore_release(F.sem) == 0, "semaphore release failed");
      } else {
        int certain = chain_certain(t);
        int rc = gloop_semaphore_acquire(F.sem);
        after_block(t, "semaphore acquire", rc, certain);
        CHECK(rc == 0 || rc == GLOOP_ECANCELED, "semaphore acquire returned %s", gloop_err_name(rc));
      }
      break;
    }
    case OP_LOCK: {
      uint8_t a = next_byte(t);
      if (a & 1) {
        int rc = gloop_lock_release(F.lock);
        if (F.lock_owner == t->id + 1) {
          CHECK(rc == 0, "task %d: releasing its lock returned %s", t->id, gloop_err_name(rc));
          F.lock_owner = 0;
        } else {
          CHECK(rc == GLOOP_EPERM, "task %d: releasing a lock it does not hold returned %s", t->id,
                gloop_err_name(rc));
        }
      } else {
        int certain = chain_certain(t);
        int mine = F.lock_owner == t->id + 1;
        int rc = gloop_lock_acquire(F.lock);
        if (mine) {
          CHECK(rc == GLOOP_EBUSY, "task %d: acquiring a lock it holds returned %s", t->id,
                gloop_err_name(rc));
          break;
        }
        after_block(t, "lock acquire", rc, certain);
        CHECK(rc == 0 || rc == GLOOP_ECANCELED, "task %d: lock acquire returned %s", t->id,
              gloop_err_name(rc));
        if (rc == 0) {
          CHECK(F.lock_owner == 0, "task %d got the lock while task %d holds it", t->id, F.lock_owner - 1);
          F.lock_owner = t->id + 1;
        }
      }
      break;
    }
    case OP_FAIL:
      /* Close everything properly, then fail with this task's own code. */
      while (t->depth) close_innermost(t);
      if (t->result == 0) t->result = gloop_fail(USER_ERR_BASE - t->id, "task %d fails", t->id);
      return 0;
    case OP_RETURN:
      /* Return at once, leaving scopes and nurseries for the library. */
      return 0;
    case OP_HOST: {
      struct host_action h;
      h.kind = next_byte(t);
      h.a = next_byte(t);
      h.b = next_byte(t);
      h.len = 0;
      h.script = t->p;
      if (h.kind % 8 == 6) {
        h.len = next_byte(t) % 32;
        h.script = t->p;
        if (h.len > (size_t)(t->end - t->p)) h.len = (size_t)(t->end - t->p);
        t->p += h.len;
      }
      if (F.guest && (h.b & 1) && F.nqueued < 8) {
        F.queued[F.nqueued++] = h; /* between ticks, from the host loop */
        break;
      }
      for (int i = 0; i < NTIMERS; i++) {
        if (F.timer_busy[i]) continue;
        F.actions[i] = h;
        F.timer_busy[i] = 1;
        int rc = gloop_timer_start(F.timers[i], (h.b % 4) * 0.125, timer_fired, (void *)(intptr_t)i);
        CHECK(rc == 0, "timer_start returned %s", gloop_err_name(rc));
        break;
      }
      break;
    }
    case OP_JUMP:
      CHECK(gloop_mock_clock_jump(F.clock, (next_byte(t) % 8) * 0.1) == 0, "clock jump failed");
      break;
    case OP_DEADLINE: {
      uint8_t a = next_byte(t);
      if (!t->depth) break;
      mscope *m = &F.sc[t->stack[t->depth - 1]];
      if (m->is_nursery) break;
      double d = (a % 5 == 0) ? INFINITY : gloop_now() + (a % 16) * 0.0625;
      if (isinf(d) && m->shield) break;
      CHECK(gloop_scope_set_deadline(m->s, d) == 0, "set_deadline failed");
      /* A deadline that already passed may have cancelled the scope: keep
       * counting it as a possible cause. */
      if (m->deadline <= gloop_now()) m->cancel_pos = m->passed = 1;
      m->deadline = d;
      break;
    }
    case OP_CANCEL_RUN:
      CHECK(gloop_cancel_run() == 0, "cancel_run failed");
      F.sc[0].cancel_def = 1;
      break;
    case OP_POST:
      if (gloop_token_post(F.tok, post_cb, NULL) == 0) F.posts_accepted++;
      else TEST_FAIL("token_post refused during the run");
      break;
    case OP_SLEEP_FOREVER: {
      int certain = chain_certain(t);
      int rc = gloop_sleep_forever();
      CHECK(rc == GLOOP_ECANCELED, "sleep_forever returned %s", gloop_err_name(rc));
      after_block(t, "sleep_forever", rc, certain);
      break;
    }
    default:
      break;
  }
  return 1;
}

static int task_main(void *a) {
  ftask *t = a;
  if (t->started++) TEST_FAIL("task %d started twice", t->id);
  CHECK(gloop_current_task() != NULL, "task %d runs outside task context", t->id);
  int abrupt = 0;
  while (t->p < t->end && !abrupt) abrupt = !step(t);
  /* A script that simply ran out closes what it opened, like tidy code;
   * OP_RETURN leaves it to the library. */
  if (!abrupt)
    while (t->depth) close_innermost(t);
  t->nleft = t->depth;
  memcpy(t->left, t->stack, sizeof t->left);
  /* The library cancels leftover nurseries as the task returns, and closes
   * leftover scopes; the model forgets their handles now. */
  for (int k = 0; k < t->depth; k++) {
    mscope *m = &F.sc[t->stack[k]];
    if (m->is_nursery) m->cancel_pos = 1;
    m->open = 0;
    m->s = NULL;
    m->n = NULL;
  }
  int may_fail = t->result != 0 || t->nleft > 0;
  if (t->base > 0) {
    mscope *parent = &F.sc[t->base];
    if (may_fail && parent->nkids < MAX_TASKS) parent->kids[parent->nkids++] = t->id;
    /* With nothing left open the library records the end in this very
     * step, so a failure cancels the siblings for certain; with leftovers
     * other tasks run first, so it is only "possible" until then. */
    if (t->result != 0 && t->nleft == 0)
      parent->cancel_def = 1;
    else if (may_fail)
      parent->cancel_pos = 1;
    parent->live_children--;
  }
  t->ended++;
  return t->result;
}

/* The main task sets up the shared objects, then runs the script in the
 * root scope (model scope 0). */
static int main_entry(void *a) {
  ftask *t = a;
  CHECK(gloop_event_new(&F.ev[0]) == 0, "event_new failed");
  for (int i = 1; i < NEVENTS; i++) CHECK(gloop_event_new(&F.ev[i]) == 0, "event_new failed");
  CHECK(gloop_channel_new(2, sizeof(uint32_t), &F.ch[0]) == 0, "channel_new failed");
  CHECK(gloop_channel_new(0, sizeof(uint32_t), &F.ch[1]) == 0, "channel_new failed");
  CHECK(gloop_semaphore_new(1, 0, &F.sem) == 0, "semaphore_new failed");
  CHECK(gloop_lock_new(&F.lock) == 0, "lock_new failed");
  CHECK(gloop_token_new(&F.tok) == 0, "token_new failed");
  CHECK(gloop_timer_start(F.reaper, REAPER_AT, reaper_fired, NULL) == 0, "reaper start failed");
  return task_main(t);
}

/* ---- The host ------------------------------------------------------------------------------ */

/* Guest runs are hosted by the harness's toy host, which also polices the
 * posts' thread affinity. Host-side calls queued by the script run between
 * ticks. */
static void host_between_ticks(void *arg) {
  (void)arg;
  while (F.nqueued > 0 && gloop_in_run()) {
    struct host_action h = F.queued[0];
    memmove(F.queued, F.queued + 1, (size_t)(F.nqueued - 1) * sizeof F.queued[0]);
    F.nqueued--;
    host_action(&h);
  }
}

static void on_done(const gloop_outcome *o, void *hd) {
  (void)hd;
  CHECK(o != NULL && o->message != NULL, "done_cb got no outcome or no message");
  CHECK(gloop_current_task() == NULL, "done_cb ran inside a task");
  F.done_calls++;
  F.done_status = o->status;
}

/* ---- One input ---------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  memset(&F, 0, sizeof F);
  F.data = data;
  F.size = size;
  uint8_t setup = data[0];
  F.guest = setup & 1;
  atomic_store(&live_blocks, 0);

  CHECK(gloop_mock_clock_new(0.0, 0.0, &F.clock) == 0, "mock_clock_new failed");
  for (int i = 0; i < NTIMERS; i++) CHECK(gloop_timer_new(&F.timers[i]) == 0, "timer_new failed");
  CHECK(gloop_timer_new(&F.reaper) == 0, "timer_new failed");

  gloop_options o;
  gloop_options_init(&o);
  o.clock = F.clock;
  o.realloc_fn = count_realloc;
  o.stack_size = 64 * 1024;
  o.guard_pages = !(setup & 2);
  if (setup & 4) o.tick_budget = 0;

  /* Model scope 0 is the run's root scope, which gloop_cancel_run() cancels. */
  new_scope(-1, 0, 0);
  ftask *m = &F.tasks[0];
  m->used = 1;
  m->id = 0;
  m->p = data + 1;
  m->end = data + size;
  m->base = 0;
  F.ntasks = 1;

  int status;
  if (F.guest) {
    host_toy_init();
    host_toy_set_between(host_between_ticks, NULL);
    int rc = host_toy_start(main_entry, m, &o, setup & 8);
    CHECK(rc == 0, "start_guest_run returned %s", gloop_err_name(rc));
    /* Leftover ticks of the finished run are drained too: they are no-ops. */
    host_toy_run_until_done_within(10.0);
    host_toy_stats hs = host_toy_get_stats();
    CHECK(!hs.done_message_null, "done_cb got no message");
    CHECK(!hs.done_in_task && !hs.done_off_host, "done_cb ran inside a task or off the host thread");
    F.done_calls = hs.done_calls;
    F.done_status = hs.done_status;
    status = F.done_status;
  } else {
    status = gloop_run(main_entry, m, &o, on_done, NULL);
    CHECK(F.done_calls == 1 && status == F.done_status, "gloop_run returned %s, done_cb said %s",
          gloop_err_name(status), gloop_err_name(F.done_status));
  }
  CHECK(F.done_calls == 1, "done_cb ran %d times", F.done_calls);
  CHECK(!gloop_in_run(), "the run is still live after done_cb");
  int codes[MAX_CODES], ncodes = 0;
  task_codes(0, codes, &ncodes);
  CHECK(has_code(codes, ncodes, status), "the run's outcome %s (%d) is none of the main task's possible results",
        gloop_err_name(status), status);
  for (int i = 0; i < F.ntasks; i++)
    CHECK(F.tasks[i].started == 1 && F.tasks[i].ended == 1, "task %d started %d and ended %d times", i,
          F.tasks[i].started, F.tasks[i].ended);
  CHECK(F.posts_run == F.posts_accepted, "%ld posts accepted, %ld ran", F.posts_accepted, F.posts_run);
  /* Nothing lost, nothing twice: what was sent was received or is still
   * buffered. */
  for (int c = 0; c < NCHANNELS; c++)
    CHECK(F.sent[c] - F.received[c] == (long)gloop_channel_size(F.ch[c]),
          "channel %d: %ld sent, %ld received, %zu buffered", c, F.sent[c], F.received[c],
          gloop_channel_size(F.ch[c]));

  /* After the run: objects refuse calls but are valid to free. */
  CHECK(gloop_event_set(F.ev[0]) == GLOOP_ENORUN, "event_set after the run was not refused");
  CHECK(gloop_token_post(F.tok, post_cb, NULL) == GLOOP_ENORUN, "token_post after the run was not refused");
  for (int i = 0; i < NEVENTS; i++) gloop_event_free(F.ev[i]);
  for (int i = 0; i < NCHANNELS; i++) gloop_channel_free(F.ch[i]);
  gloop_semaphore_free(F.sem);
  gloop_lock_free(F.lock);
  gloop_token_free(F.tok);
  for (int i = 0; i < NTIMERS; i++) gloop_timer_free(F.timers[i]);
  gloop_timer_free(F.reaper);
  CHECK(gloop_clock_free(F.clock) == 0, "the clock is still in use after the run");
  CHECK(atomic_load(&live_blocks) == 0, "%ld blocks of run memory leaked", atomic_load(&live_blocks));
  return 0;
}
