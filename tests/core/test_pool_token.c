/* test_pool_token.c - the thread pool and tokens in both run modes: a blocking call that keeps the host ticking, token calls from a worker, a burst of posts waking an idle run once, posts racing the end of the run. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guestloop/testing.h"
#include "host_toy.h"
#include "test.h"

/* Every scenario below is a function of `guest` (test_run_mode(): 0 runs it
 * with gloop_run() on the calling thread, 1 as a guest of the toy host with
 * a not-threadsafe post, so the toy's thread-affinity checks stay armed),
 * registered as two cases, <name>_standalone and <name>_guest. */

/* ---- A 200 ms blocking call on a worker while the host keeps ticking ------ */

#define OFF_PERIOD 0.010
#define OFF_BLOCK_US 200000

static struct {
  int in_call;
  int call_over;
  int rc;
  void *result;
  double call_time;
  int ran_off_loop;
  double last_tick;
  double max_gap;
  int ticks_during_call;
} off;

static void *off_blocking(void *arg) {
  off.ran_off_loop = !test_on_loop_thread();
  usleep(OFF_BLOCK_US);
  return (void *)((intptr_t)arg + 1);
}

/* One periodic beat: measures the gap to the previous beat while the
 * blocking call is outstanding. */
static void off_beat(void) {
  double now = test_real_now();
  if (off.in_call) {
    if (off.last_tick > 0 && now - off.last_tick > off.max_gap) off.max_gap = now - off.last_tick;
    off.ticks_during_call++;
  }
  off.last_tick = now;
}

static void off_host_beat(void *arg) {
  (void)arg;
  off_beat();
  if (!off.call_over) host_toy_call_later(OFF_PERIOD, off_host_beat, NULL);
}

static int off_ticker(void *arg) {
  (void)arg;
  while (!off.call_over) {
    ASSERT_OK(gloop_sleep(OFF_PERIOD));
    off_beat();
  }
  return 0;
}

static int off_caller(void *arg) {
  (void)arg;
  double t0 = test_real_now();
  off.last_tick = t0;
  off.in_call = 1;
  off.rc = gloop_to_thread(off_blocking, (void *)(intptr_t)4241, 0, &off.result);
  off.in_call = 0;
  off.call_time = test_real_now() - t0;
  off.call_over = 1;
  return 0;
}

static int off_main(void *arg) {
  gloop_nursery *n;
  int guest = *(int *)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  if (!guest) ASSERT_OK(gloop_nursery_start(n, off_ticker, NULL, "ticker", NULL));
  ASSERT_OK(gloop_nursery_start(n, off_caller, NULL, "caller", NULL));
  return gloop_nursery_close(n);
}

static int scenario_offload(int guest) {
  memset(&off, 0, sizeof off);
  test_mark_loop_thread();
  if (guest) {
    host_toy_init();
    ASSERT_OK(host_toy_start(off_main, &guest, NULL, 1));
    host_toy_call_later(OFF_PERIOD, off_host_beat, NULL);
    host_toy_run_until_done();
    ASSERT_OK(host_toy_get_stats().done_status);
    host_toy_fini();
  } else {
    ASSERT_OK(gloop_run(off_main, &guest, NULL, NULL, NULL));
  }
  ASSERT_OK(off.rc);
  ASSERT_EQ_PTR(off.result, (void *)(intptr_t)4242);
  ASSERT_EQ_INT(off.ran_off_loop, 1);
  ASSERT_GE_DBL(off.call_time, 0.19);
  /* The loop thread kept beating through the call: a call made on the loop
   * thread would show one gap of 200 ms and hardly any beats. */
  ASSERT_GE_INT(off.ticks_during_call, 10);
  /* Half the call's length: a loaded machine or valgrind can stretch one
   * 10 ms beat past 50 ms, but only a blocked loop thread reaches 200 ms. A
   * slow build scales the bound, never past the call's own length. */
  ASSERT_LT_DBL(off.max_gap, fmin(test_limit(0.100), 0.190));
  return 0;
}

BOTH_MODES(thread_offload_keeps_ticking, scenario_offload)

/* ---- gloop_token_call from a worker thread (from_thread.run_sync) --------- */

#define TC_CALLS 50

static struct {
  gloop_token *token;
  pthread_t worker;
  int calls;
  int off_loop;
  int in_task;
  int same_as_worker;
  int rc[TC_CALLS];
  void *res[TC_CALLS];
  int to_thread_rc;
  void *to_thread_res;
} tc;

static void *tc_on_loop(void *arg) {
  tc.calls++;
  if (!test_on_loop_thread()) tc.off_loop++;
  if (gloop_current_task() != NULL) tc.in_task++;
  if (pthread_equal(pthread_self(), tc.worker)) tc.same_as_worker++;
  return (void *)((intptr_t)arg * 3);
}

static void *tc_worker(void *arg) {
  (void)arg;
  tc.worker = pthread_self();
  for (int i = 0; i < TC_CALLS; i++)
    tc.rc[i] = gloop_token_call(tc.token, tc_on_loop, (void *)(intptr_t)(i + 1), &tc.res[i]);
  return (void *)(intptr_t)77;
}

static int tc_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_token_new(&tc.token));
  /* The task waits on the worker; the loop thread stays free to run the
   * calls the worker makes back into the run. */
  tc.to_thread_rc = gloop_to_thread(tc_worker, NULL, 0, &tc.to_thread_res);
  return 0;
}

static int scenario_token_call(int guest) {
  memset(&tc, 0, sizeof tc);
  ASSERT_OK(test_run_mode(guest, tc_main, NULL, NULL));
  ASSERT_OK(tc.to_thread_rc);
  ASSERT_EQ_PTR(tc.to_thread_res, (void *)(intptr_t)77);
  ASSERT_EQ_INT(tc.calls, TC_CALLS);
  ASSERT_EQ_INT(tc.off_loop, 0);
  ASSERT_EQ_INT(tc.in_task, 0);
  ASSERT_EQ_INT(tc.same_as_worker, 0);
  for (int i = 0; i < TC_CALLS; i++) {
    ASSERT_OK(tc.rc[i]);
    ASSERT_EQ_PTR(tc.res[i], (void *)(intptr_t)((i + 1) * 3));
  }
  gloop_token_free(tc.token);
  return 0;
}

BOTH_MODES(thread_token_call_from_worker, scenario_token_call)

/* ---- A burst of posts wakes an idle run once ------------------------------ */

#define BURST_N 100

static struct {
  gloop_token *token;
  gloop_event *all_in;
  gloop_event *finish;
  int waiting;
  int count;
  int order_ok;
  int bad_context;
  _Atomic int post_errors;
  unsigned long ts_at_all_in;
} bu;

static void bu_cb(void *arg) {
  int i = (int)(intptr_t)arg;
  if (gloop_current_task() != NULL || !test_on_loop_thread()) bu.bad_context++;
  if (i != bu.count) bu.order_ok = 0;
  bu.count++;
  if (bu.count == BURST_N) ASSERT_OK(gloop_event_set(bu.all_in));
}

static void *bu_poster(void *arg) {
  (void)arg;
  for (int i = 0; i < BURST_N; i++)
    if (gloop_token_post(bu.token, bu_cb, (void *)(intptr_t)i) != 0)
      atomic_fetch_add(&bu.post_errors, 1);
  return NULL;
}

static int bu_main(void *arg) {
  int guest = *(int *)arg;
  pthread_t th;
  ASSERT_OK(gloop_token_new(&bu.token));
  ASSERT_OK(gloop_event_new(&bu.all_in));
  ASSERT_OK(gloop_event_new(&bu.finish));
  /* Standalone, the burst comes from a thread started here; as a guest,
   * from one the host starts while the run is idle. */
  if (!guest) ASSERT_EQ_INT(pthread_create(&th, NULL, bu_poster, NULL), 0);
  bu.waiting = 1;
  ASSERT_OK(gloop_event_wait(bu.all_in));
  if (!guest) {
    ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  } else {
    /* Idle again, until the host says so. */
    bu.waiting = 2;
    ASSERT_OK(gloop_event_wait(bu.finish));
  }
  gloop_event_free(bu.all_in);
  gloop_event_free(bu.finish);
  return 0;
}

static int bu_is_waiting(void *arg) {
  (void)arg;
  return bu.waiting == 1;
}

static int bu_all_in(void *arg) {
  (void)arg;
  if (bu.count < BURST_N) return 0;
  bu.ts_at_all_in = host_toy_get_stats().threadsafe_posts;
  return 1;
}

static int bu_waiting_again(void *arg) {
  (void)arg;
  return bu.waiting == 2;
}

static int scenario_burst(int guest) {
  memset(&bu, 0, sizeof bu);
  bu.order_ok = 1;
  test_mark_loop_thread();
  if (!guest) {
    ASSERT_OK(gloop_run(bu_main, &guest, NULL, NULL, NULL));
  } else {
    pthread_t th;
    host_toy_init();
    ASSERT_OK(host_toy_start(bu_main, &guest, NULL, 1));
    host_toy_run_until(bu_is_waiting, NULL, 5.0);
    /* Let the run settle into its idle wait on the helper thread. */
    host_toy_run_for(0.010);
    unsigned long before = host_toy_get_stats().threadsafe_posts;
    unsigned long seq = host_toy_seq();
    /* The barrier: the host thread runs nothing until the whole burst is
     * posted, so the burst meets one idle period and must cost exactly one
     * wake-up, i.e. one threadsafe post from the helper. */
    ASSERT_EQ_INT(pthread_create(&th, NULL, bu_poster, NULL), 0);
    ASSERT_EQ_INT(pthread_join(th, NULL), 0);
    double limit = test_real_now() + test_limit(5.0);
    while (host_toy_get_stats().threadsafe_posts == before && test_real_now() < limit)
      test_real_sleep(0.001);
    /* Give a second, wrong wake-up time to show itself. */
    test_real_sleep(0.020);
    ASSERT_EQ_UINT(host_toy_get_stats().threadsafe_posts - before, 1);
    ASSERT_EQ_UINT(host_toy_seq(), seq);
    host_toy_run_until(bu_all_in, NULL, 5.0);
    ASSERT_EQ_UINT(bu.ts_at_all_in - before, 1);
    /* Once the burst has run and the run is idle again, no leftover of the
     * burst (a stale wake-up write) may wake it. */
    host_toy_run_until(bu_waiting_again, NULL, 5.0);
    host_toy_run_for(0.030);
    ASSERT_EQ_UINT(host_toy_get_stats().threadsafe_posts - before, 1);
    ASSERT_OK(gloop_event_set(bu.finish));
    host_toy_run_until_done();
    ASSERT_OK(host_toy_get_stats().done_status);
    host_toy_fini();
  }
  ASSERT_EQ_INT(atomic_load(&bu.post_errors), 0);
  ASSERT_EQ_INT(bu.count, BURST_N);
  ASSERT_EQ_INT(bu.order_ok, 1);
  ASSERT_EQ_INT(bu.bad_context, 0);
  gloop_token_free(bu.token);
  return 0;
}

BOTH_MODES(thread_post_burst_one_wake, scenario_burst)

/* ---- Posts racing the end of the run, and posts after it ------------------ */

static struct {
  gloop_token *token;
  _Atomic long ok;
  _Atomic long ran;
  long ran_at_done;
  int done_calls;
  _Atomic int end_rc;
  _Atomic int bad_rc;
  int after_post, after_start, after_call;
  int late_ran;
} pa;

static void pa_cb(void *arg) {
  (void)arg;
  atomic_fetch_add(&pa.ran, 1);
}

static void pa_late_cb(void *arg) {
  (void)arg;
  pa.late_ran++;
}

static int pa_late_task(void *arg) {
  (void)arg;
  pa.late_ran++;
  return 0;
}

static void *pa_late_work(void *arg) {
  (void)arg;
  pa.late_ran++;
  return NULL;
}

/* Posts until the run refuses: every post that returned 0 must run, and
 * none that returned GLOOP_ENORUN may. */
static void *pa_poster(void *arg) {
  (void)arg;
  double limit = test_real_now() + test_limit(10.0);
  while (test_real_now() < limit) {
    int rc = gloop_token_post(pa.token, pa_cb, NULL);
    if (rc == GLOOP_ENORUN) {
      atomic_store(&pa.end_rc, rc);
      return NULL;
    }
    if (rc != 0) {
      atomic_store(&pa.bad_rc, rc);
      return NULL;
    }
    atomic_fetch_add(&pa.ok, 1);
    usleep(50);
  }
  return NULL;
}

static void *pa_caller(void *arg) {
  (void)arg;
  pa.after_call = gloop_token_call(pa.token, pa_late_work, NULL, NULL);
  return NULL;
}

static void pa_done(const gloop_outcome *outcome, void *host_data) {
  pa.ran_at_done = atomic_load(&pa.ran);
  pa.done_calls++;
  if (host_data == HOST_TOY_DATA) host_toy_done(outcome, host_data);
}

static int pa_main(void *arg) {
  pthread_t *th = arg;
  ASSERT_OK(gloop_token_new(&pa.token));
  ASSERT_EQ_INT(pthread_create(th, NULL, pa_poster, NULL), 0);
  /* End while the poster is in full swing. */
  while (atomic_load(&pa.ok) < 20) ASSERT_OK(gloop_sleep(0.001));
  return 0;
}

static int scenario_post_after_end(int guest) {
  pthread_t th;
  memset(&pa, 0, sizeof pa);
  test_mark_loop_thread();
  if (guest) {
    gloop_options o;
    gloop_options_init(&o);
    o.run_sync_soon_not_threadsafe = host_toy_post_not_threadsafe;
    host_toy_init();
    host_toy_expect_not_threadsafe(1);
    ASSERT_OK(gloop_start_guest_run_ex(pa_main, &th, host_toy_post_threadsafe, pa_done,
                                       HOST_TOY_DATA, &o));
    host_toy_run_until_done();
    host_toy_stats s = host_toy_get_stats();
    ASSERT_OK(s.done_status);
    ASSERT_EQ_INT(s.done_calls, 1);
    ASSERT_EQ_UINT(s.posts_after_done, 0);
    host_toy_fini();
  } else {
    ASSERT_OK(gloop_run(pa_main, &th, NULL, pa_done, NULL));
  }
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  ASSERT_EQ_INT(pa.done_calls, 1);
  ASSERT_EQ_INT(atomic_load(&pa.bad_rc), 0);
  ASSERT_ERR(atomic_load(&pa.end_rc), GLOOP_ENORUN);
  ASSERT_GE_INT(atomic_load(&pa.ok), 20);
  /* Never lost, never run twice, and all of them before the done callback. */
  ASSERT_EQ_INT(atomic_load(&pa.ran), atomic_load(&pa.ok));
  ASSERT_EQ_INT(pa.ran_at_done, atomic_load(&pa.ok));

  /* After the end every way in is refused and nothing runs. */
  pa.after_post = gloop_token_post(pa.token, pa_late_cb, NULL);
  pa.after_start = gloop_token_start(pa.token, pa_late_task, NULL, "late");
  ASSERT_EQ_INT(pthread_create(&th, NULL, pa_caller, NULL), 0);
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  ASSERT_ERR(pa.after_post, GLOOP_ENORUN);
  ASSERT_ERR(pa.after_start, GLOOP_ENORUN);
  ASSERT_ERR(pa.after_call, GLOOP_ENORUN);
  ASSERT_EQ_INT(pa.late_ran, 0);
  ASSERT_EQ_INT(atomic_load(&pa.ran), atomic_load(&pa.ok));
  gloop_token_free(pa.token);
  return 0;
}

BOTH_MODES(thread_post_after_end, scenario_post_after_end)

/* ---- A token's slots: coalesced queueing, segments, shared use, the close --
 *
 * Posts made from a task on the host thread cannot be drained before the
 * task yields, which makes the token's inner states reachable without
 * timing: a burst of any length waits in the token's segments, and the
 * token's count of times it was put on the run's queue says whether the
 * burst queued it once. */


#define SEG_SLOTS 256 /* token.c's segment size: bursts below cross it */

static struct {
  gloop_token *token;
  long next; /* the sequence number the next callback must carry */
  long ran;
  int order_ok;
} rg;

static void rg_cb(void *arg) {
  long i = (long)(intptr_t)arg;
  if (i != rg.next) rg.order_ok = 0;
  rg.next = i + 1;
  rg.ran++;
}

/* Posts [from, to) in one burst, then lets the host drain them. */
static void rg_burst(long from, long to) {
  for (long i = from; i < to; i++) ASSERT_OK(gloop_token_post(rg.token, rg_cb, (void *)(intptr_t)i));
  ASSERT_EQ_INT(rg.ran, from); /* nothing ran during the burst */
  while (rg.ran < to) ASSERT_OK(gloop_sleep(0.0005));
  ASSERT_EQ_INT(rg.ran, to);
}

static int rg_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_token_new(&rg.token));
  ASSERT_EQ_UINT(gloop_token_times_queued(rg.token), 0);
  /* A burst of 100 posts queues the token once. */
  rg_burst(0, 100);
  ASSERT_EQ_UINT(gloop_token_times_queued(rg.token), 1);
  /* Drained and idle, the next burst queues it once more. */
  rg_burst(100, 101);
  ASSERT_EQ_UINT(gloop_token_times_queued(rg.token), 2);
  /* Bursts that fill several segments, the first from a partly used one,
   * then bursts that run on the segments given back, crossing segment
   * boundaries at every offset. */
  rg_burst(101, 101 + 3 * SEG_SLOTS + 7);
  rg_burst(101 + 3 * SEG_SLOTS + 7, 101 + 5 * SEG_SLOTS + 8);
  for (int k = 0; k < 20; k++) rg_burst(rg.ran, rg.ran + SEG_SLOTS / 2 + k);
  return 0;
}

/* Runs main, which creates rg.token and posts through it; every post that
 * was accepted must have run, in order. */
static int rg_scenario(int guest, gloop_task_fn main) {
  memset(&rg, 0, sizeof rg);
  rg.order_ok = 1;
  ASSERT_OK(test_run_mode(guest, main, NULL, NULL));
  ASSERT_EQ_INT(rg.order_ok, 1);
  gloop_token_free(rg.token);
  return 0;
}

static int scenario_segments(int guest) { return rg_scenario(guest, rg_main); }

BOTH_MODES(token_burst_queues_once, scenario_segments)

/* Several threads share one token while the host is held in a task that
 * does not yield, so the token's segments fill far past one; each thread's
 * posts carry its own sequence numbers, and each thread's order must hold.
 * A second round lets the host drain while the threads post. */

#define SH_THREADS 4
#define SH_POSTS 1000 /* 4 000 slots a round: about 16 segments */

static struct {
  gloop_token *token;
  _Atomic int posted; /* threads done posting */
  _Atomic int go;
  long next[SH_THREADS];
  long ran;
  int order_ok;
  _Atomic int errors;
  int round;
} sh;

static void sh_cb(void *arg) {
  uintptr_t v = (uintptr_t)arg;
  int th = (int)(v % SH_THREADS);
  long seq = (long)(v / SH_THREADS);
  if (seq != sh.next[th]) sh.order_ok = 0;
  sh.next[th] = seq + 1;
  sh.ran++;
}

static void *sh_poster(void *arg) {
  uintptr_t th = (uintptr_t)arg;
  while (!atomic_load(&sh.go)) sched_yield();
  for (long i = 0; i < SH_POSTS; i++) {
    uintptr_t seq = (uintptr_t)(sh.round * SH_POSTS + i);
    if (gloop_token_post(sh.token, sh_cb, (void *)(seq * SH_THREADS + th)) != 0)
      atomic_fetch_add(&sh.errors, 1);
  }
  atomic_fetch_add(&sh.posted, 1);
  return NULL;
}

static int sh_main(void *arg) {
  (void)arg;
  pthread_t th[SH_THREADS];
  ASSERT_OK(gloop_token_new(&sh.token));
  for (sh.round = 0; sh.round < 2; sh.round++) {
    atomic_store(&sh.posted, 0);
    atomic_store(&sh.go, 0);
    for (uintptr_t i = 0; i < SH_THREADS; i++)
      ASSERT_EQ_INT(pthread_create(&th[i], NULL, sh_poster, (void *)i), 0);
    atomic_store(&sh.go, 1);
    if (sh.round == 0) {
      /* Round 0: the host runs nothing until every thread has posted. */
      while (atomic_load(&sh.posted) < SH_THREADS) sched_yield();
      ASSERT_EQ_INT(sh.ran, 0);
    } else {
      while (atomic_load(&sh.posted) < SH_THREADS) ASSERT_OK(gloop_sleep(0));
    }
    for (int i = 0; i < SH_THREADS; i++) ASSERT_EQ_INT(pthread_join(th[i], NULL), 0);
    long all = (long)(sh.round + 1) * SH_THREADS * SH_POSTS;
    while (sh.ran < all) ASSERT_OK(gloop_sleep(0.0005));
    ASSERT_EQ_INT(sh.ran, all);
  }
  return 0;
}

static int scenario_shared(int guest) {
  memset(&sh, 0, sizeof sh);
  sh.order_ok = 1;
  ASSERT_OK(test_run_mode(guest, sh_main, NULL, NULL));
  ASSERT_EQ_INT(atomic_load(&sh.errors), 0);
  ASSERT_EQ_INT(sh.order_ok, 1);
  for (int i = 0; i < SH_THREADS; i++) ASSERT_EQ_INT(sh.next[i], 2 * SH_POSTS);
  gloop_token_free(sh.token);
  return 0;
}

BOTH_MODES(token_shared_order_per_thread, scenario_shared)

/* The close takes back what a token publishes too late. The main task posts
 * to token A and returns at once, so A's post runs in the end sequence,
 * after the entry queue has closed. From there it posts to token B, which is
 * not on the queue: B publishes the slot, finds the queue closed when it
 * tries to queue itself, and must take the slot back and fail; then B and
 * A (which is in its last drain) refuse everything. Nothing refused runs. */

static struct {
  gloop_token *a, *b;
  int rc_b_post, rc_b_post_again, rc_b_start, rc_a_post, a_ran, late_ran;
} cl;

static void cl_late(void *arg) {
  (void)arg;
  cl.late_ran++;
}

static int cl_late_task(void *arg) {
  (void)arg;
  cl.late_ran++;
  return 0;
}

static void cl_a(void *arg) {
  (void)arg;
  cl.a_ran++;
  cl.rc_b_post = gloop_token_post(cl.b, cl_late, NULL);
  cl.rc_b_post_again = gloop_token_post(cl.b, cl_late, NULL);
  cl.rc_b_start = gloop_token_start(cl.b, cl_late_task, NULL, "late");
  cl.rc_a_post = gloop_token_post(cl.a, cl_late, NULL);
}

static int cl_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_token_new(&cl.a));
  ASSERT_OK(gloop_token_new(&cl.b));
  ASSERT_OK(gloop_token_post(cl.a, cl_a, NULL));
  return 0;
}

static int scenario_close_takes_back(int guest) {
  memset(&cl, 0, sizeof cl);
  ASSERT_OK(test_run_mode(guest, cl_main, NULL, NULL));
  ASSERT_EQ_INT(cl.a_ran, 1);
  ASSERT_ERR(cl.rc_b_post, GLOOP_ENORUN);
  ASSERT_ERR(cl.rc_b_post_again, GLOOP_ENORUN);
  ASSERT_ERR(cl.rc_b_start, GLOOP_ENORUN);
  ASSERT_ERR(cl.rc_a_post, GLOOP_ENORUN);
  ASSERT_EQ_UINT(gloop_token_times_queued(cl.b), 1); /* tried once, refused */
  ASSERT_ERR(gloop_token_post(cl.b, cl_late, NULL), GLOOP_ENORUN);
  ASSERT_EQ_INT(cl.late_ran, 0);
  gloop_token_free(cl.a);
  gloop_token_free(cl.b);
  return 0;
}

BOTH_MODES(token_close_takes_back, scenario_close_takes_back)

/* A post that needs a new segment when memory runs out fails with
 * GLOOP_ENOMEM and publishes nothing; the posts before it run, in order,
 * and posting works again once memory is back. */

static int om_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_token_new(&rg.token));
  /* The first segment came with the token; filling it allocates nothing. */
  gloop_fault_inject(0, GLOOP_FAULT_MEMORY, 1);
  for (long i = 0; i < SEG_SLOTS; i++)
    ASSERT_OK(gloop_token_post(rg.token, rg_cb, (void *)(intptr_t)i));
  ASSERT_ERR(gloop_token_post(rg.token, rg_cb, (void *)(intptr_t)-1), GLOOP_ENOMEM);
  ASSERT_ERR(gloop_token_post(rg.token, rg_cb, (void *)(intptr_t)-1), GLOOP_ENOMEM);
  gloop_fault_inject(-1, 0, 0);
  ASSERT_OK(gloop_token_post(rg.token, rg_cb, (void *)(intptr_t)SEG_SLOTS));
  while (rg.ran < SEG_SLOTS + 1) ASSERT_OK(gloop_sleep(0.0005));
  ASSERT_EQ_INT(rg.ran, SEG_SLOTS + 1);
  return 0;
}

static int scenario_out_of_memory(int guest) { return rg_scenario(guest, om_main); }

BOTH_MODES(token_segment_out_of_memory, scenario_out_of_memory)
