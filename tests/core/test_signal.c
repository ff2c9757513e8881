/* test_signal.c - cases for the opt-in Ctrl-C helper, gloop_cancel_on_sigint(). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

/* The disposition in place before a run takes SIGINT: it counts. */
static volatile sig_atomic_t previous_hits;

static void previous_handler(int sig) {
  (void)sig;
  previous_hits++;
}

static void install_previous(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = previous_handler;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ_INT(sigaction(SIGINT, &sa, NULL), 0);
  previous_hits = 0;
}

/* ---- SIGINT wakes an idle run and cancels it ----------------------------- */

static int sleep_rc = 12345;
static int other_run_rc = 12345;

static int other_run_main(void *arg) {
  (void)arg;
  other_run_rc = gloop_cancel_on_sigint();
  return 0;
}

static void *other_thread(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_run(other_run_main, NULL, NULL, NULL, NULL));
  return NULL;
}

static int idle_main(void *arg) {
  pthread_t th;
  (void)arg;
  ASSERT_OK(gloop_cancel_on_sigint());
  /* Only one run in the process can own SIGINT. */
  ASSERT_EQ_INT(pthread_create(&th, NULL, other_thread, NULL), 0);
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  sleep_rc = gloop_sleep_forever();
  return sleep_rc;
}

static int in_sleep(void *arg) {
  (void)arg;
  return other_run_rc != 12345;
}

static void send_sigint(void *arg) {
  (void)arg;
  raise(SIGINT);
}

TEST_CASE(sigint_cancels_run) {
  ASSERT_ERR(gloop_cancel_on_sigint(), GLOOP_ENORUN);
  install_previous();
  host_toy_init();
  ASSERT_OK(host_toy_start(idle_main, NULL, NULL, 1));
  host_toy_run_until(in_sleep, NULL, 5.0);
  /* From the host thread, while the run waits with no deadline at all. */
  host_toy_call_later(0.010, send_sigint, NULL);
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_ERR(other_run_rc, GLOOP_EBUSY);
  ASSERT_ERR(sleep_rc, GLOOP_ECANCELED);
  ASSERT_EQ_INT(previous_hits, 0);
  ASSERT_ERR(s.done_status, GLOOP_ECANCELED);
  ASSERT_STR_CONTAINS(s.done_message, "SIGINT");
  host_toy_fini();
  /* The previous handler is back once the run has ended. */
  raise(SIGINT);
  ASSERT_EQ_INT(previous_hits, 1);
  return 0;
}

/* ---- A second SIGINT gets the previous disposition ----------------------- */

typedef struct second_state {
  int hits_after_first, hits_after_second;
  int shielded_rc;
  int after_rc;
} second_state;

static second_state sec;

static int second_main(void *arg) {
  gloop_scope *s;
  (void)arg;
  ASSERT_OK(gloop_cancel_on_sigint());
  ASSERT_OK(gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &s));
  raise(SIGINT);
  sec.hits_after_first = previous_hits;
  /* The cancel lands at the next tick; the shield keeps us going. */
  sec.shielded_rc = gloop_sleep(0.002);
  raise(SIGINT);
  sec.hits_after_second = previous_hits;
  ASSERT_OK(gloop_scope_close(s));
  sec.after_rc = gloop_checkpoint();
  return 0;
}

TEST_CASE(sigint_second_signal) {
  gloop_options o;
  memset(&sec, 0, sizeof sec);
  install_previous();
  /* One batch per tick, so the sleep below surely ends in a later tick,
   * which is where the pending SIGINT turns into the cancel. */
  gloop_options_init(&o);
  o.tick_budget = 0;
  ASSERT_OK(test_guest_run(second_main, NULL, &o, 1));
  ASSERT_EQ_INT(sec.hits_after_first, 0);
  ASSERT_OK(sec.shielded_rc);
  ASSERT_EQ_INT(sec.hits_after_second, 1);
  ASSERT_ERR(sec.after_rc, GLOOP_ECANCELED);
  /* Restored at the end of the run. */
  raise(SIGINT);
  ASSERT_EQ_INT(previous_hits, 2);
  return 0;
}

/* ---- Ctrl-C after the run has already failed ------------------------------------------ */

/* The main task fails; a system task's shielded cleanup keeps the run alive
 * and a SIGINT arrives meanwhile. The failure stays the outcome, and its
 * message says that the interrupt came too (it used to be lost). */
static int late_cleanup_rc = 12345;
static int late_cleaner(void *arg) {
  gloop_scope *shield;
  (void)arg;
  ASSERT_OK(gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &shield));
  /* Wait until the main task has failed and ended. */
  while (gloop_in_run() && !*(int *)arg) ASSERT_OK(gloop_sleep(0.001));
  raise(SIGINT);
  /* The interrupt is delivered at the next tick; the cleanup goes on. */
  late_cleanup_rc = gloop_sleep(0.010);
  ASSERT_OK(gloop_scope_close(shield));
  return 0;
}

static int late_main_done;
static int late_main(void *arg) {
  (void)arg;
  gloop_token *tok;
  ASSERT_OK(gloop_cancel_on_sigint());
  ASSERT_OK(gloop_token_new(&tok));
  ASSERT_OK(gloop_token_start(tok, late_cleaner, &late_main_done, "cleanup"));
  gloop_token_free(tok);
  ASSERT_OK(gloop_sleep(0.002)); /* the cleaner is in its shield */
  late_main_done = 1;
  return gloop_fail(GLOOP_EPIPE, "the main task failed");
}

static char late_message[512];
static int late_status;
static void late_done(const gloop_outcome *o, void *data) {
  (void)data;
  late_status = o->status;
  snprintf(late_message, sizeof late_message, "%s", o->message);
}

TEST_CASE(sigint_after_failure_reported) {
  ASSERT_ERR(gloop_run(late_main, NULL, NULL, late_done, NULL), GLOOP_EPIPE);
  ASSERT_OK(late_cleanup_rc);
  ASSERT_ERR(late_status, GLOOP_EPIPE);
  ASSERT_STR_CONTAINS(late_message, "the main task failed");
  ASSERT_STR_CONTAINS(late_message, "SIGINT");
  return 0;
}
