/* test_edge_values.c - every double parameter of the API fed NaN, infinities, zeros, denormals, huge values and the 64-bit nanosecond limits, and every count and size at 0, 1, INT_MAX, SIZE_MAX and their neighbours, each checked against its documented rule. */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

/* The values every parameter is fed. The nanosecond limits are the seconds
 * at which 64-bit nanoseconds overflow. */
static const double values[] = {
    NAN,     INFINITY, -INFINITY, 0.0,    -0.0,   4.9e-324, -4.9e-324, 1.0,
    1e300,   -1e300,   9.3e9,     -9.3e9, 9.223372036854775807e9, -9.223372036854775808e9,
    1000.5,  1e-9,
};
#define NVALUES (sizeof values / sizeof values[0])

/* The case runs each value in a task of a fresh standalone run on a mock
 * clock that starts at 0 and jumps as soon as the run is idle, inside an
 * outer scope that cancels at clock time LIMIT: "forever" ends there, in no
 * real time, and shows as GLOOP_ECANCELED at LIMIT. */
#define LIMIT 1000.0

typedef struct probe {
  int (*apply)(double v);   /* runs inside the outer scope; returns the result */
  double v;
  int rc;                   /* what apply returned */
  double at;                /* the clock when apply returned */
  int outer_caught;         /* the outer scope ended the wait */
} probe;

static int probe_main(void *arg) {
  probe *p = arg;
  gloop_scope *outer;
  ASSERT_OK(gloop_scope_open(LIMIT, 0, &outer));
  p->rc = p->apply(p->v);
  p->at = gloop_now();
  p->outer_caught = gloop_scope_cancelled_caught(outer);
  ASSERT_OK(gloop_scope_close(outer));
  return 0;
}

static probe run_probe(int (*apply)(double), double v) {
  gloop_options o;
  probe p = {apply, v, 12345, NAN, 0};
  gloop_clock *clk = test_mock_options(&o, 0.0, 0.0);
  ASSERT_OK(gloop_run(probe_main, &p, &o, NULL, NULL));
  ASSERT_OK(gloop_clock_free(clk));
  return p;
}

/* Checks one outcome: the result and the clock when the call returned. */
static void expect(const char *param, double v, const probe *p, int rc, double at) {
  int ok = p->rc == rc && (isnan(at) || fabs(p->at - at) <= 1e-6 * (1.0 + fabs(at)));
  printf("%-28s %-12g -> %-14s at %-10g %s\n", param, v, gloop_err_name(p->rc), p->at, ok ? "ok" : "WRONG");
  if (!ok)
    TEST_FAIL("%s(%g): expected %s at clock %g, got %s at %g", param, v, gloop_err_name(rc), at,
              gloop_err_name(p->rc), p->at);
}

/* When a wait that should end at clock time `t` ends: at t if before the
 * outer limit (never before now = 0), else cancelled by the outer scope. */
static void expect_wait_until(const char *param, double v, const probe *p, double t) {
  if (t < LIMIT)
    expect(param, v, p, 0, t > 0 ? t : 0);
  else
    expect(param, v, p, GLOOP_ECANCELED, LIMIT);
}

/* The two rules of time parameters. A duration: NaN or negative is refused,
 * anything else waits that long. A deadline: NaN is refused, anything else
 * waits until then (at once if it is past). */
static void expect_duration(const char *param, double v, const probe *p) {
  if (isnan(v) || v < 0)
    expect(param, v, p, GLOOP_EINVAL, 0);
  else
    expect_wait_until(param, v, p, v);
}
static void expect_deadline(const char *param, double v, const probe *p) {
  if (isnan(v))
    expect(param, v, p, GLOOP_EINVAL, 0);
  else
    expect_wait_until(param, v, p, v);
}

/* ---- Durations and deadlines of tasks ------------------------------------------- */

static int apply_sleep(double v) { return gloop_sleep(v); }
static int apply_sleep_until(double v) { return gloop_sleep_until(v); }

TEST_CASE(edge_values_sleep) {
  for (size_t i = 0; i < NVALUES; i++) {
    double v = values[i];
    probe p = run_probe(apply_sleep, v);
    expect_duration("gloop_sleep", v, &p);
    p = run_probe(apply_sleep_until, v);
    expect_deadline("gloop_sleep_until", v, &p);
  }
  return 0;
}

/* A scope with the given deadline (or duration) around a wait forever: the
 * scope's own deadline ends it, or the outer scope does. The result is 0
 * when the inner scope caught the cancellation. */
static int wait_in(gloop_scope *s) {
  int w = gloop_sleep_forever();
  int caught = gloop_scope_cancelled_caught(s);
  int close_rc = gloop_scope_close(s);
  if (close_rc) return close_rc;
  return caught ? 0 : w;
}
static int apply_scope_open(double v) {
  gloop_scope *s = NULL;
  int rc = gloop_scope_open(v, 0, &s);
  return rc ? rc : wait_in(s);
}
static int apply_move_on_after(double v) {
  gloop_scope *s = NULL;
  int rc = gloop_move_on_after(v, &s);
  return rc ? rc : wait_in(s);
}
static int apply_fail_after(double v) {
  gloop_scope *s = NULL;
  int rc = gloop_fail_after(v, &s);
  if (rc) return rc;
  gloop_sleep_forever();
  return gloop_scope_close(s); /* GLOOP_ETIMEDOUT when its deadline fired */
}
static int apply_set_deadline(double v) {
  gloop_scope *s = NULL;
  int rc = gloop_scope_open(INFINITY, 0, &s);
  if (rc) return rc;
  rc = gloop_scope_set_deadline(s, v);
  if (rc) {
    gloop_scope_close(s);
    return rc;
  }
  return wait_in(s);
}

TEST_CASE(edge_values_scopes) {
  for (size_t i = 0; i < NVALUES; i++) {
    double v = values[i];
    probe p = run_probe(apply_scope_open, v);
    expect_deadline("gloop_scope_open", v, &p);
    p = run_probe(apply_set_deadline, v);
    expect_deadline("gloop_scope_set_deadline", v, &p);
    p = run_probe(apply_move_on_after, v);
    expect_duration("gloop_move_on_after", v, &p);

    p = run_probe(apply_fail_after, v);
    if (isnan(v) || v < 0)
      expect("gloop_fail_after", v, &p, GLOOP_EINVAL, 0);
    else if (v < LIMIT)
      expect("gloop_fail_after", v, &p, GLOOP_ETIMEDOUT, v);
    else
      expect("gloop_fail_after", v, &p, 0, LIMIT); /* the outer scope ended it */
  }
  return 0;
}

/* ---- Timers ------------------------------------------------------------------------ */

static void timer_fired(void *arg) { gloop_event_set(arg); }

static int apply_timer_start(double v) {
  gloop_timer *tm;
  gloop_event *ev;
  ASSERT_OK(gloop_timer_new(&tm));
  ASSERT_OK(gloop_event_new(&ev));
  int rc = gloop_timer_start(tm, v, timer_fired, ev);
  if (rc == 0) rc = gloop_event_wait(ev);
  gloop_timer_free(tm);
  gloop_event_free(ev);
  return rc;
}

TEST_CASE(edge_values_timer) {
  for (size_t i = 0; i < NVALUES; i++) {
    double v = values[i];
    probe p = run_probe(apply_timer_start, v);
    expect_duration("gloop_timer_start", v, &p);
  }
  return 0;
}

/* ---- Mock clocks ------------------------------------------------------------------- */

TEST_CASE(edge_values_mock_clock) {
  for (size_t i = 0; i < NVALUES; i++) {
    double v = values[i];
    gloop_clock *c = NULL;
    int in_range = !isnan(v) && v > -GLOOP_CLOCK_MAX && v < GLOOP_CLOCK_MAX;

    int rc = gloop_mock_clock_new(v, INFINITY, &c);
    printf("gloop_mock_clock_new(start) %-12g -> %s\n", v, gloop_err_name(rc));
    ASSERT_ERR(rc, in_range ? 0 : GLOOP_EINVAL);
    if (rc == 0) {
      /* Clocks keep whole nanoseconds: a denormal start reads 0. */
      ASSERT_NEAR(gloop_clock_now(c), v, 1e-9 + fabs(v) * 1e-15);
      gloop_clock_free(c);
    }

    rc = gloop_mock_clock_new(0.0, v, &c);
    printf("gloop_mock_clock_new(thr)   %-12g -> %s\n", v, gloop_err_name(rc));
    ASSERT_ERR(rc, isnan(v) || v < 0 ? GLOOP_EINVAL : 0);
    if (rc == 0) {
      ASSERT_ERR(gloop_mock_clock_set_autojump(c, v), 0);
      gloop_clock_free(c);
    }

    ASSERT_OK(gloop_mock_clock_new(0.0, INFINITY, &c));
    ASSERT_ERR(gloop_mock_clock_set_autojump(c, v), isnan(v) || v < 0 ? GLOOP_EINVAL : 0);
    rc = gloop_mock_clock_jump(c, v);
    printf("gloop_mock_clock_jump       %-12g -> %s, reads %g\n", v, gloop_err_name(rc), gloop_clock_now(c));
    ASSERT_ERR(rc, isnan(v) || v < 0 || v >= GLOOP_CLOCK_MAX ? GLOOP_EINVAL : 0);
    if (rc == 0)
      ASSERT_NEAR(gloop_clock_now(c), v, 1e-9 + fabs(v) * 1e-15);
    else
      ASSERT_EQ_INT(gloop_clock_now(c) == 0.0, 1); /* a refused jump moves nothing */
    gloop_clock_free(c);
  }
  return 0;
}

/* ---- Run options ------------------------------------------------------------------- */

static void *identity(void *arg) { return arg; }
static void refused_done(const gloop_outcome *o, void *data) {
  (void)o;
  (void)data;
  TEST_FAIL("done_cb of a refused start was called");
}
static int option_main(void *arg) {
  (void)arg;
  void *r = NULL;
  /* A few steps, a sleep and a worker job: the budget and the idle timeout
   * are both used. */
  for (int i = 0; i < 3; i++) ASSERT_OK(gloop_checkpoint());
  ASSERT_OK(gloop_sleep(0.001));
  ASSERT_OK(gloop_to_thread(identity, (void *)8, 0, &r));
  ASSERT_EQ_PTR(r, (void *)8);
  return 0;
}

TEST_CASE(edge_values_run_options) {
  for (size_t i = 0; i < NVALUES; i++) {
    double v = values[i];
    int bad = isnan(v) || v < 0;
    gloop_options o;
    gloop_options_init(&o);
    o.tick_budget = v;
    int rc = gloop_run(option_main, NULL, &o, NULL, NULL);
    printf("tick_budget         %-12g -> %s\n", v, gloop_err_name(rc));
    ASSERT_ERR(rc, bad ? GLOOP_EINVAL : 0);
    if (bad) {
      ASSERT_ERR(gloop_start_guest_run_ex(option_main, NULL, host_toy_post_threadsafe, refused_done,
                                          NULL, &o),
                 GLOOP_EINVAL);
    } else {
      ASSERT_OK(test_guest_run(option_main, NULL, &o, 1));
    }

    gloop_options_init(&o);
    o.thread_idle_timeout = v;
    rc = gloop_run(option_main, NULL, &o, NULL, NULL);
    printf("thread_idle_timeout %-12g -> %s\n", v, gloop_err_name(rc));
    ASSERT_ERR(rc, bad ? GLOOP_EINVAL : 0);

    gloop_options_init(&o);
    o.timer_spin = v;
    rc = gloop_run(option_main, NULL, &o, NULL, NULL);
    printf("timer_spin          %-12g -> %s\n", v, gloop_err_name(rc));
    ASSERT_ERR(rc, bad ? GLOOP_EINVAL : 0);
    if (!bad) ASSERT_OK(test_guest_run(option_main, NULL, &o, 1));
  }
  return 0;
}

/* ---- Counts and sizes ---------------------------------------------------------------- */

static const size_t sizes[] = {
    0, 1, 2, GLOOP_MIN_STACK_SIZE - 1, GLOOP_MIN_STACK_SIZE, GLOOP_MIN_STACK_SIZE + 1,
    GLOOP_MAX_STACK_SIZE + 1, (size_t)INT_MAX - 1, (size_t)INT_MAX, (size_t)INT_MAX + 1,
    (size_t)UINT_MAX, SIZE_MAX / 2, SIZE_MAX - 1, SIZE_MAX,
};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static int stack_ok(size_t s) { return s == 0 || (s >= GLOOP_MIN_STACK_SIZE && s <= GLOOP_MAX_STACK_SIZE); }

static int child_ran;
static int child(void *arg) {
  (void)arg;
  child_ran++;
  return gloop_checkpoint();
}
static int start_sized(void *arg) {
  gloop_nursery *n;
  ASSERT_OK(gloop_nursery_open(&n));
  int rc = gloop_nursery_start_ex(n, child, NULL, "sized", *(size_t *)arg, NULL);
  ASSERT_OK(gloop_nursery_close(n));
  return rc;
}

static int sized_main(void *arg) {
  (void)arg;
  gloop_semaphore *sem;
  unsigned u = *(unsigned *)arg;
  /* Semaphores: any initial value up to the bound (0 = unbounded). */
  ASSERT_OK(gloop_semaphore_new(u, 0, &sem));
  gloop_semaphore_free(sem);
  ASSERT_OK(gloop_semaphore_new(u, u, &sem));
  gloop_semaphore_free(sem);
  if (u > 0) {
    ASSERT_ERR(gloop_semaphore_new(u, u - 1, &sem), u - 1 == 0 ? 0 : GLOOP_EINVAL);
    if (u - 1 == 0) gloop_semaphore_free(sem);
  }
  return 0;
}

static int channel_main(void *arg) {
  size_t s = *(size_t *)arg;
  gloop_channel *ch = NULL;
  /* capacity s of 1-byte elements: a buffer of s bytes, or ENOMEM; above
   * PTRDIFF_MAX always ENOMEM, before any allocator is asked. Sizes between
   * a MiB and that are tried on plain builds only: AddressSanitizer and
   * valgrind report such requests as errors by design. */
  if (s > ((size_t)1 << 20) && s <= PTRDIFF_MAX && test_time_scale() > 1) {
    printf("gloop_channel_new(%zu, 1): skipped on this build\n", s);
    return 0;
  }
  int rc = gloop_channel_new(s, 1, &ch);
  printf("gloop_channel_new(%zu, 1) -> %s\n", s, gloop_err_name(rc));
  if (s <= ((size_t)1 << 20)) ASSERT_OK(rc);
  else if (s > PTRDIFF_MAX) ASSERT_ERR(rc, GLOOP_ENOMEM);
  else if (rc != 0) ASSERT_ERR(rc, GLOOP_ENOMEM);
  gloop_channel_free(ch);
  ch = NULL;
  /* elem_size s: 0 is refused; rendezvous channels keep no buffer. */
  rc = gloop_channel_new(0, s, &ch);
  ASSERT_ERR(rc, s == 0 ? GLOOP_EINVAL : 0);
  gloop_channel_free(ch);
  ch = NULL;
  /* capacity x elem_size past SIZE_MAX is refused, not wrapped. */
  if (s > 1) {
    rc = gloop_channel_new(SIZE_MAX / s + 1, s, &ch);
    ASSERT_ERR(rc, GLOOP_EINVAL);
  }
  return 0;
}

TEST_CASE(edge_values_counts) {
  for (size_t i = 0; i < NSIZES; i++) {
    size_t s = sizes[i];
    gloop_options o;

    gloop_options_init(&o);
    o.stack_size = s;
    o.guard_pages = 0;
    int rc = gloop_run(child, NULL, &o, NULL, NULL);
    printf("stack_size %-20zu -> %s\n", s, gloop_err_name(rc));
    ASSERT_ERR(rc, stack_ok(s) ? 0 : GLOOP_ESTACKSIZE);

    child_ran = 0;
    rc = gloop_run(start_sized, &s, NULL, NULL, NULL);
    printf("nursery_start_ex stack %-20zu -> %s\n", s, gloop_err_name(rc));
    ASSERT_ERR(rc, stack_ok(s) ? 0 : GLOOP_ESTACKSIZE);
    ASSERT_EQ_INT(child_ran, stack_ok(s) ? 1 : 0);

    gloop_options_init(&o);
    o.stack_cache = s;
    ASSERT_OK(gloop_run(start_sized, &(size_t){0}, &o, NULL, NULL));

    gloop_options_init(&o);
    o.max_threads = s > UINT_MAX ? UINT_MAX : (unsigned)s;
    ASSERT_OK(gloop_run(option_main, NULL, &o, NULL, NULL));

    unsigned u = s > UINT_MAX ? UINT_MAX : (unsigned)s;
    ASSERT_OK(gloop_run(sized_main, &u, NULL, NULL, NULL));
    ASSERT_OK(gloop_run(channel_main, &s, NULL, NULL, NULL));
  }
  return 0;
}
