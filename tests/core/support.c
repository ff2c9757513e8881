/* support.c - helpers shared by the core cases: order logs, reduced counts for slow builds, mock-clock options, a one-call guest run and the two run modes. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "host_toy.h"
#include "test.h"

void test_log_add(test_log *log, int v) {
  if (log->len >= TEST_LOG_CAP) TEST_FAIL("test_log overflow (more than %d entries)", TEST_LOG_CAP);
  log->items[log->len++] = v;
}

static void format_ints(char *buf, size_t cap, const int *v, int n) {
  size_t used = 0;
  buf[0] = '\0';
  for (int i = 0; i < n && used + 16 < cap; i++)
    used += (size_t)snprintf(buf + used, cap - used, "%s%d", i ? " " : "", v[i]);
}

void test_log_expect_(const char *file, int line, const char *what, const test_log *log,
                      const int *want, int n) {
  int ok = log->len == n;
  for (int i = 0; ok && i < n; i++) ok = log->items[i] == want[i];
  if (!ok) {
    char got[512], exp[512];
    format_ints(got, sizeof got, log->items, log->len);
    format_ints(exp, sizeof exp, want, n);
    test_fail_(file, line, "log %s: expected [%s], got [%s]", what, exp, got);
  }
}

/* ---- Small helpers ------------------------------------------------------ */

int test_count(int full, int slow) {
  if (test_time_scale() <= 1.0) return full;
  printf("slow build (time scale %g): %d instead of %d\n", test_time_scale(), slow, full);
  return slow;
}

gloop_clock *test_mock_options(gloop_options *opts, double start, double autojump) {
  gloop_clock *clk = NULL;
  gloop_options_init(opts);
  ASSERT_OK(gloop_mock_clock_new(start, autojump, &clk));
  ASSERT_NOT_NULL(clk);
  opts->clock = clk;
  return clk;
}

int test_guest_run(gloop_task_fn entry, void *arg, const gloop_options *opts,
                   int use_not_threadsafe) {
  host_toy_init();
  ASSERT_OK(host_toy_start(entry, arg, opts, use_not_threadsafe));
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_EQ_INT(s.done_calls, 1);
  ASSERT_EQ_INT(s.done_off_host, 0);
  ASSERT_EQ_INT(s.done_message_null, 0);
  ASSERT_EQ_INT(gloop_in_run(), 0);
  host_toy_fini();
  return s.done_status;
}

/* The thread that runs the loop: the caller of gloop_run(), or the toy's
 * host thread. Set by test_mark_loop_thread() before the run starts. */
static pthread_t loop_thread;

void test_mark_loop_thread(void) { loop_thread = pthread_self(); }

int test_run_mode(int guest, gloop_task_fn entry, void *arg, const gloop_options *opts) {
  test_mark_loop_thread();
  if (guest) return test_guest_run(entry, arg, opts, 1);
  int rc = gloop_run(entry, arg, opts, NULL, NULL);
  ASSERT_EQ_INT(gloop_in_run(), 0);
  return rc;
}

int test_on_loop_thread(void) { return pthread_equal(pthread_self(), loop_thread); }
