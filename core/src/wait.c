/* wait.c - the run's blocking wait: epoll with its fallbacks, and in guest mode the helper thread that waits so that the host never blocks. */
#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guestloop/testing.h"
#include "internal.h"

void gloop__wait_init(gloop__run *run) {
  pthread_mutex_init(&run->wait.mu, NULL);
  pthread_cond_init(&run->wait.cv, NULL);
}

void gloop__wait_fini(gloop__run *run) {
  pthread_mutex_destroy(&run->wait.mu);
  pthread_cond_destroy(&run->wait.cv);
}

/* epoll_pwait2 through the C library's wrapper, or by number where the C
 * library has none; ENOSYS where neither the library nor the headers know it. */
static int pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *ts) {
#if defined(GLOOP_HAVE_EPOLL_PWAIT2)
  return epoll_pwait2(epfd, ev, max, ts, NULL);
#elif defined(SYS_epoll_pwait2)
  return (int)syscall(SYS_epoll_pwait2, epfd, ev, max, ts, NULL, 0);
#else
  (void)epfd, (void)ev, (void)max, (void)ts;
  errno = ENOSYS;
  return -1;
#endif
}

/* Blocks in epoll for at most `timeout` ns (-1 = forever) and reports
 * whether the wake-up fd fired. Used by the helper thread in guest mode and
 * by the calling thread in a standalone run. */
int gloop__wait_events(gloop__run *run, gloop__ns timeout) {
  struct epoll_event *ev = run->wait.ev;
  struct timespec ts, *tsp = NULL;
  if (timeout >= 0) {
    ts.tv_sec = timeout / 1000000000;
    ts.tv_nsec = timeout % 1000000000;
    tsp = &ts;
  }
  /* epoll_pwait2 (Linux 5.11) waits with nanosecond precision. A kernel or
   * an emulator (valgrind) without it answers ENOSYS, which is remembered
   * for the whole process, so later waits go straight to epoll_wait and its
   * milliseconds instead of failing first every time. */
  static atomic_int no_pwait2;
  int ms = timeout < 0 ? -1 : (int)((timeout + 999999) / 1000000);
  int n = -1;
  int failed_before = atomic_load(&run->io_errno) != 0;
  if (!failed_before) {
    errno = ENOSYS;
    if (!atomic_load_explicit(&no_pwait2, memory_order_relaxed))
      n = pwait2(run->io.epfd, ev, GLOOP__MAX_EVENTS, tsp);
    if (n < 0 && errno == ENOSYS) {
      atomic_store_explicit(&no_pwait2, 1, memory_order_relaxed);
      n = epoll_wait(run->io.epfd, ev, GLOOP__MAX_EVENTS, ms);
    }
    if (n < 0 && errno != EINTR) {
      /* Reported as a wake-up, so that a tick sees the failure at once. */
      atomic_store(&run->io_errno, errno);
      run->wait.nev = 0;
      return 1;
    }
  }
  if (n < 0 && failed_before) {
    /* The epoll instance is unusable: the run is being cancelled (see
     * tick()), and until it ends its waits still honour deadlines and
     * wake-ups, through poll() on the wake-up fd, instead of spinning. */
    struct pollfd pfd = {.fd = gloop__wake_fd(run->wake), .events = POLLIN};
    if (poll(&pfd, 1, ms) == 1) {
      ev[0].data.u64 = 0;
      n = 1;
    }
  }
  run->wait.nev = n > 0 ? n : 0;
  int woken = 0;
  for (int i = 0; i < n; i++) {
    if (ev[i].data.u64 == 0) woken = 1; /* consumed by the tick it leads to */
  }
  return woken;
}

/* ---- The helper thread (guest mode) ------------------------------------------ */

/* The helper sleeps on cv until the host hands it a wait (after a tick that
 * left the run idle), waits in epoll, records whether the wake-up fired and
 * posts the next tick through the host's threadsafe post. */
static void *helper_main(void *arg) {
  gloop__run *run = arg;
  gloop__waiter *w = &run->wait;
  /* The kernel may delay a timed wait by the thread's timer slack (50 µs by
   * default); the helper's waits are deadlines, so ask for the minimum. */
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (w->cmd == GLOOP__HELPER_IDLE) pthread_cond_wait(&w->cv, &w->mu);
    if (w->cmd == GLOOP__HELPER_EXIT) break;
    gloop__ns until = w->until;
    w->cmd = GLOOP__HELPER_IDLE;
    pthread_mutex_unlock(&w->mu);
    /* The wait was handed over as an end time, not a duration: the
     * condition-variable wake-up that brought the hand-over here took tens
     * of microseconds that a duration would add to every deadline. */
    gloop__ns timeout = -1;
    if (until >= 0) {
      timeout = gloop__ns_sub(until, gloop__mono_ns());
      if (timeout < 0) timeout = 0;
    }
    int woken = gloop__wait_events(run, timeout);
    pthread_mutex_lock(&w->mu);
    if (w->cmd == GLOOP__HELPER_EXIT) break;
    w->woken = woken;
    /* The post happens with mu released: the host may run the tick on its
     * own thread at once, and that tick takes mu to hand the next wait. */
    pthread_mutex_unlock(&w->mu);
    run->post_ts(w->tick, (void *)(uintptr_t)run->token, run->host_data);
    pthread_mutex_lock(&w->mu);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

int gloop__helper_start(gloop__run *run, gloop_callback_fn tick) {
  run->wait.tick = tick;
  if (gloop__fault(GLOOP_FAULT_THREAD) ||
      pthread_create(&run->wait.thread, NULL, helper_main, run) != 0)
    return GLOOP_ENOMEM;
  run->wait.started = 1;
  return 0;
}

void gloop__helper_hand(gloop__run *run, gloop__ns until) {
  gloop__waiter *w = &run->wait;
  pthread_mutex_lock(&w->mu);
  w->until = until;
  w->cmd = GLOOP__HELPER_WAIT;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

int gloop__helper_take_woken(gloop__run *run) {
  gloop__waiter *w = &run->wait;
  pthread_mutex_lock(&w->mu);
  int woken = w->woken;
  w->woken = 0;
  pthread_mutex_unlock(&w->mu);
  return woken;
}

void gloop__helper_stop(gloop__run *run) {
  gloop__waiter *w = &run->wait;
  if (!w->started) return;
  pthread_mutex_lock(&w->mu);
  w->cmd = GLOOP__HELPER_EXIT;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  /* It may be blocked in epoll rather than on cv. */
  gloop__wake_signal(run->wake);
  pthread_join(w->thread, NULL);
  w->started = 0;
}
