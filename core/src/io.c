/* io.c - fd readiness waits on the run's epoll set, and the non-blocking read/write/accept/connect helpers. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guestloop/testing.h"
#include "internal.h"

/* Registration follows the waiters: an fd is in the epoll set exactly while
 * a task waits on it, with the directions those tasks want. The epoll set is
 * level-triggered, so readiness that arrived before the wait still wakes.
 * The helper thread may be blocked in epoll_wait while the host thread
 * changes registrations; the kernel allows that, and an event for an fd
 * nobody waits on any more is simply ignored when the tick processes it. */

static gloop__fdent *fd_entry(gloop__run *run, int fd, int create) {
  if ((size_t)fd < run->io.nfds) return &run->io.fds[fd];
  if (!create) return NULL;
  size_t n = run->io.nfds ? run->io.nfds : 64;
  while (n <= (size_t)fd) n *= 2;
  gloop__fdent *fds = gloop__fault(GLOOP_FAULT_MEMORY)
                          ? NULL
                          : run->alloc.fn(run->alloc.ud, run->io.fds, n * sizeof *fds);
  if (fds == NULL) return NULL;
  memset(fds + run->io.nfds, 0, (n - run->io.nfds) * sizeof *fds);
  run->io.fds = fds;
  run->io.nfds = n;
  return &run->io.fds[fd];
}

static int sync_registration(gloop__run *run, int fd, gloop__fdent *e) {
  uint32_t want = (e->reader ? EPOLLIN : 0u) | (e->writer ? EPOLLOUT : 0u);
  if (want == e->registered) return 0;
  struct epoll_event ev = {.events = want, .data.u64 = (uint64_t)fd + 1};
  int op = want == 0 ? EPOLL_CTL_DEL : (e->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
  if (epoll_ctl(run->io.epfd, op, fd, &ev) != 0) {
    int err = errno;
    if (op == EPOLL_CTL_DEL) {
      /* The fd was closed behind our back; the kernel dropped it already. */
      e->registered = 0;
      return 0;
    }
    return -err;
  }
  e->registered = want;
  return 0;
}

static void fd_unwait(gloop_task *t) {
  gloop__run *run = t->run;
  int fd = (int)(intptr_t)t->wait_data;
  gloop__fdent *e = fd_entry(run, fd, 0);
  if (e == NULL) return;
  if (e->reader == t) e->reader = NULL;
  if (e->writer == t) e->writer = NULL;
  run->io.waiters--;
  sync_registration(run, fd, e);
}

static int wait_fd(int fd, int writable) {
  int rc = 0;
  gloop_task *t = gloop__task_current(&rc);
  if (t == NULL) return rc;
  if (fd < 0) return GLOOP_EINVAL;
  gloop__run *run = t->run;
  if ((rc = gloop__task_check_cancel(t)) != 0) return rc;
  gloop__fdent *e = fd_entry(run, fd, 1);
  if (e == NULL) return GLOOP_ENOMEM;
  gloop_task **slot = writable ? &e->writer : &e->reader;
  if (*slot) return GLOOP_EBUSYWAIT;
  *slot = t;
  rc = sync_registration(run, fd, e);
  if (rc) {
    *slot = NULL;
    return rc;
  }
  run->io.waiters++;
  t->wait_data = (void *)(intptr_t)fd;
  return gloop__block(t, fd_unwait, e, 1);
}

int gloop_wait_readable(int fd) { return wait_fd(fd, 0); }
int gloop_wait_writable(int fd) { return wait_fd(fd, 1); }

static void wake_fd_waiter(gloop__run *run, gloop_task **slot, int result) {
  gloop_task *t = *slot;
  if (t == NULL) return;
  *slot = NULL;
  run->io.waiters--;
  gloop__task_wake(t, result);
}

void gloop__io_process(gloop__run *run, const struct epoll_event *ev, int n) {
  for (int i = 0; i < n; i++) {
    if (ev[i].data.u64 == 0) continue; /* the wake-up eventfd */
    int fd = (int)(ev[i].data.u64 - 1);
    gloop__fdent *e = fd_entry(run, fd, 0);
    if (e == NULL) continue;
    uint32_t f = ev[i].events;
    if (f & (EPOLLIN | EPOLLERR | EPOLLHUP)) wake_fd_waiter(run, &e->reader, 0);
    if (f & (EPOLLOUT | EPOLLERR | EPOLLHUP)) wake_fd_waiter(run, &e->writer, 0);
    sync_registration(run, fd, e);
  }
}

int gloop_notify_closing(int fd) {
  if (fd < 0) return GLOOP_EINVAL;
  gloop__run *run = gloop__run_current();
  if (run == NULL) return GLOOP_ENORUN;
  int rc = gloop__run_check(run, run->token);
  if (rc) return rc;
  gloop__fdent *e = fd_entry(run, fd, 0);
  if (e == NULL) return 0;
  wake_fd_waiter(run, &e->reader, GLOOP_ECLOSING);
  wake_fd_waiter(run, &e->writer, GLOOP_ECLOSING);
  sync_registration(run, fd, e);
  memset(e, 0, sizeof *e);
  return 0;
}

void gloop__io_free(gloop__run *run) {
  gloop__free(&run->alloc, run->io.fds);
  run->io.fds = NULL;
  run->io.nfds = 0;
}

/* ---- Helpers ----------------------------------------------------------------------- */

static int prepare(int fd, gloop__fdent **out) {
  int rc = 0;
  gloop_task *t = gloop__task_current(&rc);
  if (t == NULL) return rc;
  if (fd < 0) return GLOOP_EBADF;
  gloop__fdent *e = fd_entry(t->run, fd, 1);
  if (e == NULL) return GLOOP_ENOMEM;
  if (!e->nonblock_set) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    e->nonblock_set = 1;
  }
  *out = e;
  return 0;
}

long gloop_read_some(int fd, void *buf, size_t len) {
  gloop__fdent *e;
  int rc = prepare(fd, &e);
  if (rc) return rc;
  if (buf == NULL && len) return GLOOP_EINVAL;
  for (;;) {
    ssize_t n = read(fd, buf, len);
    if (n >= 0) return (long)n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
    if ((rc = gloop_wait_readable(fd)) != 0) return rc;
  }
}

static ssize_t write_some(int fd, gloop__fdent *e, const void *buf, size_t len) {
  if (!e->not_socket) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0 || errno != ENOTSOCK) return n;
    e->not_socket = 1;
  }
  return write(fd, buf, len);
}

int gloop_write_all(int fd, const void *buf, size_t len, size_t *written) {
  size_t done = 0;
  gloop__fdent *e;
  int rc = prepare(fd, &e);
  if (rc == 0 && buf == NULL && len) rc = GLOOP_EINVAL;
  while (rc == 0 && done < len) {
    ssize_t n = write_some(fd, e, (const char *)buf + done, len - done);
    if (n >= 0) {
      done += (size_t)n;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      rc = gloop_wait_writable(fd);
      /* The table may have grown while waiting. */
      if (rc == 0) e = fd_entry(gloop__run_current(), fd, 0);
    } else {
      rc = -errno;
    }
  }
  if (written) *written = done;
  return rc;
}

int gloop_accept(int listen_fd, struct sockaddr *addr, unsigned *addrlen) {
  gloop__fdent *e;
  int rc = prepare(listen_fd, &e);
  if (rc) return rc;
  for (;;) {
    socklen_t l = addrlen ? (socklen_t)*addrlen : 0;
    int fd = accept4(listen_fd, addr, addrlen ? &l : NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      if (addrlen) *addrlen = (unsigned)l;
      return fd;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -errno;
    if ((rc = gloop_wait_readable(listen_fd)) != 0) return rc;
  }
}

int gloop_connect(int fd, const struct sockaddr *addr, unsigned addrlen) {
  gloop__fdent *e;
  int rc = prepare(fd, &e);
  if (rc) return rc;
  if (addr == NULL) return GLOOP_EINVAL;
  if (connect(fd, addr, (socklen_t)addrlen) == 0) return 0;
  if (errno != EINPROGRESS && errno != EINTR) return -errno;
  if ((rc = gloop_wait_writable(fd)) != 0) return rc;
  int err = 0;
  socklen_t l = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0) return -errno;
  return err ? -err : 0;
}
