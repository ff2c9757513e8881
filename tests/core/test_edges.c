/* test_edges.c - values at the edges of what the API accepts: clocks below zero and at their limits, infinite deadlines, infinite idle timeouts, counters at their maximum, and worker parallelism. */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

/* Runs entry in guest mode (on the toy host) or standalone. */
static int run_in(int guest, gloop_task_fn entry, void *arg, const gloop_options *o) {
  return guest ? test_guest_run(entry, arg, o, 1) : gloop_run(entry, arg, o, NULL, NULL);
}

/* ---- A mock clock that starts below zero -------------------------------------- */

/* The deadline of a sleep or a timer is now + delay; with now negative, the
 * old "does it overflow?" test (INF - now) itself overflowed and every sleep
 * and timer became infinite. */
static struct {
  double before, after_sleep, timer_at;
  int sleep_rc, fired;
} neg;

static void neg_fired(void *arg) {
  (void)arg;
  neg.fired++;
  neg.timer_at = gloop_now();
}

static int neg_main(void *arg) {
  (void)arg;
  gloop_timer *tm;
  neg.before = gloop_now();
  ASSERT_OK(gloop_timer_new(&tm));
  ASSERT_OK(gloop_timer_start(tm, 50.0, neg_fired, NULL));
  neg.sleep_rc = gloop_sleep(100.0);
  neg.after_sleep = gloop_now();
  gloop_timer_free(tm);
  return 0;
}

static int scenario_mock_below_zero(int guest) {
  const double starts[] = {-100.0, -1e9, -(GLOOP_CLOCK_MAX - 200.0)};
  for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
    gloop_options o;
    memset(&neg, 0, sizeof neg);
    gloop_clock *clk = test_mock_options(&o, starts[i], 0.0);
    ASSERT_OK(run_in(guest, neg_main, NULL, &o));
    ASSERT_OK(neg.sleep_rc);
    ASSERT_NEAR(neg.before, starts[i], 1e-6 * fabs(starts[i]));
    ASSERT_NEAR(neg.after_sleep - neg.before, 100.0, 1e-3);
    ASSERT_EQ_INT(neg.fired, 1);
    ASSERT_NEAR(neg.timer_at - neg.before, 50.0, 1e-3);
    ASSERT_OK(gloop_clock_free(clk));
  }
  return 0;
}

BOTH_MODES(edge_mock_clock_below_zero, scenario_mock_below_zero)

/* ---- The mock clock never runs backwards, and stays inside its range ------------ */

TEST_CASE(edge_mock_clock_range) {
  gloop_clock *c = NULL;
  /* Starts outside the range are refused, not turned into infinity. */
  const double bad[] = {NAN, INFINITY, -INFINITY, 1e300, -1e300, GLOOP_CLOCK_MAX, -GLOOP_CLOCK_MAX, 9.3e9};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ASSERT_ERR(gloop_mock_clock_new(bad[i], 0.0, &c), GLOOP_EINVAL);
    ASSERT_NULL(c);
  }
  ASSERT_OK(gloop_mock_clock_new(0.0, INFINITY, &c));
  /* A jump past the range is refused and leaves the clock where it was. */
  ASSERT_ERR(gloop_mock_clock_jump(c, 1e10), GLOOP_EINVAL);
  ASSERT_NEAR(gloop_clock_now(c), 0.0, 1e-12);
  ASSERT_ERR(gloop_mock_clock_jump(c, INFINITY), GLOOP_EINVAL);
  ASSERT_NEAR(gloop_clock_now(c), 0.0, 1e-12);
  ASSERT_OK(gloop_mock_clock_jump(c, 1.0));
  ASSERT_NEAR(gloop_clock_now(c), 1.0, 1e-12);
  /* Jumps that add up past the range: the last one is refused. */
  ASSERT_OK(gloop_mock_clock_jump(c, 9e9));
  double high = gloop_clock_now(c);
  ASSERT_ERR(gloop_mock_clock_jump(c, 3e8), GLOOP_EINVAL);
  ASSERT_EQ_INT(gloop_clock_now(c) == high, 1);
  ASSERT_OK(gloop_mock_clock_jump(c, 0.0));
  ASSERT_OK(gloop_mock_clock_jump(c, 4.9e-324));
  ASSERT_GE_DBL(gloop_clock_now(c), high);
  ASSERT_OK(gloop_clock_free(c));

  /* From the bottom of the range, every jump moves forward. */
  ASSERT_OK(gloop_mock_clock_new(-(GLOOP_CLOCK_MAX - 1.0), INFINITY, &c));
  double prev = gloop_clock_now(c);
  for (int i = 0; i < 4; i++) {
    ASSERT_OK(gloop_mock_clock_jump(c, 4e9));
    ASSERT_GT_DBL(gloop_clock_now(c), prev);
    prev = gloop_clock_now(c);
  }
  ASSERT_ERR(gloop_mock_clock_jump(c, 4e9), GLOOP_EINVAL);
  ASSERT_EQ_INT(gloop_clock_now(c) == prev, 1);
  ASSERT_OK(gloop_clock_free(c));
  return 0;
}

/* ---- Deadlines of -INFINITY ---------------------------------------------------- */

/* A scope opened (or moved) to -inf after the tick's last look at the timers
 * used to leave -inf as the run's next deadline; the wait computed from it
 * (next - now) overflowed into a wait of centuries. Each task first computes
 * for ~30 µs, so a tick's budget runs out between two looks at the timers. */
enum { NINF_TASKS = 100 };

static struct {
  int cancelled, caught;
} ninf;

static int ninf_task(void *arg) {
  gloop_scope *s;
  double t0 = test_real_now();
  while (test_real_now() - t0 < 30e-6) {
  }
  if (arg == NULL) {
    ASSERT_OK(gloop_scope_open(-INFINITY, 0, &s));
  } else {
    ASSERT_OK(gloop_scope_open(INFINITY, 0, &s));
    ASSERT_OK(gloop_scope_set_deadline(s, -INFINITY));
    ASSERT_EQ_INT(isinf(gloop_scope_deadline(s)) && gloop_scope_deadline(s) < 0, 1);
  }
  if (gloop_sleep_forever() == GLOOP_ECANCELED) ninf.cancelled++;
  ninf.caught += gloop_scope_cancelled_caught(s);
  ASSERT_OK(gloop_scope_close(s));
  return 0;
}

static int ninf_main(void *arg) {
  gloop_nursery *n;
  ASSERT_OK(gloop_nursery_open(&n));
  for (int i = 0; i < NINF_TASKS; i++) ASSERT_OK(gloop_nursery_start(n, ninf_task, arg, NULL, NULL));
  return gloop_nursery_close(n);
}

static int scenario_neg_inf_deadline(int guest) {
  const double budgets[] = {0.0, GLOOP_DEFAULT_TICK_BUDGET};
  for (size_t i = 0; i < 2 * sizeof budgets / sizeof budgets[0]; i++) {
    gloop_options o;
    gloop_options_init(&o);
    o.tick_budget = budgets[i / 2];
    memset(&ninf, 0, sizeof ninf);
    /* Even rounds open the scope at -inf, odd rounds move it there. */
    ASSERT_OK(run_in(guest, ninf_main, i % 2 ? (void *)1 : NULL, &o));
    ASSERT_EQ_INT(ninf.cancelled, NINF_TASKS);
    ASSERT_EQ_INT(ninf.caught, NINF_TASKS);
  }
  return 0;
}

BOTH_MODES(edge_negative_infinite_deadline, scenario_neg_inf_deadline)

/* ---- Infinite idle timeout of the worker pool ----------------------------------- */

static void *identity(void *arg) { return arg; }

static int idle_main(void *arg) {
  (void)arg;
  void *r = NULL;
  ASSERT_OK(gloop_to_thread(identity, (void *)(intptr_t)7, 0, &r));
  ASSERT_EQ_PTR(r, (void *)(intptr_t)7);
  return 0;
}

static int scenario_idle_timeout(int guest) {
  /* Timeouts beyond what a timespec holds used to make the worker's timed
   * wait fail with EINVAL at once, so it spun holding the pool's lock and
   * closing the pool never finished. */
  const double timeouts[] = {INFINITY, 1e300, 9.3e9, GLOOP_CLOCK_MAX, 4.9e-324, 1e-9};
  for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
    gloop_options o;
    gloop_options_init(&o);
    o.thread_idle_timeout = timeouts[i];
    ASSERT_OK(run_in(guest, idle_main, NULL, &o));
  }
  return 0;
}

BOTH_MODES(edge_thread_idle_timeout, scenario_idle_timeout)

/* ---- Two jobs that need each other run at the same time ------------------------- */

/* The second job signals the first, which waits for it. A pool that queued
 * the second job behind a signalled but not yet woken worker would run them
 * one after the other and deadlock; the first job's wait is bounded so a
 * failure shows as a result, not a hang. */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int signalled;
  int first_saw_second;
} pair;

static void *first_job(void *arg) {
  (void)arg;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)test_limit(5.0);
  pthread_mutex_lock(&pair.mu);
  while (!pair.signalled)
    if (pthread_cond_timedwait(&pair.cv, &pair.mu, &ts) != 0) break;
  pair.first_saw_second = pair.signalled;
  pthread_mutex_unlock(&pair.mu);
  return NULL;
}

static void *second_job(void *arg) {
  (void)arg;
  pthread_mutex_lock(&pair.mu);
  pair.signalled = 1;
  pthread_cond_signal(&pair.cv);
  pthread_mutex_unlock(&pair.mu);
  return NULL;
}

static int job_task(void *arg) {
  return gloop_to_thread(arg == NULL ? first_job : second_job, NULL, 0, NULL);
}

static int pair_main(void *arg) {
  (void)arg;
  gloop_nursery *n;
  /* One job first, so that one worker exists and waits, idle: the first job
   * of the pair goes to it, and the second is submitted before it woke. */
  ASSERT_OK(gloop_to_thread(identity, NULL, 0, NULL));
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, job_task, NULL, NULL, NULL));
  ASSERT_OK(gloop_nursery_start(n, job_task, (void *)1, NULL, NULL));
  return gloop_nursery_close(n);
}

TEST_CASE(edge_worker_jobs_run_in_parallel) {
  int rounds = test_count(200, 40);
  for (int i = 0; i < rounds; i++) {
    pthread_mutex_init(&pair.mu, NULL);
    pthread_cond_init(&pair.cv, NULL);
    pair.signalled = pair.first_saw_second = 0;
    gloop_options o;
    gloop_options_init(&o);
    o.max_threads = 16;
    ASSERT_OK(gloop_run(pair_main, NULL, &o, NULL, NULL));
    if (!pair.first_saw_second) TEST_FAIL("round %d: the two jobs did not run at the same time", i);
    pthread_cond_destroy(&pair.cv);
    pthread_mutex_destroy(&pair.mu);
  }
  return 0;
}

/* ---- An unbounded semaphore at UINT_MAX ------------------------------------------ */

static int sem_main(void *arg) {
  (void)arg;
  gloop_semaphore *s;
  ASSERT_OK(gloop_semaphore_new(UINT_MAX - 1, 0, &s));
  ASSERT_OK(gloop_semaphore_release(s));
  ASSERT_EQ_UINT(gloop_semaphore_value(s), UINT_MAX);
  ASSERT_ERR(gloop_semaphore_release(s), GLOOP_EOVERFLOW);
  ASSERT_EQ_UINT(gloop_semaphore_value(s), UINT_MAX);
  ASSERT_OK(gloop_semaphore_acquire(s));
  ASSERT_EQ_UINT(gloop_semaphore_value(s), UINT_MAX - 1);
  gloop_semaphore_free(s);
  return 0;
}

TEST_CASE(edge_semaphore_at_uint_max) { return gloop_run(sem_main, NULL, NULL, NULL, NULL); }
