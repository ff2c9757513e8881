/* wake.c - the run's wake-up: one eventfd and one "already signalled" flag, shared by the run, its entry queue and the Ctrl-C helper. */
#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "guestloop/testing.h"
#include "internal.h"

/* The one invariant: `pending` is 1 exactly while the fd has been (or is
 * about to be) written and not yet read. A signaller that finds it set
 * writes nothing, so a burst of wake-ups costs one system call; the waiter
 * reads the fd before it clears the flag, so a wake-up that lands in
 * between finds the flag still set, and the waiter, which has not yet
 * looked at its work, sees that wake-up's work when it does.
 *
 * The object is reference counted because the entry queue (and through it
 * tokens and worker jobs) may outlive the run: the fd stays open until the
 * last holder lets go, so a late signal never writes to a closed or reused
 * descriptor. */
struct gloop__wake {
  int fd;
  _Atomic int pending;
  _Atomic int refs;
};

int gloop__wake_new(gloop__wake **out) {
  if (gloop__fault(GLOOP_FAULT_FD)) return GLOOP_ENOMEM;
  gloop__wake *w = gloop__sys_malloc(sizeof *w);
  if (w == NULL) return GLOOP_ENOMEM;
  w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (w->fd < 0) {
    int rc = (errno == EMFILE || errno == ENFILE) ? GLOOP_EMFILE : GLOOP_ENOMEM;
    free(w);
    return rc;
  }
  atomic_init(&w->pending, 0);
  atomic_init(&w->refs, 1);
  *out = w;
  return 0;
}

void gloop__wake_ref(gloop__wake *w) { atomic_fetch_add_explicit(&w->refs, 1, memory_order_relaxed); }

void gloop__wake_unref(gloop__wake *w) {
  if (w == NULL || atomic_fetch_sub(&w->refs, 1) != 1) return;
  close(w->fd);
  free(w);
}

int gloop__wake_fd(const gloop__wake *w) { return w->fd; }

/* Async-signal-safe: two atomic operations and write(2). The first load
 * keeps the common case (a run that is awake, or already woken) free of any
 * atomic read-modify-write. The caller published its work before calling;
 * the load is sequentially consistent so that it is ordered after that
 * publication against the waiter's clear-then-look (see the top). */
void gloop__wake_signal(gloop__wake *w) {
  if (atomic_load(&w->pending) || atomic_exchange(&w->pending, 1)) return;
  uint64_t one = 1;
  ssize_t n;
  do n = write(w->fd, &one, sizeof one);
  while (n < 0 && errno == EINTR);
}

/* The host thread, before it looks at the work that the wake-up announced
 * (see run.c's tick): reads the fd, then clears the flag, in that order. */
void gloop__wake_consume(gloop__wake *w) {
  uint64_t v;
  ssize_t n = read(w->fd, &v, sizeof v);
  (void)n;
  atomic_store(&w->pending, 0);
}
