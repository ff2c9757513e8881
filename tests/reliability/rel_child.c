/* rel_child.c - the helper program that test_subprocess.c runs in a child process: runs that meet SIGINT, and a task that overflows its stack. */
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guestloop/guestloop.h"
#include "rel.h"

/* The child reports each step on stdout, one line each, flushed at once,
 * so the parent can wait for "ready" before it sends a signal and can tell
 * how far the child got. Exit codes: 0 when the child saw what it expected,
 * 1 when it did not; dying by a signal is judged by the parent. */

static void say(const char *fmt, ...) TEST_PRINTF(1, 2);
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static int cleanups;
static int done_calls;
static int done_status;
static char done_message[256];

static void on_done(const gloop_outcome *o, void *data) {
  (void)data;
  done_calls++;
  done_status = o->status;
  snprintf(done_message, sizeof done_message, "%s", o->message);
  say("outcome: %s: %s", gloop_err_name(o->status), o->message);
}

/* A child task that waits until cancelled, then runs its cleanup. */
static int waiter(void *a) {
  (void)a;
  int rc = gloop_sleep_forever();
  cleanups++;
  say("cleanup ran (%s)", gloop_err_name(rc));
  return rc;
}

/* A child task that shields itself, so the run cannot end after the first
 * SIGINT until a second one arrives. */
static int stubborn(void *a) {
  (void)a;
  gloop_scope *s;
  if (gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &s) != 0) return GLOOP_EINTERNAL;
  int rc = gloop_sleep(30.0);
  gloop_scope_close(s);
  return rc;
}

static int raise_self;   /* the main task raises SIGINT itself */
static int with_handler; /* the main task calls gloop_cancel_on_sigint() */
static int shielded;     /* also start the stubborn child */

static int sig_main(void *a) {
  (void)a;
  gloop_nursery *n;
  int rc;
  if (with_handler && (rc = gloop_cancel_on_sigint()) != 0) {
    say("gloop_cancel_on_sigint failed: %s", gloop_err_name(rc));
    return rc;
  }
  if ((rc = gloop_nursery_open(&n)) != 0) return rc;
  gloop_nursery_start(n, waiter, NULL, "waiter", NULL);
  if (shielded) gloop_nursery_start(n, stubborn, NULL, "stubborn", NULL);
  /* Let the children block before the signal arrives. */
  gloop_sleep(0.01);
  if (raise_self) {
    raise(SIGINT);
    say("raised");
  } else {
    say("ready");
  }
  rc = gloop_sleep(30.0);
  say("main woke: %s", gloop_err_name(rc));
  int crc = gloop_nursery_close(n);
  return rc ? rc : crc;
}

/* The tiny host loop of rel_support.c hosts the guest-mode variants. */
static int run_guest(gloop_task_fn fn) {
  host_toy_init();
  int rc = gloop_start_guest_run(fn, NULL, host_toy_post_threadsafe, on_done, NULL);
  if (rc) return rc;
  while (done_calls == 0) host_toy_step(0.1);
  host_toy_drain();
  return done_status;
}

static int handler_is_default(void) {
  struct sigaction sa;
  sigaction(SIGINT, NULL, &sa);
  return sa.sa_handler == SIG_DFL;
}

static int check_cancelled_by_sigint(void) {
  int ok = done_calls == 1 && done_status == GLOOP_ECANCELED &&
           strcmp(done_message, "cancelled by SIGINT (Ctrl-C)") == 0 && cleanups == 1;
  if (!handler_is_default()) {
    say("the SIGINT handler was not restored after the run");
    ok = 0;
  }
  say(ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

/* ---- Stack overflow ------------------------------------------------------ */

/* Far deeper than any stack: 2^30 levels of 1 KiB frames never fit. */
static int deep(void *a) {
  (void)a;
  return test_recurse(1 << 30);
}

static int overflow_main(void *a) {
  (void)a;
  gloop_nursery *n;
  if (gloop_nursery_open(&n) != 0) return 1;
  say("ready");
  gloop_nursery_start_ex(n, deep, NULL, "deep-recursion", 64 * 1024, NULL);
  gloop_nursery_close(n);
  say("survived");
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <mode>\n", argv[0]);
    return 2;
  }
  /* "The default disposition" must be the starting point whatever the
   * parent left behind (a shell may start background jobs with SIGINT
   * ignored, and the disposition survives exec). */
  signal(SIGINT, SIG_DFL);
  const char *m = argv[1];
  if (strcmp(m, "sigint-self") == 0) {
    with_handler = raise_self = 1;
    gloop_run(sig_main, NULL, NULL, on_done, NULL);
    return check_cancelled_by_sigint();
  }
  if (strcmp(m, "sigint-external") == 0) {
    with_handler = 1;
    run_guest(sig_main);
    return check_cancelled_by_sigint();
  }
  if (strcmp(m, "sigint-default") == 0) {
    gloop_run(sig_main, NULL, NULL, on_done, NULL);
    say("the run ended although SIGINT has its default disposition");
    return 1;
  }
  if (strcmp(m, "sigint-second") == 0) {
    with_handler = shielded = 1;
    run_guest(sig_main);
    say("the run ended although a shielded task waits for 30 s");
    return 1;
  }
  if (strcmp(m, "sigint-restored") == 0) {
    with_handler = raise_self = 1;
    gloop_run(sig_main, NULL, NULL, on_done, NULL);
    if (check_cancelled_by_sigint() != 0) return 1;
    say("ended");
    raise(SIGINT);
    say("survived a SIGINT after the run");
    return 1;
  }
  if (strcmp(m, "overflow") == 0) {
    gloop_run(overflow_main, NULL, NULL, on_done, NULL);
    return 1;
  }
  fprintf(stderr, "unknown mode '%s'\n", m);
  return 2;
}
