/* test_stress.c - bounded stress runs: 100 000 tasks with random cancellation, posts from many threads across run boundaries, start/abandon cycles with flat memory, and 8 x 100 000 ordered posts. */
#include <errno.h>
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
#include "rel.h"

/* ThreadSanitizer makes thread creation and every memory access many times
 * slower, AddressSanitizer a few times; the threaded cases run a tenth (a
 * half) of their cycles under them to stay within their time budget (the
 * interleavings, not the volume, are what the sanitizers check). */
static int scaled(int n) {
  int d = test_under_tsan() ? 10 : test_under_asan() ? 2 : 1;
  return n / d > 0 ? n / d : 1;
}

/* ======================================================================== */
/* 100 000 tasks with random cancellations                                   */
/* ======================================================================== */

/* Tasks come in waves of WAVE_SIZE children of one nursery, so that a few
 * thousand are alive at a time. Each task opens its own cancel scope (some
 * with a deadline), then sleeps, checkpoints and waits in random ways. Other
 * tasks cancel random live scopes, and some waves have their whole nursery
 * cancelled. Every task counts its start and, on its way out whatever the
 * path, its cleanup; each must happen exactly once. A task that sees
 * GLOOP_ECANCELED must have had a cancelled scope above it (its own, its
 * nursery's), and a task whose own scope was cancelled before it blocked
 * must see GLOOP_ECANCELED. */

#define TASKS_TOTAL 100000
#define WAVE_SIZE 2000

typedef struct many_state {
  unsigned char started[TASKS_TOTAL];
  unsigned char cleaned[TASKS_TOTAL];
  gloop_scope *scope[TASKS_TOTAL]; /* the task's own scope while it is open */
  gloop_nursery *wave;
  int wave_cancelled;
  test_rng rng;
  long cancelled_seen;
  long cancels_issued;
  long completed;
} many_state;

typedef struct many_arg {
  many_state *st;
  int id;
} many_arg;

static many_state *many;
static many_arg many_args[WAVE_SIZE];

/* Cancels the scope of a random task of the current wave that still has it
 * open. */
static void cancel_someone(many_state *st, int base) {
  int j = base + (int)test_rng_below(&st->rng, WAVE_SIZE);
  if (j < TASKS_TOTAL && st->scope[j]) {
    REL_CHECK_OK(gloop_scope_cancel(st->scope[j]));
    st->cancels_issued++;
  }
}

static int many_task(void *a) {
  many_arg *ma = a;
  many_state *st = ma->st;
  int id = ma->id;
  int base = id - id % WAVE_SIZE;
  if (st->started[id]++) TEST_FAIL("task %d started twice", id);
  uint32_t r = test_rng_next(&st->rng);
  gloop_scope *s;
  double deadline = (r & 3) == 0 ? gloop_now() + 0.001 * (double)((r >> 2) % 50) : INFINITY;
  REL_CHECK_OK(gloop_scope_open(deadline, 0, &s));
  st->scope[id] = s;
  int rc = 0;
  for (int step = 0; step < 4 && rc == 0; step++) {
    uint32_t op = test_rng_below(&st->rng, 8);
    int cancelled_before = gloop_scope_cancel_called(s) || st->wave_cancelled;
    if (op < 3) {
      rc = gloop_sleep(0.001 * (double)test_rng_below(&st->rng, 40));
    } else if (op < 5) {
      rc = gloop_checkpoint();
    } else if (op < 7) {
      cancel_someone(st, base);
      rc = gloop_checkpoint();
    } else {
      /* Only cancellation ends this wait: make sure one will come. */
      if (!cancelled_before && test_rng_below(&st->rng, 2) == 0) {
        REL_CHECK_OK(gloop_scope_cancel(s));
        cancelled_before = 1;
      }
      rc = cancelled_before || isfinite(deadline) ? gloop_sleep_forever() : gloop_sleep(0.01);
    }
    if (cancelled_before && rc != GLOOP_ECANCELED)
      TEST_FAIL("task %d: blocking call after its scope was cancelled returned %s", id,
               gloop_err_name(rc));
    if (rc == GLOOP_ECANCELED && !gloop_scope_cancel_called(s) && !st->wave_cancelled)
      TEST_FAIL("task %d: GLOOP_ECANCELED without any cancelled scope", id);
    if (rc != 0 && rc != GLOOP_ECANCELED) TEST_FAIL("task %d: unexpected %s", id, gloop_err_name(rc));
  }
  if (rc == GLOOP_ECANCELED) st->cancelled_seen++;
  else st->completed++;
  st->scope[id] = NULL;
  int crc = gloop_scope_close(s);
  if (crc != 0) TEST_FAIL("task %d: scope close returned %s", id, gloop_err_name(crc));
  /* The cleanup: runs once on every path out of the task. */
  if (st->cleaned[id]++) TEST_FAIL("task %d cleaned up twice", id);
  return 0;
}

static int many_main(void *a) {
  many_state *st = a;
  for (int base = 0; base < TASKS_TOTAL; base += WAVE_SIZE) {
    REL_CHECK_OK(gloop_nursery_open(&st->wave));
    st->wave_cancelled = 0;
    for (int i = 0; i < WAVE_SIZE; i++) {
      many_args[i].st = st;
      many_args[i].id = base + i;
      REL_CHECK_OK(gloop_nursery_start(st->wave, many_task, &many_args[i], NULL, NULL));
    }
    /* Every fourth wave is cancelled as a whole after a while. */
    if ((base / WAVE_SIZE) % 4 == 3) {
      REL_CHECK_OK(gloop_sleep(0.005));
      st->wave_cancelled = 1;
      REL_CHECK_OK(gloop_nursery_cancel(st->wave));
    }
    int rc = gloop_nursery_close(st->wave);
    if (rc != 0) TEST_FAIL("wave at %d: nursery close returned %s: %s", base, gloop_err_name(rc),
                          gloop_last_message());
    for (int i = base; i < base + WAVE_SIZE; i++)
      if (st->started[i] != 1 || st->cleaned[i] != 1)
        TEST_FAIL("task %d: started %d time(s), cleaned up %d time(s)", i, st->started[i],
                 st->cleaned[i]);
  }
  return 0;
}

TEST_CASE(tasks_100k) {
  /* Single-threaded, so ThreadSanitizer has nothing to check here, and it
   * would need shadow memory for thousands of task stacks. */
  if (test_under_tsan()) {
    printf("SKIP: single-threaded case, not run under ThreadSanitizer\n");
    return TEST_SKIP_CODE;
  }
  many = calloc(1, sizeof *many);
  REL_CHECK(many != NULL, "out of memory");
  test_rng_seed(&many->rng, 12345);
  gloop_options o;
  gloop_options_init(&o);
  gloop_clock *clk;
  REL_CHECK_OK(gloop_mock_clock_new(0.0, 0.0, &clk));
  o.clock = clk;
  o.stack_size = GLOOP_MIN_STACK_SIZE;
  o.guard_pages = 0; /* a few thousand live tasks: keep the mapping count low */
  /* Keep a whole wave's stacks for reuse: unmapping thousands of stacks per
   * wave would measure the kernel's TLB shootdowns, not the library. */
  o.stack_cache = WAVE_SIZE + 64;
  static rel_alloc ra;
  o.realloc_fn = rel_realloc;
  o.realloc_ud = &ra;
  double t0 = test_real_now();
  REL_CHECK_OK(gloop_run(many_main, many, &o, NULL, NULL));
  double dt = test_real_now() - t0;
  REL_CHECK_OK(gloop_clock_free(clk));
  REL_CHECK(atomic_load(&ra.live_blocks) == 0, "%ld blocks of run memory leaked",
            atomic_load(&ra.live_blocks));
  long started = 0, cleaned = 0;
  for (int i = 0; i < TASKS_TOTAL; i++) {
    started += many->started[i];
    cleaned += many->cleaned[i];
  }
  REL_CHECK(started == TASKS_TOTAL && cleaned == TASKS_TOTAL, "started %ld, cleaned %ld", started,
            cleaned);
  REL_CHECK(many->cancelled_seen + many->completed == TASKS_TOTAL, "outcomes do not add up");
  /* The random mix must really exercise both paths. */
  REL_CHECK(many->cancelled_seen > TASKS_TOTAL / 10 && many->completed > TASKS_TOTAL / 10,
            "only %ld cancelled and %ld completed", many->cancelled_seen, many->completed);
  printf("%d tasks in %.2f s: %ld ended by cancellation, %ld completed, %ld cross-task cancels\n",
         TASKS_TOTAL, dt, many->cancelled_seen, many->completed, many->cancels_issued);
  free(many);
  return 0;
}

/* ======================================================================== */
/* Posts from 8 threads while runs start and end                            */
/* ======================================================================== */

/* The host thread runs one short standalone run after another. Each run
 * hands every poster thread a fresh token; the posters post numbered
 * callbacks without pause, to whichever token they hold. A post must return
 * 0 or GLOOP_ENORUN (its run has ended), and every accepted post must run
 * exactly once, in the order its thread made them. */

#define POSTERS 8
#define CYCLE_RUNS 400 /* fewer under sanitizers, see scaled() */
#define MAX_SEQ (1u << 20)

typedef struct poster {
  pthread_t th;
  int idx;
  pthread_mutex_t mu;
  gloop_token *next;          /* handed over by the host, taken by the thread */
  unsigned char *accepted;    /* per sequence number */
  unsigned char *ran;
  uint32_t seq;               /* next sequence number */
  uint32_t last_ran;          /* highest sequence number run so far, +1 */
  long enorun;
} poster;

static poster posters[POSTERS];
static atomic_int posters_stop;

typedef struct post_ref {
  poster *p;
  uint32_t seq;
} post_ref;

/* Runs on the host thread, in host context. */
static void cycle_cb(void *a) {
  uintptr_t v = (uintptr_t)a;
  poster *p = &posters[v & 7];
  uint32_t seq = (uint32_t)(v >> 3);
  if (p->ran[seq]++) TEST_FAIL("post %u of thread %d ran twice", seq, p->idx);
  if (seq + 1 <= p->last_ran) TEST_FAIL("thread %d: post %u ran after post %u", p->idx, seq, p->last_ran - 1);
  p->last_ran = seq + 1;
}

/* Each token gets a fast burst of POST_BURST posts, then one post every
 * 50 us until the run ends: the bursts load the queue, the trickle makes
 * sure posts keep racing with the end of every run. */
#define POST_BURST 1000

static void *poster_main(void *a) {
  poster *p = a;
  gloop_token *tok = NULL;
  unsigned since_fresh = 0;
  while (!atomic_load(&posters_stop) && p->seq < MAX_SEQ) {
    pthread_mutex_lock(&p->mu);
    gloop_token *fresh = p->next;
    p->next = NULL;
    pthread_mutex_unlock(&p->mu);
    if (fresh) {
      gloop_token_free(tok);
      tok = fresh;
      since_fresh = 0;
    }
    if (tok == NULL) {
      sched_yield();
      continue;
    }
    uint32_t seq = p->seq++;
    uintptr_t v = ((uintptr_t)seq << 3) | (uintptr_t)p->idx;
    int rc = gloop_token_post(tok, cycle_cb, (void *)v);
    if (rc == 0) {
      p->accepted[seq] = 1;
      if (++since_fresh > POST_BURST) test_real_sleep(0.00005);
    } else if (rc == GLOOP_ENORUN) {
      p->enorun++;
      sched_yield();
    } else {
      TEST_FAIL("thread %d: gloop_token_post returned %s", p->idx, gloop_err_name(rc));
    }
  }
  gloop_token_free(tok);
  return NULL;
}

static int cycle_main(void *a) {
  (void)a;
  for (int i = 0; i < POSTERS; i++) {
    gloop_token *t;
    REL_CHECK_OK(gloop_token_new(&t));
    pthread_mutex_lock(&posters[i].mu);
    gloop_token *old = posters[i].next;
    posters[i].next = t;
    pthread_mutex_unlock(&posters[i].mu);
    gloop_token_free(old); /* never taken by its thread */
  }
  return gloop_sleep(0.002);
}

TEST_CASE(posts_across_runs) {
  for (int i = 0; i < POSTERS; i++) {
    poster *p = &posters[i];
    p->idx = i;
    pthread_mutex_init(&p->mu, NULL);
    p->accepted = calloc(MAX_SEQ, 1);
    p->ran = calloc(MAX_SEQ, 1);
    REL_CHECK(p->accepted && p->ran, "out of memory");
    REL_CHECK(pthread_create(&p->th, NULL, poster_main, p) == 0, "pthread_create failed");
  }
  double t0 = test_real_now();
  int runs = scaled(CYCLE_RUNS);
  for (int r = 0; r < runs; r++) {
    test_label("posts_cycle: run %d", r);
    REL_CHECK_OK(gloop_run(cycle_main, NULL, NULL, NULL, NULL));
  }
  atomic_store(&posters_stop, 1);
  long accepted = 0, enorun = 0;
  for (int i = 0; i < POSTERS; i++) {
    poster *p = &posters[i];
    pthread_join(p->th, NULL);
    gloop_token_free(p->next);
    for (uint32_t s = 0; s < p->seq; s++) {
      if (p->accepted[s] != p->ran[s])
        TEST_FAIL("thread %d post %u: accepted %d, ran %d", i, s, p->accepted[s], p->ran[s]);
      accepted += p->accepted[s];
    }
    enorun += p->enorun;
    free(p->accepted);
    free(p->ran);
    pthread_mutex_destroy(&p->mu);
  }
  REL_CHECK(accepted > 0 && enorun > 0, "accepted %ld, refused %ld: the runs did not overlap the posts",
            accepted, enorun);
  printf("%d runs in %.2f s: %ld posts accepted and run exactly once, %ld refused with ENORUN\n",
         runs, test_real_now() - t0, accepted, enorun);
  return 0;
}

/* ======================================================================== */
/* Start / abandon / start                                                   */
/* ======================================================================== */

/* Each cycle starts a guest run whose tasks sleep on the real clock, wait
 * on an event and on a socket, and keep a worker thread busy; the host runs
 * a few ticks and abandons the run mid-flight. Memory must stay flat. */

#define ABANDON_CYCLES 1000 /* fewer under sanitizers, see scaled() */

typedef struct ab_state {
  gloop_event *ev;
  int sock[2];
  int ready;
} ab_state;

static void *ab_work(void *a) { return a; }

static int ab_sleeper(void *a) {
  (void)a;
  for (;;) {
    int rc = gloop_sleep(0.0005);
    if (rc) return rc;
  }
}
static int ab_event(void *a) { return gloop_event_wait(((ab_state *)a)->ev); }
static int ab_reader(void *a) { return gloop_wait_readable(((ab_state *)a)->sock[0]); }
static int ab_worker(void *a) {
  for (;;) {
    int rc = gloop_to_thread(ab_work, a, 0, NULL);
    if (rc) return rc;
  }
}

static int ab_main(void *a) {
  ab_state *st = a;
  gloop_nursery *n;
  REL_CHECK_OK(gloop_nursery_open(&n));
  for (int i = 0; i < 8; i++) REL_CHECK_OK(gloop_nursery_start(n, ab_sleeper, st, NULL, NULL));
  REL_CHECK_OK(gloop_nursery_start(n, ab_event, st, NULL, NULL));
  REL_CHECK_OK(gloop_nursery_start(n, ab_reader, st, NULL, NULL));
  for (int i = 0; i < 3; i++) REL_CHECK_OK(gloop_nursery_start(n, ab_worker, st, NULL, NULL));
  st->ready = 1;
  int rc = gloop_nursery_close(n);
  TEST_FAIL("the run was meant to be abandoned, but its nursery closed with %s", gloop_err_name(rc));
}

TEST_CASE(abandon_cycles) {
  static rel_alloc ra;
  ab_state st;
  memset(&st, 0, sizeof st);
  REL_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st.sock) == 0, "socketpair failed");
  int fds = rel_count_fds();
  long rss_warm = 0;
  test_rng rng;
  test_rng_seed(&rng, 99);
  double t0 = test_real_now();
  int cycles = scaled(ABANDON_CYCLES);
  for (int c = 0; c < cycles; c++) {
    test_label("abandon: cycle %d", c);
    gloop_options o;
    gloop_options_init(&o);
    o.realloc_fn = rel_realloc;
    o.realloc_ud = &ra;
    o.stack_size = 64 * 1024;
    host_toy_init();
    st.ready = 0;
    REL_CHECK_OK(host_toy_start(ab_main, &st, &o, 0));
    REL_CHECK_OK(gloop_event_new(&st.ev));
    /* Run until the tasks are in flight, plus a random number of ticks. */
    unsigned extra = test_rng_below(&rng, 20);
    double limit = test_real_now() + test_limit(5.0);
    while (!st.ready || extra-- > 0) {
      if (test_real_now() > limit) TEST_FAIL("the run made no progress");
      host_toy_step(0.01);
    }
    REL_CHECK_OK(gloop_abandon_run());
    REL_CHECK(!gloop_in_run(), "the run is still live after gloop_abandon_run()");
    /* Calls on the abandoned run's objects are refused, freeing is fine. */
    REL_CHECK_ERR(gloop_event_set(st.ev), GLOOP_ENORUN);
    gloop_event_free(st.ev);
    host_toy_drain();
    REL_CHECK(host_toy_get_stats().done_calls == 0, "done_cb ran for an abandoned run");
    REL_CHECK(atomic_load(&ra.live_blocks) == 0, "%ld blocks of run memory left after the abandon",
              atomic_load(&ra.live_blocks));
    /* A worker job that was running at the abandon keeps the run's wake-up
     * fd until it returns, a moment later. */
    double fd_limit = test_real_now() + test_limit(3.0);
    while (rel_count_fds() != fds && test_real_now() < fd_limit) test_real_sleep(0.0005);
    REL_CHECK(rel_count_fds() == fds, "fds: %d after the abandon, %d before", rel_count_fds(), fds);
    if (c == cycles / 10) rss_warm = rel_rss_pages();
  }
  long rss_end = rel_rss_pages();
  close(st.sock[0]);
  close(st.sock[1]);
  long page_kib = sysconf(_SC_PAGESIZE) / 1024;
  printf("%d start/abandon cycles in %.2f s; RSS %ld KiB after %d cycles, %ld KiB at the end\n",
         cycles, test_real_now() - t0, rss_warm * page_kib, cycles / 10,
         rss_end * page_kib);
  /* Sanitizer runtimes keep freed memory in quarantine, and an emulator's
   * RSS is its own (qemu-user keeps memory of every thread it ran), so RSS
   * only means something in a plain, native build; the heap and mapping
   * counts of the fault sweeps still hold everywhere. */
  if (rel_under_emulator()) printf("under emulation: RSS not judged\n");
  if (!test_under_asan() && !test_under_tsan() && !rel_under_emulator()) {
    long margin_kib = 1024;
    REL_CHECK((rss_end - rss_warm) * page_kib <= margin_kib,
              "RSS grew by %ld KiB over %d cycles (margin %ld KiB)", (rss_end - rss_warm) * page_kib,
              cycles - cycles / 10, margin_kib);
  }
  return 0;
}

/* ======================================================================== */
/* 8 threads x 100 000 posts                                                 */
/* ======================================================================== */

#define BULK_THREADS 8
#define BULK_POSTS 100000

typedef struct bulk_state {
  gloop_token *tok[BULK_THREADS];
  pthread_t th[BULK_THREADS];
  uint32_t next[BULK_THREADS]; /* next expected sequence number per thread */
  long total;
  gloop_event *all_in;
  int refused;
} bulk_state;

static bulk_state bulk;

static void bulk_cb(void *a) {
  uintptr_t v = (uintptr_t)a;
  unsigned t = (unsigned)(v & 7);
  uint32_t seq = (uint32_t)(v >> 3);
  if (seq != bulk.next[t])
    TEST_FAIL("thread %u: post %u ran when post %u was due (lost or reordered)", t, seq, bulk.next[t]);
  bulk.next[t]++;
  if (++bulk.total == (long)BULK_THREADS * BULK_POSTS) REL_CHECK_OK(gloop_event_set(bulk.all_in));
}

static void *bulk_thread(void *a) {
  uintptr_t t = (uintptr_t)a;
  for (uint32_t s = 0; s < BULK_POSTS; s++) {
    int rc = gloop_token_post(bulk.tok[t], bulk_cb, (void *)(((uintptr_t)s << 3) | t));
    if (rc != 0) TEST_FAIL("thread %u: post %u returned %s", (unsigned)t, s, gloop_err_name(rc));
  }
  return NULL;
}

static int bulk_main(void *a) {
  (void)a;
  REL_CHECK_OK(gloop_event_new(&bulk.all_in));
  for (uintptr_t t = 0; t < BULK_THREADS; t++) {
    REL_CHECK_OK(gloop_token_new(&bulk.tok[t]));
    REL_CHECK(pthread_create(&bulk.th[t], NULL, bulk_thread, (void *)t) == 0, "pthread_create failed");
  }
  REL_CHECK_OK(gloop_event_wait(bulk.all_in));
  /* Every post has run, so the threads are past their last post. */
  for (int t = 0; t < BULK_THREADS; t++) pthread_join(bulk.th[t], NULL);
  gloop_event_free(bulk.all_in);
  return 0;
}

TEST_CASE(posts_8x100k) {
  double t0 = test_real_now();
  host_toy_init();
  REL_CHECK_OK(host_toy_start(bulk_main, NULL, NULL, 0));
  host_toy_run_until_done_within(25.0);
  host_toy_stats out = host_toy_get_stats();
  REL_CHECK(out.done_calls == 1 && out.done_status == 0, "done %d time(s), status %s", out.done_calls,
            gloop_err_name(out.done_status));
  for (int t = 0; t < BULK_THREADS; t++) {
    REL_CHECK(bulk.next[t] == BULK_POSTS, "thread %d: %u of %d posts ran", t, bulk.next[t], BULK_POSTS);
    gloop_token_free(bulk.tok[t]);
  }
  printf("%d threads x %d posts in %.2f s, none lost, each thread's order kept\n", BULK_THREADS,
         BULK_POSTS, test_real_now() - t0);
  return 0;
}

/* ======================================================================== */

/* Each case must finish well within the runner's 30 s watchdog. */
#define GLOOP_TEST_LIST "reliability/stress-list.h"
#include "harness/runner_main.h"
