/* host_toy.c - the toy host loop: a locked FIFO of guest callbacks, host-side calls between ticks, and contract checks. */
#include "host_toy.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

typedef struct toy_item {
  gloop_callback_fn fn;
  void *arg;
  int threadsafe;
  struct toy_item *next;
} toy_item;

/* A host-side call: due when the real clock passes `due` (timed calls) or
 * when callbacks_run reaches `after` (counted calls). */
typedef struct toy_call {
  int used;
  int counted;
  double due;
  unsigned long after;
  gloop_callback_fn fn;
  void *arg;
} toy_call;

#define TOY_MAX_CALLS 32
/* Callbacks whose post kind is remembered, by sequence number. */
#define TOY_KIND_LOG 4096

/* Everything below `mu` is guarded by it, because the posts arrive from the
 * guest's helper thread as well as from the host thread. `calls` and
 * `host` are touched only on the host thread. */
static struct {
  int ready;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  toy_item *head, *tail;
  int nts_given;
  int finished;
  host_toy_stats stats;
  signed char kinds[TOY_KIND_LOG]; /* 1 threadsafe, 0 not, by callback seq */

  unsigned long queued;

  pthread_t host;
  toy_call calls[TOY_MAX_CALLS];
  void (*between)(void *arg);
  void *between_arg;
} toy;

/* GLOOP_TOY_TRACE=1 in the environment prints every post and every callback
 * run, with real-time stamps, to stderr: the first thing to look at when a
 * case about post counts fails. */
static int trace_on = -1;
static double trace_t0;

static void trace(const char *what, unsigned long seq) {
  if (trace_on < 0) {
    const char *e = getenv("GLOOP_TOY_TRACE");
    trace_on = e != NULL && *e != '\0' && *e != '0';
    trace_t0 = test_real_now();
  }
  if (trace_on)
    fprintf(stderr, "toy %9.6f %-22s seq=%lu\n", test_real_now() - trace_t0, what, seq);
}

static void toy_lock(void) { pthread_mutex_lock(&toy.mu); }
static void toy_unlock(void) { pthread_mutex_unlock(&toy.mu); }

static void toy_once(void) {
  pthread_condattr_t ca;
  if (toy.ready) return;
  pthread_mutex_init(&toy.mu, NULL);
  pthread_condattr_init(&ca);
  /* Waits are measured on the monotonic clock so a wall-clock step cannot
   * stretch or cut the safety timeout. */
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&toy.cv, &ca);
  pthread_condattr_destroy(&ca);
  toy.ready = 1;
}

int host_toy_on_host_thread(void) { return toy.ready && pthread_equal(pthread_self(), toy.host); }

static void require_host_thread(const char *what) {
  if (!host_toy_on_host_thread())
    TEST_FAIL("host_toy: %s must be called on the host thread", what);
}

void host_toy_init(void) {
  toy_once();
  toy_lock();
  if (toy.head != NULL) {
    toy_unlock();
    TEST_FAIL("host_toy_init: callbacks from an earlier run are still queued");
  }
  memset(&toy.stats, 0, sizeof toy.stats);
  memset(toy.kinds, -1, sizeof toy.kinds);
  toy.nts_given = 0;
  toy.finished = 0;
  toy.host = pthread_self();
  toy_unlock();
  memset(toy.calls, 0, sizeof toy.calls);
  toy.between = NULL;
  toy.between_arg = NULL;
}

void host_toy_fini(void) {
  int left;
  require_host_thread("host_toy_fini");
  toy_lock();
  left = toy.head != NULL;
  toy.finished = 1;
  toy_unlock();
  if (left) TEST_FAIL("host_toy_fini: guest callbacks are still queued");
  memset(toy.calls, 0, sizeof toy.calls);
}

void host_toy_expect_not_threadsafe(int given) {
  toy_lock();
  toy.nts_given = given;
  toy_unlock();
}

int host_toy_start(gloop_task_fn entry, void *arg, const gloop_options *opts,
                   int use_not_threadsafe) {
  gloop_options o;
  require_host_thread("host_toy_start");
  if (opts)
    o = *opts;
  else
    gloop_options_init(&o);
  o.run_sync_soon_not_threadsafe = use_not_threadsafe ? host_toy_post_not_threadsafe : NULL;
  host_toy_expect_not_threadsafe(use_not_threadsafe);
  return gloop_start_guest_run_ex(entry, arg, host_toy_post_threadsafe, host_toy_done,
                                  HOST_TOY_DATA, &o);
}

static void enqueue(gloop_callback_fn fn, void *fn_arg, void *host_data, int threadsafe) {
  int on_host = host_toy_on_host_thread();
  toy_item *it;
  if (fn == NULL) TEST_FAIL("host_toy: the guest posted a NULL callback");
  it = malloc(sizeof *it);
  if (it == NULL) TEST_FAIL("host_toy: out of memory");
  it->fn = fn;
  it->arg = fn_arg;
  it->threadsafe = threadsafe;
  it->next = NULL;

  toy_lock();
  if (toy.finished) {
    toy_unlock();
    free(it);
    TEST_FAIL("host_toy: a callback was posted after the host shut down");
  }
  if (threadsafe) {
    toy.stats.threadsafe_posts++;
    if (on_host) toy.stats.threadsafe_on_host++;
    if (on_host && toy.nts_given) {
      toy_unlock();
      free(it);
      TEST_FAIL("host_toy: threadsafe post called on the host thread although the run has a "
                "not-threadsafe post");
    }
  } else {
    toy.stats.not_threadsafe_posts++;
    if (!on_host) {
      toy_unlock();
      free(it);
      TEST_FAIL("host_toy: not-threadsafe post called from a thread other than the host's");
    }
  }
  if (toy.stats.done_calls > 0) toy.stats.posts_after_done++;
  trace(threadsafe ? (on_host ? "post threadsafe (host)" : "post threadsafe") : "post not-threadsafe",
        toy.stats.callbacks_run);
  toy.stats.post_host_data = host_data;
  if (toy.tail)
    toy.tail->next = it;
  else
    toy.head = it;
  toy.tail = it;
  toy.queued++;
  pthread_cond_signal(&toy.cv);
  toy_unlock();
}

void host_toy_post_threadsafe(gloop_callback_fn fn, void *fn_arg, void *host_data) {
  enqueue(fn, fn_arg, host_data, 1);
}

void host_toy_post_not_threadsafe(gloop_callback_fn fn, void *fn_arg, void *host_data) {
  enqueue(fn, fn_arg, host_data, 0);
}

void host_toy_done(const gloop_outcome *outcome, void *host_data) {
  int off_host = !host_toy_on_host_thread();
  int in_task = gloop_current_task() != NULL;
  if (outcome == NULL) TEST_FAIL("host_toy: done_cb received a NULL outcome");
  toy_lock();
  toy.stats.done_calls++;
  toy.stats.done_off_host += off_host;
  toy.stats.done_in_task += in_task;
  toy.stats.done_status = outcome->status;
  toy.stats.done_message_null = outcome->message == NULL;
  /* The message is valid only during this call, so keep a copy. */
  if (outcome->message) {
    strncpy(toy.stats.done_message, outcome->message, sizeof toy.stats.done_message - 1);
    toy.stats.done_message[sizeof toy.stats.done_message - 1] = '\0';
  } else {
    toy.stats.done_message[0] = '\0';
  }
  toy.stats.done_host_data = host_data;
  toy_unlock();
}

static void add_call(int counted, double delay, unsigned long count, gloop_callback_fn fn,
                     void *arg) {
  require_host_thread("host_toy_call_later/after");
  if (fn == NULL) TEST_FAIL("host_toy: NULL host-side call");
  for (int i = 0; i < TOY_MAX_CALLS; i++) {
    toy_call *c = &toy.calls[i];
    if (c->used) continue;
    c->used = 1;
    c->counted = counted;
    c->fn = fn;
    c->arg = arg;
    if (counted) {
      toy_lock();
      c->after = toy.stats.callbacks_run + count;
      toy_unlock();
    } else {
      c->due = test_real_now() + delay;
    }
    return;
  }
  TEST_FAIL("host_toy: more than %d host-side calls pending", TOY_MAX_CALLS);
}

void host_toy_call_later(double delay, gloop_callback_fn fn, void *arg) {
  add_call(0, delay, 0, fn, arg);
}

void host_toy_call_after(unsigned long count, gloop_callback_fn fn, void *arg) {
  add_call(1, 0.0, count, fn, arg);
}

/* Runs the earliest due host-side call, if any. Returns 1 if one ran. Among
 * due calls, the one scheduled first in slot order runs; each is removed
 * before it runs, so it may schedule further calls. */
static int run_due_call(void) {
  double now = test_real_now();
  unsigned long ran;
  toy_lock();
  ran = toy.stats.callbacks_run;
  toy_unlock();
  for (int i = 0; i < TOY_MAX_CALLS; i++) {
    toy_call *c = &toy.calls[i];
    if (!c->used) continue;
    if (c->counted ? ran >= c->after : now >= c->due) {
      gloop_callback_fn fn = c->fn;
      void *arg = c->arg;
      c->used = 0;
      fn(arg);
      return 1;
    }
  }
  return 0;
}

/* The earliest due time of a pending timed call, or `limit`. */
static double next_call_due(double limit) {
  for (int i = 0; i < TOY_MAX_CALLS; i++)
    if (toy.calls[i].used && !toy.calls[i].counted && toy.calls[i].due < limit)
      limit = toy.calls[i].due;
  return limit;
}

/* Pops and runs one queued guest callback; waits for one until `until` (real
 * time) if `until` is later than now. Returns 1 if one ran. */
static int run_one(double until) {
  toy_item *it;
  toy_lock();
  while (toy.head == NULL) {
    double now = test_real_now();
    struct timespec ts;
    if (now >= until) {
      toy_unlock();
      return 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double wait = until - now;
    ts.tv_sec += (time_t)wait;
    ts.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    int rc = pthread_cond_timedwait(&toy.cv, &toy.mu, &ts);
    if (rc != 0 && rc != ETIMEDOUT) {
      toy_unlock();
      TEST_FAIL("host_toy: pthread_cond_timedwait failed (%d)", rc);
    }
  }
  it = toy.head;
  toy.head = it->next;
  if (toy.head == NULL) toy.tail = NULL;
  toy.queued--;
  toy.stats.callbacks_run++;
  if (toy.stats.callbacks_run < TOY_KIND_LOG)
    toy.kinds[toy.stats.callbacks_run] = (signed char)it->threadsafe;
  trace("run callback", toy.stats.callbacks_run);
  toy_unlock();
  it->fn(it->arg);
  free(it);
  if (toy.between) toy.between(toy.between_arg);
  return 1;
}

int host_toy_step(double wait) {
  require_host_thread("host_toy_step");
  return run_one(wait > 0 ? test_real_now() + wait : 0.0);
}

void host_toy_set_between(void (*fn)(void *arg), void *arg) {
  require_host_thread("host_toy_set_between");
  toy.between = fn;
  toy.between_arg = arg;
}

unsigned long host_toy_queued(void) {
  unsigned long n;
  toy_lock();
  n = toy.queued;
  toy_unlock();
  return n;
}

void host_toy_run_until(int (*pred)(void *arg), void *arg, double timeout) {
  timeout = test_limit(timeout);
  double limit = test_real_now() + timeout;
  require_host_thread("host_toy_run_until");
  while (!pred(arg)) {
    if (run_due_call()) continue;
    double now = test_real_now();
    if (now >= limit)
      TEST_FAIL("host_toy: the awaited condition did not come true within %.1f s of real time",
                timeout);
    run_one(next_call_due(limit));
  }
}

static int done_fired(void *arg) {
  int done;
  (void)arg;
  toy_lock();
  done = toy.stats.done_calls > 0;
  toy_unlock();
  return done;
}

void host_toy_run_until_done_within(double timeout) {
  host_toy_run_until(done_fired, NULL, timeout);
  host_toy_drain();
}

void host_toy_run_until_done(void) { host_toy_run_until_done_within(10.0); }

void host_toy_run_for(double seconds) {
  double limit = test_real_now() + seconds;
  require_host_thread("host_toy_run_for");
  for (;;) {
    if (run_due_call()) continue;
    if (test_real_now() >= limit) break;
    run_one(next_call_due(limit));
  }
}

unsigned long host_toy_drain(void) {
  unsigned long n = 0;
  require_host_thread("host_toy_drain");
  while (run_one(0.0)) n++;
  return n;
}

unsigned long host_toy_seq(void) {
  unsigned long v;
  toy_lock();
  v = toy.stats.callbacks_run;
  toy_unlock();
  return v;
}

host_toy_stats host_toy_get_stats(void) {
  host_toy_stats s;
  toy_lock();
  s = toy.stats;
  toy_unlock();
  return s;
}

int host_toy_callback_kind(unsigned long seq) {
  int k;
  toy_lock();
  k = seq < TOY_KIND_LOG && seq <= toy.stats.callbacks_run ? toy.kinds[seq] : -1;
  toy_unlock();
  return k;
}
