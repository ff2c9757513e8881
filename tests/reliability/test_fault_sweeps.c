/* test_fault_sweeps.c - allocation-failure injection: every resource acquisition of each scenario is made to fail in turn, and the failure must surface as an error code with nothing leaked. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guestloop/guestloop.h"
#include "guestloop/testing.h"
#include "rel.h"

/* Under AddressSanitizer, LeakSanitizer can be asked for a leak check in
 * the middle of the program, after each sweep. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REL_HAVE_LSAN_IFACE 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define REL_HAVE_LSAN_IFACE 1
#endif
#ifdef REL_HAVE_LSAN_IFACE
#include <sanitizer/lsan_interface.h>
#endif

/* How the sweep works, for one scenario in one mode (standalone gloop_run()
 * or a guest run on the tiny host loop):
 *
 *  1. Warm up with two normal runs, then record the baselines: open fds,
 *     threads, C heap in use.
 *  2. For each kind of acquisition (memory, stacks, threads, fds), run once
 *     with gloop_fault_inject(LONG_MAX, kind, 0) to count that kind's
 *     acquisitions, then once for every N below the count with the Nth
 *     acquisition failing. A subset of scenarios also sweeps every N with
 *     all kinds in persistent mode (the Nth and every later one fail).
 *  3. After each run: the outcome must be a negative code from the allowed
 *     set, or 0 when the failure was absorbed: handled inside the library
 *     with no effect the scenario can see (a worker thread that could not
 *     be created while another one exists, a free-list entry that could
 *     not be recorded), which the scenario proves by checking every result
 *     it expects; absorbed points are listed in the output. done_cb must
 *     have run exactly once if the run started and never otherwise, and
 *     nothing may be left: the counting allocator's live blocks, the task
 *     stacks (found by their unusual size in /proc/self/maps, after the
 *     process-wide stack cache is released), fds, threads
 *     and the C heap all go back to their baselines. Then a normal run must
 *     succeed, proving the library is still usable.
 *
 * A scenario's main task returns 0 only if everything it did produced
 * exactly the expected results; any error an API call returned is passed
 * up (the first real error wins over the ECANCELED it caused elsewhere).
 * A result that differs from the expected one while every call succeeded is
 * a silent failure, and the scenario fails the test at once. */

/* An unusual stack size, so that /proc/self/maps shows exactly which
 * mappings are task stacks. */
#define REL_STACK ((size_t)88 * 1024)

/* A user error code outside the library's table. */
#define REL_USER_ERR (-7001)

enum { MODE_STANDALONE = 1, MODE_GUEST = 2 };

/* Every scenario state starts with this. */
typedef struct scen_common {
  int guest;             /* running as a guest run */
  int degraded;          /* the scenario accepted a documented degradation */
  int ready;             /* abandon scenarios: the run reached the abandon point */
  gloop_clock *clock;
} scen_common;

typedef struct scenario {
  const char *name;
  gloop_task_fn main;
  size_t state_size;
  int modes;
  int persistent;                 /* also sweep every N in persistent mode */
  int abandon;                    /* guest: abandon the run once c.ready is set */
  int threaded;                   /* exercises cross-thread paths: also run under TSan */
  void (*prepare)(void *st);      /* before the run (open sockets, ...) */
  void (*finish)(void *st);       /* after the run (close sockets, free objects) */
  void (*between)(void *st);      /* guest: host-side calls after each callback */
} scenario;

/* Keeps the first real error: an ECANCELED is replaced by the error that
 * caused it, if one comes along. */
static int keep(int *first, int rc) {
  if (rc < 0 && (*first == 0 || (*first == GLOOP_ECANCELED && rc != GLOOP_ECANCELED)))
    *first = rc;
  return rc;
}

/* Compares mock times, which are whole nanoseconds. */
static int same_time(double a, double b) { return fabs(a - b) < 1e-6; }

/* ======================================================================== */
/* Scenario: nursery                                                         */
/* ======================================================================== */

/* A nursery with a child that fails with a user error at t = 1: its siblings
 * are cancelled (one sleeps forever and must run its cleanup exactly once),
 * a grandchild nursery ends normally, and close reports the failure with its
 * message. */

typedef struct nur_state {
  scen_common c;
  int ok_ends;
  int sleeper_started, sleeper_cleanups;
  int grand_ends;
} nur_state;

static int nur_ok(void *a) {
  nur_state *st = a;
  int rc = gloop_sleep(0.5);
  if (rc) return rc;
  st->ok_ends++;
  return 0;
}

static int nur_bad(void *a) {
  (void)a;
  int rc = gloop_sleep(1.0);
  if (rc) return rc;
  return gloop_fail(REL_USER_ERR, "boom %d", 42);
}

static int nur_sleeper(void *a) {
  nur_state *st = a;
  st->sleeper_started++;
  int rc = gloop_sleep_forever();
  st->sleeper_cleanups++;
  return rc;
}

static int nur_grand(void *a) {
  nur_state *st = a;
  int rc = gloop_sleep(0.25);
  if (rc) return rc;
  rc = gloop_checkpoint();
  if (rc) return rc;
  st->grand_ends++;
  return 0;
}

static int nur_spawner(void *a) {
  gloop_nursery *n;
  int first = 0;
  int rc = gloop_nursery_open(&n);
  if (rc) return rc;
  for (int i = 0; i < 2 && !first; i++) keep(&first, gloop_nursery_start(n, nur_grand, a, "grand", NULL));
  if (first) gloop_nursery_cancel(n);
  rc = gloop_nursery_close(n);
  return first ? first : rc;
}

static int nur_main(void *a) {
  nur_state *st = a;
  gloop_nursery *n;
  int first = 0;
  int rc = gloop_nursery_open(&n);
  if (rc) return rc;
  static const struct {
    gloop_task_fn fn;
    const char *name;
  } kids[] = {{nur_ok, "ok"}, {nur_bad, "bad"}, {nur_sleeper, "sleeper"}, {nur_spawner, "spawner"}};
  for (size_t i = 0; i < sizeof kids / sizeof kids[0] && !first; i++)
    keep(&first, gloop_nursery_start(n, kids[i].fn, st, kids[i].name, NULL));
  if (first) {
    gloop_nursery_cancel(n);
  } else {
    rc = gloop_sleep(2.0);
    if (rc == 0) TEST_FAIL("nursery: the failing child did not cancel its parent's body");
    if (rc != GLOOP_ECANCELED) keep(&first, rc);
  }
  int crc = gloop_nursery_close(n);
  if (st->sleeper_cleanups != st->sleeper_started)
    TEST_FAIL("nursery: %d sleeper(s) started but %d cleanup(s) ran", st->sleeper_started,
             st->sleeper_cleanups);
  if (first) return first;
  if (crc == 0) TEST_FAIL("nursery: close returned 0 although a child failed");
  if (crc != REL_USER_ERR) return crc;
  const char *msg = gloop_last_message();
  if (strcmp(msg, "task 'bad' failed: boom 42") != 0) {
    /* The documented degradation: when the message itself cannot be
     * allocated, the code still reports and only the text is lost. */
    if (strcmp(msg, "task 'bad' failed: unknown error") == 0 || strcmp(msg, "unknown error") == 0)
      st->c.degraded = 1;
    else
      TEST_FAIL("nursery: unexpected failure message '%s'", msg);
  }
  if (st->ok_ends != 1 || st->grand_ends != 2 || st->sleeper_cleanups != 1)
    TEST_FAIL("nursery: ok_ends=%d grand_ends=%d sleeper_cleanups=%d", st->ok_ends,
             st->grand_ends, st->sleeper_cleanups);
  if (!same_time(gloop_now(), 1.0)) TEST_FAIL("nursery: ended at t=%g, not 1", gloop_now());
  return 0;
}

/* ======================================================================== */
/* Scenario: timers                                                          */
/* ======================================================================== */

/* Seventy sleeping tasks (more than the timer heap's first allocation holds,
 * so it must grow) plus public timers that are started, re-armed and
 * stopped, all on the mock clock. */

#define TIM_SLEEPERS 70

typedef struct tim_state {
  scen_common c;
  char log[8];
  int nlog;
  int sleepers_ok;
  int wrong_time;
} tim_state;

typedef struct tim_arg {
  tim_state *st;
  int i;
} tim_arg;

static tim_arg tim_args[TIM_SLEEPERS];

static void tim_log_b(void *a) {
  tim_state *st = a;
  if (st->nlog < 7) st->log[st->nlog++] = 'B';
}
static void tim_log_a(void *a) {
  tim_state *st = a;
  if (st->nlog < 7) st->log[st->nlog++] = 'A';
}
static void tim_log_c(void *a) {
  tim_state *st = a;
  if (st->nlog < 7) st->log[st->nlog++] = 'C';
}

static int tim_sleeper(void *a) {
  tim_arg *ta = a;
  double d = 0.1 + (ta->i % 7) * 0.25;
  int rc = (ta->i & 1) ? gloop_sleep(d) : gloop_sleep_until(d);
  if (rc) return rc;
  if (!same_time(gloop_now(), d)) ta->st->wrong_time++;
  ta->st->sleepers_ok++;
  return 0;
}

static int tim_main(void *a) {
  tim_state *st = a;
  gloop_timer *ta = NULL, *tb = NULL, *tc = NULL;
  gloop_nursery *n = NULL;
  int first = 0;
  if (keep(&first, gloop_timer_new(&ta)) || keep(&first, gloop_timer_new(&tb)) ||
      keep(&first, gloop_timer_new(&tc)))
    goto out;
  if (keep(&first, gloop_timer_start(tb, 1.0, tim_log_b, st)) ||
      keep(&first, gloop_timer_start(tc, 1.0, tim_log_c, st)) ||
      keep(&first, gloop_timer_start(ta, 3.0, tim_log_a, st)) ||
      keep(&first, gloop_timer_start(ta, 2.0, tim_log_a, st)) || keep(&first, gloop_timer_stop(tc)))
    goto out;
  if (keep(&first, gloop_nursery_open(&n))) goto out;
  for (int i = 0; i < TIM_SLEEPERS && !first; i++) {
    tim_args[i].st = st;
    tim_args[i].i = i;
    keep(&first, gloop_nursery_start(n, tim_sleeper, &tim_args[i], NULL, NULL));
  }
  if (first)
    gloop_nursery_cancel(n);
  else
    keep(&first, gloop_sleep(5.0));
  keep(&first, gloop_nursery_close(n));
  if (first) goto out;
  if (strcmp(st->log, "BA") != 0) TEST_FAIL("timers: fired in order '%s', expected 'BA'", st->log);
  if (gloop_timer_active(ta) || gloop_timer_active(tb) || gloop_timer_active(tc))
    TEST_FAIL("timers: a fired or stopped timer still reports active");
  if (st->sleepers_ok != TIM_SLEEPERS || st->wrong_time)
    TEST_FAIL("timers: %d of %d sleepers woke, %d at the wrong time", st->sleepers_ok,
             TIM_SLEEPERS, st->wrong_time);
  if (!same_time(gloop_now(), 5.0)) TEST_FAIL("timers: ended at t=%g", gloop_now());
out:
  gloop_timer_free(ta);
  gloop_timer_free(tb);
  gloop_timer_free(tc);
  return first;
}

/* ======================================================================== */
/* Scenario: sync                                                            */
/* ======================================================================== */

/* Channel traffic (a buffered producer/consumer and a rendezvous reply), a
 * lock and a semaphore shared by three tasks, an event set from the main
 * task, and an event freed while a task waits on it. */

typedef struct sync_state {
  scen_common c;
  gloop_event *ev, *doomed;
  gloop_semaphore *sem;
  gloop_lock *lock;
  gloop_channel *ch, *rv;
  int sum;
  int in_lock, max_in_lock, lock_rounds;
  int in_sem, max_in_sem;
  int waiter_woke;
  int doomed_rc;
} sync_state;

static int sync_producer(void *a) {
  sync_state *st = a;
  for (int v = 1; v <= 10; v++) {
    int rc = gloop_channel_send(st->ch, &v);
    if (rc) return rc;
  }
  return gloop_channel_close(st->ch);
}

static int sync_consumer(void *a) {
  sync_state *st = a;
  int v, sum = 0, rc;
  while ((rc = gloop_channel_receive(st->ch, &v)) == 0) sum += v;
  if (rc != GLOOP_EENDOFCHANNEL) return rc;
  st->sum = sum;
  return gloop_channel_send(st->rv, &sum);
}

static int sync_locker(void *a) {
  sync_state *st = a;
  int rc = gloop_lock_acquire(st->lock);
  if (rc) return rc;
  if (++st->in_lock > st->max_in_lock) st->max_in_lock = st->in_lock;
  int rc2 = gloop_sleep(0.1);
  st->in_lock--;
  rc = gloop_lock_release(st->lock);
  if (rc2) return rc2;
  if (rc) return rc;
  rc = gloop_semaphore_acquire(st->sem);
  if (rc) return rc;
  if (++st->in_sem > st->max_in_sem) st->max_in_sem = st->in_sem;
  rc2 = gloop_checkpoint();
  st->in_sem--;
  rc = gloop_semaphore_release(st->sem);
  if (rc2) return rc2;
  if (rc) return rc;
  st->lock_rounds++;
  return 0;
}

static int sync_waiter(void *a) {
  sync_state *st = a;
  int rc = gloop_event_wait(st->ev);
  if (rc) return rc;
  st->waiter_woke++;
  return 0;
}

static int sync_doomed(void *a) {
  sync_state *st = a;
  int rc = gloop_event_wait(st->doomed);
  st->doomed_rc = rc;
  return rc == GLOOP_EDESTROYED ? 0 : rc;
}

static int sync_main(void *a) {
  sync_state *st = a;
  gloop_nursery *n = NULL;
  int first = 0, got = 0;
  if (keep(&first, gloop_event_new(&st->ev)) || keep(&first, gloop_event_new(&st->doomed)) ||
      keep(&first, gloop_semaphore_new(1, 2, &st->sem)) || keep(&first, gloop_lock_new(&st->lock)) ||
      keep(&first, gloop_channel_new(2, sizeof(int), &st->ch)) ||
      keep(&first, gloop_channel_new(0, sizeof(int), &st->rv)))
    goto out;
  if (keep(&first, gloop_nursery_open(&n))) goto out;
  static const gloop_task_fn kids[] = {sync_producer, sync_consumer, sync_locker, sync_locker,
                                       sync_locker,   sync_waiter,   sync_doomed};
  for (size_t i = 0; i < sizeof kids / sizeof kids[0] && !first; i++)
    keep(&first, gloop_nursery_start(n, kids[i], st, NULL, NULL));
  if (first) {
    gloop_nursery_cancel(n);
  } else if (keep(&first, gloop_channel_receive(st->rv, &got)) == 0 &&
             keep(&first, gloop_sleep(0.05)) == 0) {
    gloop_event_free(st->doomed);
    st->doomed = NULL;
    keep(&first, gloop_event_set(st->ev));
  }
  keep(&first, gloop_nursery_close(n));
  if (first) goto out;
  if (got != 55 || st->sum != 55) TEST_FAIL("sync: received %d (sum %d), expected 55", got, st->sum);
  if (st->lock_rounds != 3 || st->max_in_lock != 1 || st->max_in_sem != 1)
    TEST_FAIL("sync: lock rounds %d, max holders %d, max semaphore holders %d", st->lock_rounds,
             st->max_in_lock, st->max_in_sem);
  if (st->waiter_woke != 1 || st->doomed_rc != GLOOP_EDESTROYED)
    TEST_FAIL("sync: waiter woke %d time(s), doomed waiter got %s", st->waiter_woke,
             gloop_err_name(st->doomed_rc));
  int v;
  REL_CHECK_ERR(gloop_channel_try_receive(st->ch, &v), GLOOP_EENDOFCHANNEL);
  REL_CHECK_ERR(gloop_channel_close(st->ch), GLOOP_ECLOSED);
  REL_CHECK(gloop_semaphore_value(st->sem) == 1, "sync: semaphore value %u",
            gloop_semaphore_value(st->sem));
out:
  gloop_event_free(st->ev);
  gloop_event_free(st->doomed);
  gloop_semaphore_free(st->sem);
  gloop_lock_free(st->lock);
  gloop_channel_free(st->ch);
  gloop_channel_free(st->rv);
  st->ev = st->doomed = NULL;
  st->sem = NULL;
  st->lock = NULL;
  st->ch = st->rv = NULL;
  return first;
}

/* ======================================================================== */
/* Scenario: cancel                                                          */
/* ======================================================================== */

/* Cancel scopes with deadlines: move_on_after, fail_after, a shield with
 * its own deadline inside a scope whose deadline fires first, a deadline
 * moved after opening, a cancel from another task, and a shield dropped
 * inside a cancelled scope. Times are exact on the mock clock. */

typedef struct can_state {
  scen_common c;
  gloop_scope *target;
  int canceller_done;
} can_state;

/* Closes the scopes still open (innermost last in the array) and returns
 * the first error. */
static int close_scopes(gloop_scope **s, int n, int first) {
  for (int i = n - 1; i >= 0; i--)
    if (s[i]) {
      int rc = gloop_scope_close(s[i]);
      if (rc != GLOOP_ETIMEDOUT) keep(&first, rc);
    }
  return first;
}

static int expect_cancel(int rc, const char *what) {
  if (rc == 0) TEST_FAIL("cancel: %s returned 0 although its scope was cancelled", what);
  return rc == GLOOP_ECANCELED ? 0 : rc;
}

static int can_canceller(void *a) {
  can_state *st = a;
  int rc = gloop_sleep(0.5);
  if (rc) return rc;
  rc = gloop_scope_cancel(st->target);
  st->canceller_done = 1;
  return rc;
}

static int can_main(void *a) {
  can_state *st = a;
  gloop_scope *s[2] = {NULL, NULL};
  int rc;

  /* move_on_after */
  if ((rc = gloop_move_on_after(1.0, &s[0]))) return rc;
  if ((rc = expect_cancel(gloop_sleep(5), "sleep in move_on_after"))) return close_scopes(s, 1, rc);
  if (!gloop_scope_cancelled_caught(s[0])) TEST_FAIL("cancel: move_on_after did not catch");
  if ((rc = gloop_scope_close(s[0]))) return rc;
  if (!same_time(gloop_now(), 1.0)) TEST_FAIL("cancel: move_on_after ended at %g", gloop_now());

  /* fail_after */
  if ((rc = gloop_fail_after(0.5, &s[0]))) return rc;
  if ((rc = expect_cancel(gloop_sleep(1), "sleep in fail_after"))) return close_scopes(s, 1, rc);
  rc = gloop_scope_close(s[0]);
  if (rc == 0) TEST_FAIL("cancel: a fail_after scope whose deadline fired closed with 0");
  if (rc != GLOOP_ETIMEDOUT) return rc;
  if (!same_time(gloop_now(), 1.5)) TEST_FAIL("cancel: fail_after ended at %g", gloop_now());

  /* A shield with its own later deadline inside a scope that fires first. */
  double t = gloop_now();
  s[0] = s[1] = NULL;
  if ((rc = gloop_scope_open(t + 2, 0, &s[0]))) return rc;
  if ((rc = gloop_scope_open(t + 3, GLOOP_SCOPE_SHIELD, &s[1]))) return close_scopes(s, 1, rc);
  if ((rc = expect_cancel(gloop_sleep(10), "sleep in shield"))) return close_scopes(s, 2, rc);
  if (!same_time(gloop_now(), t + 3)) TEST_FAIL("cancel: shield ended at %g", gloop_now());
  if (!gloop_scope_cancelled_caught(s[1]) || !gloop_scope_cancel_called(s[0]))
    TEST_FAIL("cancel: shield caught=%d outer cancel_called=%d", gloop_scope_cancelled_caught(s[1]),
             gloop_scope_cancel_called(s[0]));
  rc = gloop_scope_close(s[1]);
  s[1] = NULL;
  if (rc) return close_scopes(s, 1, rc);
  if ((rc = expect_cancel(gloop_checkpoint(), "checkpoint after shield"))) return close_scopes(s, 1, rc);
  if ((rc = gloop_scope_close(s[0]))) return rc;

  /* A deadline set after opening. */
  t = gloop_now();
  s[0] = s[1] = NULL;
  if ((rc = gloop_scope_open(INFINITY, 0, &s[0]))) return rc;
  if ((rc = gloop_scope_set_deadline(s[0], t + 0.25))) return close_scopes(s, 1, rc);
  if (!same_time(gloop_scope_deadline(s[0]), t + 0.25)) TEST_FAIL("cancel: deadline not moved");
  if ((rc = expect_cancel(gloop_sleep(1), "sleep after set_deadline"))) return close_scopes(s, 1, rc);
  if ((rc = gloop_scope_close(s[0]))) return rc;
  if (!same_time(gloop_now(), t + 0.25)) TEST_FAIL("cancel: set_deadline ended at %g", gloop_now());

  /* A cancel from another task. */
  gloop_nursery *n;
  s[0] = NULL;
  if ((rc = gloop_scope_open(INFINITY, 0, &s[0]))) return rc;
  st->target = s[0];
  if ((rc = gloop_nursery_open(&n))) return close_scopes(s, 1, rc);
  int first = 0;
  if (keep(&first, gloop_nursery_start(n, can_canceller, st, "canceller", NULL)) == 0)
    keep(&first, expect_cancel(gloop_sleep(10), "sleep cancelled by a sibling"));
  else
    gloop_nursery_cancel(n);
  keep(&first, gloop_nursery_close(n));
  if (first) return close_scopes(s, 1, first);
  if (!st->canceller_done || !gloop_scope_cancelled_caught(s[0]))
    TEST_FAIL("cancel: cross-task cancel not seen");
  if ((rc = gloop_scope_close(s[0]))) return rc;

  /* Dropping a shield inside a cancelled scope exposes the cancellation. */
  s[0] = s[1] = NULL;
  if ((rc = gloop_scope_open(INFINITY, 0, &s[0]))) return rc;
  if ((rc = gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &s[1]))) return close_scopes(s, 1, rc);
  if ((rc = gloop_scope_cancel(s[0]))) return close_scopes(s, 2, rc);
  if ((rc = gloop_checkpoint())) return close_scopes(s, 2, rc);
  if ((rc = gloop_scope_set_shield(s[1], 0))) return close_scopes(s, 2, rc);
  if ((rc = expect_cancel(gloop_checkpoint(), "checkpoint after unshield"))) return close_scopes(s, 2, rc);
  rc = close_scopes(s, 2, 0);
  if (rc) return rc;
  if (!same_time(gloop_now(), t + 0.75)) TEST_FAIL("cancel: ended at %g", gloop_now());
  return 0;
}

/* ======================================================================== */
/* Scenario: guest (host-side calls between ticks)                           */
/* ======================================================================== */

/* The host thread acts between ticks: it sets an event the main task waits
 * on, starts a child in the main task's nursery, starts a timer, posts
 * through a token, jumps the mock clock, and finally cancels the main
 * task's scope. Errors of host-side calls are kept and become the result. */

typedef struct gst_state {
  scen_common c;
  gloop_nursery *n;
  gloop_event *ev;
  gloop_scope *sc;
  gloop_token *tok;
  gloop_timer *tm;
  int phase;
  int host_rc;
  int hosted_ran, timer_fired, posts_run;
  int posts_accepted;
} gst_state;

static int gst_hosted(void *a) {
  gst_state *st = a;
  int rc = gloop_checkpoint();
  if (rc) return rc;
  st->hosted_ran++;
  return 0;
}

static void gst_timer_cb(void *a) { ((gst_state *)a)->timer_fired++; }
static void gst_post_cb(void *a) { ((gst_state *)a)->posts_run++; }

static void gst_between(void *a) {
  gst_state *st = a;
  if (!gloop_in_run()) return;
  switch (st->phase) {
    case 1:
      st->phase = 101;
      keep(&st->host_rc, gloop_event_set(st->ev));
      break;
    case 2:
      st->phase = 102;
      keep(&st->host_rc, gloop_nursery_start(st->n, gst_hosted, st, "hosted", NULL));
      keep(&st->host_rc, gloop_timer_start(st->tm, 0.5, gst_timer_cb, st));
      for (int i = 0; i < 2; i++)
        if (keep(&st->host_rc, gloop_token_post(st->tok, gst_post_cb, st)) == 0) st->posts_accepted++;
      keep(&st->host_rc, gloop_mock_clock_jump(st->c.clock, 0.1));
      break;
    case 3:
      st->phase = 103;
      keep(&st->host_rc, gloop_scope_cancel(st->sc));
      break;
    default:
      break;
  }
}

static int gst_main(void *a) {
  gst_state *st = a;
  int first = 0;
  if (keep(&first, gloop_token_new(&st->tok)) || keep(&first, gloop_event_new(&st->ev)) ||
      keep(&first, gloop_timer_new(&st->tm)))
    goto out;
  if (keep(&first, gloop_nursery_open(&st->n))) goto out;
  if (keep(&first, gloop_scope_open(INFINITY, 0, &st->sc)) == 0) {
    st->phase = 1;
    if (keep(&first, gloop_event_wait(st->ev)) == 0) {
      double t0 = gloop_now();
      st->phase = 2;
      if (keep(&first, gloop_sleep(1.0)) == 0) {
        if (!same_time(gloop_now(), t0 + 1.0)) TEST_FAIL("guest: sleep ended at %g", gloop_now());
        st->phase = 3;
        int rc = gloop_sleep_forever();
        if (rc != GLOOP_ECANCELED) keep(&first, rc ? rc : GLOOP_EINTERNAL);
      }
    }
    keep(&first, gloop_scope_close(st->sc));
  }
  st->phase = 0;
  keep(&first, gloop_nursery_close(st->n));
  st->n = NULL;
  if (first == 0 && st->host_rc) first = st->host_rc;
  if (first) goto out;
  if (st->hosted_ran != 1 || st->timer_fired != 1 || st->posts_run != 2)
    TEST_FAIL("guest: hosted child ran %d, timer fired %d, posts run %d", st->hosted_ran,
             st->timer_fired, st->posts_run);
out:
  st->phase = 0;
  gloop_event_free(st->ev);
  gloop_timer_free(st->tm);
  st->ev = NULL;
  st->tm = NULL;
  return first;
}

static void gst_finish(void *a) {
  gst_state *st = a;
  if (st->tok) {
    /* The run has ended: the token refuses posts but stays valid to free. */
    REL_CHECK_ERR(gloop_token_post(st->tok, gst_post_cb, st), GLOOP_ENORUN);
    gloop_token_free(st->tok);
    st->tok = NULL;
  }
  if (st->posts_run != st->posts_accepted)
    TEST_FAIL("guest: %d posts accepted but %d ran", st->posts_accepted, st->posts_run);
}

/* ======================================================================== */
/* Scenario: abandon                                                         */
/* ======================================================================== */

/* A guest run abandoned by its host while tasks wait on an event, sleep
 * forever and wait for a worker thread. The host calls gloop_abandon_run()
 * once the main task reports it is ready; done_cb must never run. */

typedef struct abd_state {
  scen_common c;
  gloop_event *ev;
} abd_state;

static void *abd_work(void *a) {
  test_real_sleep(0.002);
  return a;
}

static int abd_event_waiter(void *a) { return gloop_event_wait(((abd_state *)a)->ev); }
static int abd_forever(void *a) {
  (void)a;
  return gloop_sleep_forever();
}
static int abd_worker(void *a) {
  for (;;) {
    void *r = NULL;
    int rc = gloop_to_thread(abd_work, a, 0, &r);
    if (rc) return rc;
  }
}

static int abd_main(void *a) {
  abd_state *st = a;
  gloop_nursery *n;
  int first = 0;
  int rc = gloop_event_new(&st->ev);
  if (rc) return rc;
  if ((rc = gloop_nursery_open(&n))) return rc;
  static const gloop_task_fn kids[] = {abd_event_waiter, abd_forever, abd_worker};
  for (size_t i = 0; i < 3 && !first; i++) keep(&first, gloop_nursery_start(n, kids[i], st, NULL, NULL));
  if (first == 0 && keep(&first, gloop_sleep(0.1)) == 0) {
    st->c.ready = 1;
    keep(&first, gloop_sleep_forever());
  }
  gloop_nursery_cancel(n);
  keep(&first, gloop_nursery_close(n));
  return first;
}

static void abd_finish(void *a) {
  abd_state *st = a;
  gloop_event_free(st->ev);
  st->ev = NULL;
}

/* ======================================================================== */
/* Scenario: threads                                                         */
/* ======================================================================== */

/* gloop_to_thread() (plain, abandoned on cancel, and cancelled but waited
 * for), and a worker that posts through a token, calls into the run and
 * starts a system task. */

typedef struct thr_state {
  scen_common c;
  gloop_token *tok;
  gloop_event *sys_ran;
  int posts_accepted, posts_run;
  int call_rc, start_rc, first_post_err;
  void *call_result;
  int sys_runs;
} thr_state;

static void *thr_double(void *a) { return (void *)((uintptr_t)a * 2); }

/* A job that returns only once the task side lets it (bounded, so a broken
 * run cannot hang the test). It used to sleep 3 ms and rely on the run's
 * mock clock jumping to the scope's deadline first, which a loaded machine
 * did not always do. */
static atomic_int thr_release[2]; /* one flag per job, so neither can hold the other */
static void *thr_blocked(atomic_int *release, void *result) {
  double limit = test_real_now() + test_limit(10.0);
  while (!atomic_load(release) && test_real_now() < limit) test_real_sleep(0.0005);
  return result;
}
static void *thr_slow_abandoned(void *a) { return thr_blocked(&thr_release[0], a); }
static void *thr_slow_waited(void *a) { return thr_blocked(&thr_release[1], a); }
static void thr_release_cb(void *a) {
  (void)a;
  atomic_store(&thr_release[1], 1);
}

static void thr_post_cb(void *a) { ((thr_state *)a)->posts_run++; }

static void *thr_call_fn(void *a) {
  (void)a;
  return (void *)(uintptr_t)7;
}

static int thr_sys(void *a) {
  thr_state *st = a;
  st->sys_runs++;
  return gloop_event_set(st->sys_ran);
}

/* Runs on a worker thread. */
static void *thr_poster(void *a) {
  thr_state *st = a;
  for (int i = 0; i < 5; i++) {
    int rc = gloop_token_post(st->tok, thr_post_cb, st);
    if (rc == 0)
      st->posts_accepted++;
    else if (st->first_post_err == 0)
      st->first_post_err = rc;
  }
  st->call_rc = gloop_token_call(st->tok, thr_call_fn, st, &st->call_result);
  st->start_rc = gloop_token_start(st->tok, thr_sys, st, "sys");
  return NULL;
}

static int thr_main(void *a) {
  thr_state *st = a;
  gloop_scope *s = NULL;
  int first = 0;
  void *r;
  if (keep(&first, gloop_token_new(&st->tok)) || keep(&first, gloop_event_new(&st->sys_ran))) goto out;
  for (uintptr_t i = 1; i <= 3; i++) {
    r = NULL;
    if (keep(&first, gloop_to_thread(thr_double, (void *)i, 0, &r))) goto out;
    if ((uintptr_t)r != 2 * i) TEST_FAIL("threads: to_thread returned %p for %u", r, (unsigned)i);
  }

  /* Abandoned on cancel: the wait ends at the deadline, the worker finishes
   * on its own. */
  atomic_store(&thr_release[0], 0);
  if (keep(&first, gloop_move_on_after(0.5, &s))) goto out;
  int rc = gloop_to_thread(thr_slow_abandoned, st, GLOOP_THREAD_ABANDON_ON_CANCEL, &r);
  keep(&first, gloop_scope_close(s));
  atomic_store(&thr_release[0], 1);
  if (rc != GLOOP_ECANCELED) keep(&first, rc ? rc : GLOOP_EINTERNAL);
  if (first) goto out;

  /* Not abandoned: cancellation is noticed after the function returned,
   * and its result is still stored. */
  atomic_store(&thr_release[1], 0);
  if (keep(&first, gloop_move_on_after(0.5, &s))) goto out;
  /* The job is let go at the same clock time as the deadline, by a timer
   * started after the scope, so it fires after the scope's cancellation. */
  gloop_timer *release = NULL;
  if (keep(&first, gloop_timer_new(&release)) ||
      keep(&first, gloop_timer_start(release, 0.5, thr_release_cb, NULL))) {
    gloop_timer_free(release);
    gloop_scope_close(s);
    goto out;
  }
  r = NULL;
  rc = gloop_to_thread(thr_slow_waited, (void *)(uintptr_t)11, 0, &r);
  gloop_timer_free(release);
  atomic_store(&thr_release[1], 1);
  keep(&first, gloop_scope_close(s));
  if (rc != GLOOP_ECANCELED) keep(&first, rc ? rc : GLOOP_EINTERNAL);
  if (first) goto out;
  if ((uintptr_t)r != 11) TEST_FAIL("threads: the waited-for result was not stored (%p)", r);

  /* Posts, a call and a system-task start from a worker. Posts and the
   * worker's completion share one FIFO, so the posts have run by the time
   * this task resumes. */
  if (keep(&first, gloop_to_thread(thr_poster, st, 0, NULL))) goto out;
  if (keep(&first, st->first_post_err) || keep(&first, st->call_rc) || keep(&first, st->start_rc))
    goto out;
  if (st->posts_run != st->posts_accepted || st->posts_accepted != 5)
    TEST_FAIL("threads: %d posts accepted, %d ran before the worker's completion",
             st->posts_accepted, st->posts_run);
  if ((uintptr_t)st->call_result != 7) TEST_FAIL("threads: token_call result %p", st->call_result);
  if (keep(&first, gloop_move_on_after(10.0, &s))) goto out;
  rc = gloop_event_wait(st->sys_ran);
  /* Only this scope's own deadline means the system task was lost; a
   * cancellation from above (the run was cancelled because a system task
   * could not be started) is a reported failure. */
  if (rc == GLOOP_ECANCELED && gloop_scope_cancelled_caught(s))
    TEST_FAIL("threads: gloop_token_start() returned 0 but the system task never ran");
  keep(&first, gloop_scope_close(s));
  if (keep(&first, rc)) goto out;
  if (st->sys_runs != 1) TEST_FAIL("threads: system task ran %d times", st->sys_runs);
out:
  return first;
}

static void thr_finish(void *a) {
  thr_state *st = a;
  if (st->tok) {
    REL_CHECK_ERR(gloop_token_post(st->tok, thr_post_cb, st), GLOOP_ENORUN);
    gloop_token_free(st->tok);
  }
  gloop_event_free(st->sys_ran);
  st->tok = NULL;
  st->sys_ran = NULL;
  if (st->posts_run != st->posts_accepted)
    TEST_FAIL("threads: %d posts accepted but %d ran", st->posts_accepted, st->posts_run);
}

/* ======================================================================== */
/* Scenario: fd                                                              */
/* ======================================================================== */

/* A socketpair stream larger than the socket buffers (the writer must wait
 * for writability), a readability wait that times out, and a wait ended by
 * gloop_notify_closing(). */

#define FD_BYTES (256 * 1024)

typedef struct fd_state {
  scen_common c;
  int data[2], quiet[2], closing[2];
  unsigned char out[FD_BYTES];
  long received;
  int corrupt;
  int closing_rc;
} fd_state;

static int fd_reader(void *a) {
  fd_state *st = a;
  unsigned char buf[4096];
  for (;;) {
    long n = gloop_read_some(st->data[0], buf, sizeof buf);
    if (n < 0) return (int)n;
    if (n == 0) return 0;
    for (long i = 0; i < n; i++)
      if (buf[i] != (unsigned char)((st->received + i) * 7)) st->corrupt++;
    st->received += n;
  }
}

static int fd_writer(void *a) {
  fd_state *st = a;
  size_t written = 0;
  int rc = gloop_write_all(st->data[1], st->out, FD_BYTES, &written);
  if (rc) return rc;
  if (written != FD_BYTES) TEST_FAIL("fd: write_all wrote %zu bytes and returned 0", written);
  rc = gloop_notify_closing(st->data[1]);
  if (rc) return rc;
  close(st->data[1]);
  st->data[1] = -1;
  return 0;
}

static int fd_closing_waiter(void *a) {
  fd_state *st = a;
  int rc = gloop_wait_readable(st->closing[0]);
  st->closing_rc = rc;
  return rc == GLOOP_ECLOSING ? 0 : rc;
}

static int fd_main(void *a) {
  fd_state *st = a;
  gloop_nursery *n;
  gloop_scope *s;
  int first = 0;
  int rc = gloop_nursery_open(&n);
  if (rc) return rc;
  static const gloop_task_fn kids[] = {fd_reader, fd_writer, fd_closing_waiter};
  for (size_t i = 0; i < 3 && !first; i++) keep(&first, gloop_nursery_start(n, kids[i], st, NULL, NULL));
  if (first == 0 && keep(&first, gloop_move_on_after(1.0, &s)) == 0) {
    rc = gloop_wait_readable(st->quiet[0]);
    keep(&first, gloop_scope_close(s));
    if (rc == 0) TEST_FAIL("fd: nothing was written, yet the quiet socket was readable");
    if (rc != GLOOP_ECANCELED) keep(&first, rc);
    if (first == 0) keep(&first, gloop_notify_closing(st->closing[0]));
  }
  if (first) gloop_nursery_cancel(n);
  keep(&first, gloop_nursery_close(n));
  if (first) return first;
  if (st->received != FD_BYTES || st->corrupt)
    TEST_FAIL("fd: received %ld of %d bytes, %d corrupt", st->received, FD_BYTES, st->corrupt);
  if (st->closing_rc != GLOOP_ECLOSING)
    TEST_FAIL("fd: the closing wait ended with %s", gloop_err_name(st->closing_rc));
  if (!same_time(gloop_now(), 1.0)) TEST_FAIL("fd: ended at t=%g", gloop_now());
  return 0;
}

static void fd_prepare(void *a) {
  fd_state *st = a;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st->data) != 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st->quiet) != 0 ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st->closing) != 0)
    TEST_FAIL("socketpair: %s", strerror(errno));
  for (int i = 0; i < FD_BYTES; i++) st->out[i] = (unsigned char)(i * 7);
}

static void fd_finish(void *a) {
  fd_state *st = a;
  int *fds[] = {st->data, st->quiet, st->closing};
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++)
      if (fds[i][j] >= 0) close(fds[i][j]);
}

/* ======================================================================== */
/* The sweep                                                                 */
/* ======================================================================== */

static const scenario scenarios[] = {
    /* name, main, state, modes, persistent sweep, abandon, threaded, hooks */
    {"nursery", nur_main, sizeof(nur_state), MODE_STANDALONE | MODE_GUEST, 1, 0, 0, NULL, NULL, NULL},
    {"timers", tim_main, sizeof(tim_state), MODE_STANDALONE | MODE_GUEST, 0, 0, 0, NULL, NULL, NULL},
    {"sync", sync_main, sizeof(sync_state), MODE_STANDALONE | MODE_GUEST, 1, 0, 0, NULL, NULL, NULL},
    {"cancel", can_main, sizeof(can_state), MODE_STANDALONE | MODE_GUEST, 1, 0, 0, NULL, NULL, NULL},
    {"guest", gst_main, sizeof(gst_state), MODE_GUEST, 1, 0, 1, NULL, gst_finish, gst_between},
    {"abandon", abd_main, sizeof(abd_state), MODE_GUEST, 1, 1, 1, NULL, abd_finish, NULL},
    {"threads", thr_main, sizeof(thr_state), MODE_STANDALONE | MODE_GUEST, 1, 0, 1, NULL, thr_finish,
     NULL},
    {"fd", fd_main, sizeof(fd_state), MODE_STANDALONE | MODE_GUEST, 0, 0, 0, fd_prepare, fd_finish,
     NULL},
};
#define NSCEN (sizeof scenarios / sizeof scenarios[0])

static const struct {
  int kind;
  const char *name;
} kinds[] = {{GLOOP_FAULT_MEMORY, "memory"},
             {GLOOP_FAULT_STACK, "stack"},
             {GLOOP_FAULT_THREAD, "thread"},
             {GLOOP_FAULT_FD, "fd"}};

typedef struct baseline {
  int fds;
  int threads;
  long heap;
} baseline;

static rel_alloc counting;

/* The standalone run's done callback. */
static struct {
  int calls;
  int status;
  int message_null;
} sa_done;

static void sa_done_cb(const gloop_outcome *o, void *data) {
  (void)data;
  sa_done.calls++;
  sa_done.status = o->status;
  sa_done.message_null = o->message == NULL;
}

typedef struct run_result {
  int started;     /* the run started (done_cb was due) */
  int status;      /* the start error, or the run's outcome */
  int abandoned;   /* the abandon point was reached and the run abandoned */
  int degraded;
  long counted;    /* acquisitions counted while injection was armed */
} run_result;

/* One run of a scenario; injection (n, kinds, persistent) is armed just
 * before the run starts and disarmed after it ended. n < 0: no injection. */
static run_result run_once(const scenario *sc, int guest, long n, int kind, int persistent) {
  run_result res = {0, 0, 0, 0, 0};
  void *st = calloc(1, sc->state_size);
  if (st == NULL) TEST_FAIL("out of memory");
  scen_common *c = st;
  c->guest = guest;
  if (sc->prepare) sc->prepare(st);
  REL_CHECK_OK(gloop_mock_clock_new(0.0, 0.0, &c->clock));

  gloop_options o;
  gloop_options_init(&o);
  o.clock = c->clock;
  o.realloc_fn = rel_realloc;
  o.realloc_ud = &counting;
  o.stack_size = REL_STACK;
  o.thread_idle_timeout = 0.05;
  rel_alloc_reset(&counting);
  memset(&sa_done, 0, sizeof sa_done);

  if (n >= 0) gloop_fault_inject(n, kind, persistent);
  if (!guest) {
    int rc = gloop_run(sc->main, st, &o, sa_done_cb, NULL);
    res.counted = gloop_fault_count();
    gloop_fault_inject(-1, 0, 0);
    if (sa_done.calls > 1) TEST_FAIL("done_cb ran %d times", sa_done.calls);
    if (sa_done.calls == 1) {
      res.started = 1;
      if (sa_done.message_null) TEST_FAIL("the outcome message was NULL");
      if (sa_done.status != rc)
        TEST_FAIL("gloop_run returned %d but the outcome said %d", rc, sa_done.status);
    } else if (rc >= 0) {
      TEST_FAIL("gloop_run returned %d without calling done_cb", rc);
    }
    res.status = rc;
  } else {
    host_toy_init();
    if (sc->between) host_toy_set_between(sc->between, st);
    int rc = host_toy_start(sc->main, st, &o, 0);
    if (rc) {
      res.counted = gloop_fault_count();
      gloop_fault_inject(-1, 0, 0);
      if (rc > 0) TEST_FAIL("start returned a positive value %d", rc);
      if (host_toy_queued() != 0) TEST_FAIL("a failed start posted a callback");
      if (gloop_in_run()) TEST_FAIL("a failed start left a live run");
      res.status = rc;
    } else {
      res.started = 1;
      double limit = test_real_now() + test_limit(10.0);
      for (;;) {
        host_toy_stats out = host_toy_get_stats();
        if (out.done_calls) break;
        if (sc->abandon && c->ready) {
          /* Acquisitions from here on belong to the abandon itself, which
           * has nobody to report to: they must only leak nothing. */
          res.counted = gloop_fault_count();
          REL_CHECK_OK(gloop_abandon_run());
          res.abandoned = 1;
          break;
        }
        if (test_real_now() > limit) TEST_FAIL("the guest run did not finish within 10 s");
        host_toy_step(0.05);
      }
      /* Ticks already posted by an abandoned run must be harmless no-ops. */
      host_toy_drain();
      if (!res.abandoned) res.counted = gloop_fault_count();
      gloop_fault_inject(-1, 0, 0);
      host_toy_stats out = host_toy_get_stats();
      if (res.abandoned) {
        if (out.done_calls != 0) TEST_FAIL("done_cb ran after gloop_abandon_run()");
        if (gloop_in_run()) TEST_FAIL("the abandoned run is still live");
        res.status = 0;
      } else {
        if (out.done_calls != 1) TEST_FAIL("done_cb ran %d times", out.done_calls);
        if (out.done_in_task || out.done_off_host) TEST_FAIL("done_cb ran in a task or off the host");
        res.status = out.done_status;
      }
    }
  }
  if (sc->finish) sc->finish(st);
  REL_CHECK_OK(gloop_clock_free(c->clock));
  res.degraded = c->degraded;
  free(st);
  return res;
}

/* Waits up to 3 s for a count to come back (worker threads end on their
 * own after the run) and fails if it does not. With at_most, fewer than
 * before is fine too: a thread counted in the baseline (an earlier case's
 * worker, or an emulator's own) may have ended since, and that is no leak. */
static void settle(const char *what, long want, long (*probe)(void), int at_most) {
  double limit = test_real_now() + test_limit(3.0);
  long got;
  while ((got = probe()) != want && !(at_most && got < want)) {
    if (test_real_now() > limit) TEST_FAIL("leak: %s is %ld after the run, %ld before", what, got, want);
    test_real_sleep(0.001);
  }
}

static long probe_threads(void) { return rel_count_threads(); }
static long probe_fds(void) { return rel_count_fds(); }

static void *nothing(void *a) { return a; }

/* The C library keeps the stacks of exited threads, with a little heap
 * memory each (their TLS vectors), until a later thread operation frees
 * them; with the stack cache turned off (GLIBC_TUNABLES in CMakeLists.txt),
 * creating and joining one more thread frees every stack whose thread has
 * fully exited. Without that, the heap count would depend on how the
 * worker threads' exits interleaved with the measurement. */
static long probe_heap(void) {
  pthread_t th;
  if (pthread_create(&th, NULL, nothing, NULL) == 0) pthread_join(th, NULL);
  return rel_heap_in_use();
}

static void check_clean(const baseline *b) {
  long blocks = atomic_load(&counting.live_blocks), bytes = atomic_load(&counting.live_bytes);
  if (blocks != 0 || bytes != 0)
    TEST_FAIL("leak: %ld block(s), %ld byte(s) of run memory still allocated", blocks, bytes);
  /* Stacks a run gave back to the process-wide cache are kept on purpose;
   * once the cache is emptied, any stack mapping left is a leak. */
  REL_CHECK_OK(gloop_stack_cache_release());
  /* A worker job still running when its run was abandoned holds the
   * waiting task's stack and the run's wake-up fd until it returns. */
  if (rel_count_maps_of_size(REL_STACK) != 0) {
    double limit = test_real_now() + test_limit(3.0);
    while (rel_count_maps_of_size(REL_STACK) != 0 && test_real_now() < limit) test_real_sleep(0.001);
  }
  int stacks = rel_count_maps_of_size(REL_STACK);
  if (stacks != 0) rel_print_maps_of_size(REL_STACK);
  if (stacks != 0) TEST_FAIL("leak: %d task stack mapping(s) still mapped", stacks);
  settle("the number of open fds", b->fds, probe_fds, 0);
  settle("the thread count", b->threads, probe_threads, 1);
  if (b->heap >= 0) settle("the C heap in use (bytes)", b->heap, probe_heap, 0);
}

static void normal_run(const scenario *sc, int guest, const baseline *b) {
  run_result r = run_once(sc, guest, -1, 0, 0);
  if (r.status != 0 || !r.started || r.degraded)
    TEST_FAIL("a normal run did not succeed: %s (%d)%s", gloop_err_name(r.status), r.status,
             r.degraded ? ", degraded" : "");
  if (sc->abandon && !r.abandoned) TEST_FAIL("a normal run did not reach the abandon point");
  check_clean(b);
}

/* Outcome statistics of one sweep. */
typedef struct tally {
  long points;
  long by_code[8];
  const char *code_names[8];
  int codes[8];
  int ncodes;
  long absorbed;
  long degraded;
  char absorbed_list[160];
} tally;

static void tally_code(tally *t, int code) {
  for (int i = 0; i < t->ncodes; i++)
    if (t->codes[i] == code) {
      t->by_code[i]++;
      return;
    }
  if (t->ncodes < 8) {
    t->codes[t->ncodes] = code;
    t->code_names[t->ncodes] = gloop_err_name(code);
    t->by_code[t->ncodes++] = 1;
  }
}

static void tally_print(const char *scen, const char *mode, const char *what, const tally *t) {
  printf("  %-8s %-10s %-18s %4ld point(s):", scen, mode, what, t->points);
  for (int i = 0; i < t->ncodes; i++) printf(" %s x%ld", t->code_names[i], t->by_code[i]);
  if (t->degraded) printf(" degraded(message) x%ld", t->degraded);
  if (t->absorbed) printf(" absorbed x%ld [N=%s]", t->absorbed, t->absorbed_list);
  printf("\n");
  fflush(stdout);
}

/* Codes an injected failure may surface as. ECANCELED is what the main
 * task sees when the failure happened in a system task (the run's outcome
 * is then the main task's status, as documented for system tasks). */
static int allowed_code(int kind, int code) {
  if (code == GLOOP_ENOMEM || code == GLOOP_ECANCELED) return 1;
  if ((kind & GLOOP_FAULT_FD) && code == GLOOP_EMFILE) return 1;
  return 0;
}

static void sweep(const scenario *sc, int guest, const baseline *b, int kind, const char *kname,
                  int persistent) {
  const char *mode = guest ? "guest" : "standalone";
  test_label("%s/%s/%s%s: counting", sc->name, mode, kname, persistent ? "/persistent" : "");
  test_watchdog(30);
  run_result base = run_once(sc, guest, LONG_MAX, kind, 0);
  if (base.status != 0) TEST_FAIL("the counting run failed: %s", gloop_err_name(base.status));
  check_clean(b);
  tally t;
  memset(&t, 0, sizeof t);
  /* Worker threads make the count vary a little from run to run; keep going
   * until a run no longer reaches the armed acquisition. */
  for (long n = 0;; n++) {
    test_label("%s/%s/%s%s: N=%ld", sc->name, mode, kname, persistent ? "/persistent" : "", n);
    test_watchdog(30);
    run_result r = run_once(sc, guest, n, kind, persistent);
    int injected = r.counted > n;
    check_clean(b);
    if (!injected) {
      if (r.status != 0 || r.degraded)
        TEST_FAIL("no acquisition failed, yet the run ended with %s", gloop_err_name(r.status));
      if (n >= base.counted) break;
      continue;
    }
    t.points++;
    if (r.status > 0) TEST_FAIL("the run's outcome is a positive value %d", r.status);
    if (r.status == 0) {
      if (r.degraded) {
        t.degraded++;
      } else {
        size_t len = strlen(t.absorbed_list);
        if (len + 12 < sizeof t.absorbed_list)
          snprintf(t.absorbed_list + len, sizeof t.absorbed_list - len, "%s%ld", len ? "," : "", n);
        t.absorbed++;
      }
    } else if (!allowed_code(kind, r.status)) {
      TEST_FAIL("the failure surfaced as %s (%d), not as an out-of-resources code",
               gloop_err_name(r.status), r.status);
    } else {
      tally_code(&t, r.status);
    }
    /* The library stays usable after the failure. */
    test_label("%s/%s/%s%s: normal run after N=%ld", sc->name, mode, kname,
              persistent ? "/persistent" : "", n);
    normal_run(sc, guest, b);
  }
  test_watchdog(0);
  tally_print(sc->name, mode, persistent ? "all/persistent" : kname, &t);
#ifdef REL_HAVE_LSAN_IFACE
  if (test_under_asan() && __lsan_do_recoverable_leak_check() != 0)
    TEST_FAIL("LeakSanitizer found leaks after this sweep (see above)");
#endif
}

static int run_scenario(const scenario *sc) {
  /* ThreadSanitizer is for the scenarios whose point is cross-thread
   * traffic. It also cannot follow task switches (the library does not
   * announce them as fibers), so its shadow call stack only grows, and the
   * long single-threaded sweeps would overflow it. */
  if (test_under_tsan() && !sc->threaded) {
    printf("SKIP %s: single-threaded scenario, not run under ThreadSanitizer\n", sc->name);
    return TEST_SKIP_CODE;
  }
  printf("scenario %s\n", sc->name);
  for (int guest = 0; guest <= 1; guest++) {
    if (!(sc->modes & (guest ? MODE_GUEST : MODE_STANDALONE))) continue;
    test_label("%s/%s: warm-up", sc->name, guest ? "guest" : "standalone");
    test_watchdog(30);
    /* Warm-up runs let the C library set up what it keeps for the life of
     * the process (stdio buffers, thread arenas) before the baseline. */
    baseline b = {0, 0, -1};
    b.fds = rel_count_fds();
    int threads_before = rel_count_threads();
    for (int i = 0; i < 2; i++) {
      run_result r = run_once(sc, guest, -1, 0, 0);
      if (r.status != 0) TEST_FAIL("the warm-up run failed: %s", gloop_err_name(r.status));
    }
    /* Worker threads end on their own soon after the run, and the heap is
     * measured only once they have. probe_heap() creates a thread, which
     * also makes ThreadSanitizer start a background thread of its own for
     * good, so the thread count is taken after it. */
    int slack = test_under_tsan() ? 1 : 0;
    double limit = test_real_now() + test_limit(3.0);
    while (rel_count_threads() > threads_before + slack && test_real_now() < limit)
      test_real_sleep(0.001);
    b.heap = probe_heap();
    /* A joined thread can linger in /proc for a moment. */
    limit = test_real_now() + test_limit(3.0);
    while (rel_count_threads() > threads_before + slack && test_real_now() < limit)
      test_real_sleep(0.001);
    b.threads = rel_count_threads();
    normal_run(sc, guest, &b);
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
      sweep(sc, guest, &b, kinds[k].kind, kinds[k].name, 0);
    if (sc->persistent) sweep(sc, guest, &b, GLOOP_FAULT_ALL, "all", 1);
  }
  return 0;
}

/* Runs a single injection point, to reproduce one failure (under a
 * debugger, break where the core's fault hook returns nonzero). */
static int run_point(char **argv, int persistent) {
  const scenario *sc = NULL;
  for (size_t i = 0; i < NSCEN; i++)
    if (strcmp(argv[1], scenarios[i].name) == 0) sc = &scenarios[i];
  int guest = strcmp(argv[2], "guest") == 0;
  int kind = 0;
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
    if (strcmp(argv[3], kinds[k].name) == 0) kind = kinds[k].kind;
  if (strcmp(argv[3], "all") == 0) kind = GLOOP_FAULT_ALL;
  long n = strtol(argv[4], NULL, 10);
  if (sc == NULL || kind == 0 || n < 0 || (!guest && strcmp(argv[2], "standalone") != 0)) {
    fprintf(stderr, "bad scenario, mode, kind or N\n");
    return 2;
  }
  test_label("%s/%s/%s%s: N=%ld", sc->name, argv[2], argv[3], persistent ? "/persistent" : "", n);
  test_watchdog(30);
  run_result r = run_once(sc, guest, n, kind, persistent);
  printf("%s: counted %ld acquisition(s), outcome %s (%d)%s%s\n", test_label_get(), r.counted,
         gloop_err_name(r.status), r.status, r.degraded ? ", degraded" : "",
         r.abandoned ? ", abandoned" : "");
  return 0;
}

/* The case named after a scenario runs its sweeps; with the words
 * "standalone|guest memory|stack|thread|fd|all <N> [persistent]" after the
 * name it runs that single injection point instead. */
static int fault_case(void) {
  int nargs;
  char **args = gloop_test_args(&nargs);
  for (size_t i = 0; i < NSCEN; i++) {
    if (strcmp(gloop_test_current(), scenarios[i].name) != 0) continue;
    if (nargs == 0) return run_scenario(&scenarios[i]);
    if (nargs == 3 || (nargs == 4 && strcmp(args[3], "persistent") == 0)) {
      char *point[5] = {NULL, args[-1], args[0], args[1], args[2]};
      return run_point(point, nargs == 4);
    }
    TEST_FAIL("usage: <scenario> [standalone|guest memory|stack|thread|fd|all <N> [persistent]]");
  }
  TEST_FAIL("no scenario named %s in the sweep's table", gloop_test_current());
}

static const gloop_test_case cases[] = {
#define GLOOP_TEST(name) {#name, fault_case},
#include "fault-list.h"
#undef GLOOP_TEST
};

int main(int argc, char **argv) { return GLOOP_TEST_MAIN(argc, argv, cases); }
