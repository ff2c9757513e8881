/* sigint.c - the opt-in Ctrl-C helper: SIGINT becomes a cancellation of the run. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* One run in the process may own SIGINT. The handler only does
 * async-signal-safe things: it sets a flag and signals the owning run's
 * wake-up, which wakes an idle run; the next tick sees the flag and cancels
 * the run's root scope on the host thread, where that is allowed.
 *
 * The handler may run on any thread at any moment, also while the owner
 * lets go at the run's end. It holds no lock, so it announces itself in
 * `in_handler` before it loads the wake-up; the release clears the owner
 * and then waits until no handler is inside before it drops its reference,
 * so a handler never signals a freed wake-up. */
static _Atomic uint32_t owner_token;
static gloop__wake *_Atomic owner_wake;
static _Atomic int in_handler;
_Atomic int gloop__sigint_pending;
static struct sigaction previous;
static pthread_mutex_t install_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_sigint(int sig) {
  int saved = errno;
  if (atomic_exchange(&gloop__sigint_pending, 1)) {
    /* Second Ctrl-C while the first is still being handled: give the user
     * the previous behaviour back, at once. */
    sigaction(SIGINT, &previous, NULL);
    raise(sig);
    errno = saved;
    return;
  }
  atomic_fetch_add(&in_handler, 1);
  gloop__wake *w = atomic_load(&owner_wake);
  if (w != NULL) gloop__wake_signal(w);
  atomic_fetch_sub(&in_handler, 1);
  errno = saved;
}

int gloop_cancel_on_sigint(void) {
  gloop__run *run = gloop__run_current();
  if (run == NULL || run->phase != GLOOP__RUN_LIVE) return GLOOP_ENORUN;
  pthread_mutex_lock(&install_mu);
  uint32_t cur = atomic_load(&owner_token);
  int rc = 0;
  if (cur == run->token) {
    rc = 0;
  } else if (cur != 0) {
    rc = GLOOP_EBUSY;
  } else {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    atomic_store(&gloop__sigint_pending, 0);
    gloop__wake_ref(run->wake);
    atomic_store(&owner_wake, run->wake);
    atomic_store(&owner_token, run->token);
    if (sigaction(SIGINT, &sa, &previous) != 0) {
      atomic_store(&owner_token, 0);
      atomic_store(&owner_wake, NULL);
      gloop__wake_unref(run->wake);
      rc = GLOOP_EINTERNAL;
    }
  }
  pthread_mutex_unlock(&install_mu);
  return rc;
}

void gloop__sigint_deliver(gloop__run *run) {
  if (atomic_load(&owner_token) != run->token || run->interrupted) return;
  run->interrupted = 1;
  gloop__scope_cancel(&run->root);
}

void gloop__sigint_release(gloop__run *run) {
  pthread_mutex_lock(&install_mu);
  if (atomic_load(&owner_token) == run->token) {
    sigaction(SIGINT, &previous, NULL);
    gloop__wake *w = atomic_exchange(&owner_wake, NULL);
    atomic_store(&owner_token, 0);
    atomic_store(&gloop__sigint_pending, 0);
    /* A handler that loaded w before the exchange is still inside. */
    while (atomic_load(&in_handler) != 0) sched_yield();
    gloop__wake_unref(w);
  }
  pthread_mutex_unlock(&install_mu);
}
