/* sigint.c - the opt-in Ctrl-C helper: SIGINT becomes a cancellation of the run. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* One run in the process may own SIGINT. The handler only does
 * async-signal-safe things: it sets a flag and writes the owning run's
 * eventfd, which wakes an idle run; the next tick sees the flag and cancels
 * the run's root scope on the host thread, where that is allowed. */
static _Atomic uint32_t owner_token;
static _Atomic int owner_wakefd = -1;
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
  int fd = atomic_load(&owner_wakefd);
  if (fd >= 0) {
    uint64_t one = 1;
    ssize_t w = write(fd, &one, sizeof one);
    (void)w;
  }
  errno = saved;
}

int gloop_cancel_on_sigint(void) {
  gloop__run *run = gloop__run_current();
  if (run == NULL || run->finished) return GLOOP_ENORUN;
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
    atomic_store(&owner_wakefd, run->wakefd);
    atomic_store(&owner_token, run->token);
    if (sigaction(SIGINT, &sa, &previous) != 0) {
      atomic_store(&owner_token, 0);
      atomic_store(&owner_wakefd, -1);
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
    atomic_store(&owner_wakefd, -1);
    atomic_store(&owner_token, 0);
    atomic_store(&gloop__sigint_pending, 0);
  }
  pthread_mutex_unlock(&install_mu);
}
