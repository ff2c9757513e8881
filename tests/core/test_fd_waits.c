/* test_fd_waits.c - fd waits in both run modes: ping-pong over a socketpair, a thousand waiters, end of file, a read deadline, gloop_notify_closing, one waiter per direction. */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host_toy.h"
#include "test.h"

/* Every scenario below is a function of `guest` (test_run_mode(): 0 runs it
 * with gloop_run() on the calling thread, 1 as a guest of the toy host with
 * a not-threadsafe post, so the toy's thread-affinity checks stay armed),
 * registered as two cases, <name>_standalone and <name>_guest. */

/* Reads exactly len bytes. Returns 0, 1 at end of file before len bytes, or
 * the read error. */
static int read_exact(int fd, void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    long n = gloop_read_some(fd, (char *)buf + got, len - got);
    if (n < 0) return (int)n;
    if (n == 0) return 1;
    got += (size_t)n;
  }
  return 0;
}

/* ---- Ping-pong over a socketpair between two tasks ------------------------ */

#define PP_ROUNDS 1000
#define PP_MSG 64

static struct {
  int sv[2];
  int pings, pongs;
  int ping_rc, pong_rc;
} pp;

static void pp_fill(unsigned char *msg, int round, int reply) {
  for (int i = 0; i < PP_MSG; i++) msg[i] = (unsigned char)(round * 7 + i * 3 + reply);
}

static int pinger(void *arg) {
  unsigned char out[PP_MSG], in[PP_MSG], want[PP_MSG];
  (void)arg;
  for (int r = 0; r < PP_ROUNDS; r++) {
    pp_fill(out, r, 0);
    int rc = gloop_write_all(pp.sv[0], out, sizeof out, NULL);
    if (rc == 0) rc = read_exact(pp.sv[0], in, sizeof in);
    if (rc != 0) {
      pp.ping_rc = rc;
      return 0;
    }
    pp_fill(want, r, 1);
    ASSERT_EQ_INT(memcmp(in, want, PP_MSG), 0);
    pp.pings++;
  }
  /* The ponger learns that the game is over from the end of its stream. */
  ASSERT_EQ_INT(shutdown(pp.sv[0], SHUT_WR), 0);
  return 0;
}

static int ponger(void *arg) {
  unsigned char msg[PP_MSG];
  (void)arg;
  for (;;) {
    int rc = read_exact(pp.sv[1], msg, sizeof msg);
    if (rc == 1) return 0;
    if (rc == 0) {
      for (int i = 0; i < PP_MSG; i++) msg[i] = (unsigned char)(msg[i] + 1);
      rc = gloop_write_all(pp.sv[1], msg, sizeof msg, NULL);
    }
    if (rc != 0) {
      pp.pong_rc = rc;
      return 0;
    }
    pp.pongs++;
  }
}

static int pp_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, ponger, NULL, "ponger", NULL));
  ASSERT_OK(gloop_nursery_start(n, pinger, NULL, "pinger", NULL));
  return gloop_nursery_close(n);
}

static int scenario_pingpong(int guest) {
  memset(&pp, 0, sizeof pp);
  ASSERT_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pp.sv), 0);
  ASSERT_OK(test_run_mode(guest, pp_main, NULL, NULL));
  ASSERT_OK(pp.ping_rc);
  ASSERT_OK(pp.pong_rc);
  ASSERT_EQ_INT(pp.pings, PP_ROUNDS);
  ASSERT_EQ_INT(pp.pongs, PP_ROUNDS);
  close(pp.sv[0]);
  close(pp.sv[1]);
  return 0;
}

BOTH_MODES(io_pingpong, scenario_pingpong)

/* ---- A thousand tasks waiting on a thousand pipes ------------------------- */

#define MW_N 1000
#define MW_STACK ((size_t)32 * 1024)

/* How many waiters this build runs: all MW_N on a plain build; a quarter
 * under sanitizers and valgrind (test_count()), where a thousand tasks with
 * their deadlines take several seconds. */
static int mw_n;

static struct {
  int fds[MW_N][2];
  int woken[MW_N];
  int value[MW_N];
  long got[MW_N];
  int after_rc[MW_N];
  int armed;
  _Atomic int write_errors;
} mw;

static int mw_waiter(void *arg) {
  int i = (int)(intptr_t)arg;
  int v = -1;
  gloop_scope *s;
  mw.armed++;
  mw.got[i] = gloop_read_some(mw.fds[i][0], &v, sizeof v);
  mw.value[i] = v;
  mw.woken[i]++;
  /* Nothing more is ever written to this pipe, so a second wait must run
   * into its deadline: a readiness left over from the first wake-up, or a
   * wake-up meant for another pipe, would end it early. */
  ASSERT_OK(gloop_move_on_after(0.005, &s));
  mw.after_rc[i] = gloop_wait_readable(mw.fds[i][0]);
  ASSERT_OK(gloop_scope_close(s));
  return 0;
}

/* Writes every pipe once, in a shuffled order, from a thread of its own. */
static void *mw_writer(void *arg) {
  static int order[MW_N];
  test_rng rng;
  test_rng_seed(&rng, 0x9E3779B97F4A7C15ULL);
  (void)arg;
  for (int i = 0; i < mw_n; i++) order[i] = i;
  for (int i = mw_n - 1; i > 0; i--) {
    int j = (int)test_rng_below(&rng, (uint32_t)(i + 1));
    int t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (int k = 0; k < mw_n; k++) {
    int i = order[k];
    int v = i * 7 + 3;
    if (write(mw.fds[i][1], &v, sizeof v) != (ssize_t)sizeof v) atomic_fetch_add(&mw.write_errors, 1);
  }
  return NULL;
}

static int mw_main(void *arg) {
  gloop_nursery *n;
  pthread_t th;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  for (int i = 0; i < mw_n; i++)
    ASSERT_OK(gloop_nursery_start_ex(n, mw_waiter, (void *)(intptr_t)i, NULL, MW_STACK, NULL));
  /* Every waiter is about to block; a short sleep lets each of them reach
   * its wait before the first byte arrives. */
  while (mw.armed < mw_n) ASSERT_OK(gloop_sleep(0.001));
  ASSERT_OK(gloop_sleep(0.005));
  for (int i = 0; i < mw_n; i++) ASSERT_EQ_INT(mw.woken[i], 0);
  ASSERT_EQ_INT(pthread_create(&th, NULL, mw_writer, NULL), 0);
  int rc = gloop_nursery_close(n);
  /* Every waiter got its bytes, so the writer is past its last write. */
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  return rc;
}

static int scenario_many_waiters(int guest) {
  struct rlimit lim;
  mw_n = test_count(MW_N, MW_N / 4);
  ASSERT_EQ_INT(getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ASSERT_EQ_INT(setrlimit(RLIMIT_NOFILE, &lim), 0);
  }
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < (rlim_t)(2 * mw_n + 64))
    TEST_SKIP("RLIMIT_NOFILE is %lu, %d descriptors are needed", (unsigned long)lim.rlim_cur,
              2 * mw_n + 64);
  memset(&mw, 0, sizeof mw);
  for (int i = 0; i < mw_n; i++) ASSERT_EQ_INT(pipe2(mw.fds[i], O_CLOEXEC), 0);
  ASSERT_OK(test_run_mode(guest, mw_main, NULL, NULL));
  ASSERT_EQ_INT(atomic_load(&mw.write_errors), 0);
  for (int i = 0; i < mw_n; i++) {
    ASSERT_EQ_INT(mw.woken[i], 1);
    ASSERT_EQ_INT(mw.got[i], (long)sizeof(int));
    ASSERT_EQ_INT(mw.value[i], i * 7 + 3);
    ASSERT_ERR(mw.after_rc[i], GLOOP_ECANCELED);
  }
  for (int i = 0; i < mw_n; i++) {
    close(mw.fds[i][0]);
    close(mw.fds[i][1]);
  }
  return 0;
}

BOTH_MODES(io_many_waiters, scenario_many_waiters)

/* ---- End of file on a pipe, after the data is drained --------------------- */

#define EOF_CHUNK 1500
#define EOF_CHUNKS 3

static struct {
  int fds[2];
  unsigned char sent[EOF_CHUNK * EOF_CHUNKS];
  unsigned char got[EOF_CHUNK * EOF_CHUNKS + 16];
  size_t received;
  long last, again;
  int reads;
  int writer_closed;
  int eof_before_close;
} pe;

static int eof_writer(void *arg) {
  (void)arg;
  for (int c = 0; c < EOF_CHUNKS; c++) {
    /* The reader drains each chunk and blocks again before the next one. */
    ASSERT_OK(gloop_sleep(0.005));
    ASSERT_OK(gloop_write_all(pe.fds[1], pe.sent + c * EOF_CHUNK, EOF_CHUNK, NULL));
  }
  ASSERT_OK(gloop_sleep(0.005));
  ASSERT_OK(gloop_notify_closing(pe.fds[1]));
  pe.writer_closed = 1;
  ASSERT_EQ_INT(close(pe.fds[1]), 0);
  return 0;
}

static int eof_reader(void *arg) {
  (void)arg;
  for (;;) {
    long n = gloop_read_some(pe.fds[0], pe.got + pe.received, sizeof pe.got - pe.received);
    pe.reads++;
    if (n <= 0) {
      pe.last = n;
      pe.eof_before_close = !pe.writer_closed;
      break;
    }
    pe.received += (size_t)n;
  }
  /* End of file stays end of file. */
  char more[8];
  pe.again = gloop_read_some(pe.fds[0], more, sizeof more);
  return 0;
}

static int eof_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, eof_reader, NULL, "reader", NULL));
  ASSERT_OK(gloop_nursery_start(n, eof_writer, NULL, "writer", NULL));
  return gloop_nursery_close(n);
}

static int scenario_pipe_eof(int guest) {
  memset(&pe, 0, sizeof pe);
  pe.last = pe.again = 12345;
  for (size_t i = 0; i < sizeof pe.sent; i++) pe.sent[i] = (unsigned char)(i * 29 + 1);
  ASSERT_EQ_INT(pipe2(pe.fds, O_CLOEXEC), 0);
  ASSERT_OK(test_run_mode(guest, eof_main, NULL, NULL));
  ASSERT_EQ_UINT(pe.received, sizeof pe.sent);
  ASSERT_EQ_INT(memcmp(pe.got, pe.sent, sizeof pe.sent), 0);
  ASSERT_EQ_INT(pe.last, 0);
  ASSERT_EQ_INT(pe.eof_before_close, 0);
  ASSERT_EQ_INT(pe.again, 0);
  /* At least one read per chunk plus the one that saw the end. */
  ASSERT_GE_INT(pe.reads, EOF_CHUNKS + 1);
  close(pe.fds[0]);
  return 0;
}

BOTH_MODES(io_pipe_eof, scenario_pipe_eof)

/* ---- A blocked read cancelled by a deadline -------------------------------- */

static struct {
  int sv[2];
  int rc;
  double waited;
  int caught;
  int sleep_rc;
  double slept;
  int rewait_rc;
  long reread;
  char byte;
  int idle_again_rc;
} dl;

static int deadline_main(void *arg) {
  gloop_scope *s;
  char buf[8];
  (void)arg;
  double t0 = gloop_now();
  ASSERT_OK(gloop_move_on_after(5.0, &s));
  dl.rc = (int)gloop_read_some(dl.sv[0], buf, sizeof buf);
  dl.waited = gloop_now() - t0;
  dl.caught = gloop_scope_cancelled_caught(s);
  ASSERT_OK(gloop_scope_close(s));

  /* The cancelled wait must have left nothing behind. Data arriving now
   * would wake a stale registration; the sleep below would then end early,
   * and the mock clock would not have moved by exactly one second. */
  ASSERT_EQ_INT(write(dl.sv[1], "x", 1), 1);
  double t1 = gloop_now();
  dl.sleep_rc = gloop_sleep(1.0);
  dl.slept = gloop_now() - t1;

  /* The read direction is free again: no GLOOP_EBUSYWAIT, and level-
   * triggered readiness reports the byte that arrived meanwhile. */
  dl.rewait_rc = gloop_wait_readable(dl.sv[0]);
  dl.reread = gloop_read_some(dl.sv[0], &dl.byte, 1);

  /* And a second deadline works the same way. */
  ASSERT_OK(gloop_move_on_after(0.5, &s));
  dl.idle_again_rc = (int)gloop_read_some(dl.sv[0], buf, sizeof buf);
  ASSERT_OK(gloop_scope_close(s));
  return 0;
}

static int scenario_read_deadline(int guest) {
  gloop_options o;
  memset(&dl, 0, sizeof dl);
  ASSERT_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dl.sv), 0);
  gloop_clock *clk = test_mock_options(&o, 100.0, 0.0);
  double real0 = test_real_now();
  ASSERT_OK(test_run_mode(guest, deadline_main, NULL, &o));
  /* Autojump makes the 6.5 s of clock time take next to no real time. */
  ASSERT_LT_DBL(test_real_now() - real0, test_limit(2.0));
  ASSERT_ERR(dl.rc, GLOOP_ECANCELED);
  ASSERT_NEAR(dl.waited, 5.0, 1e-6);
  ASSERT_EQ_INT(dl.caught, 1);
  ASSERT_OK(dl.sleep_rc);
  ASSERT_NEAR(dl.slept, 1.0, 1e-6);
  ASSERT_OK(dl.rewait_rc);
  ASSERT_EQ_INT(dl.reread, 1);
  ASSERT_EQ_INT(dl.byte, 'x');
  ASSERT_ERR(dl.idle_again_rc, GLOOP_ECANCELED);
  ASSERT_OK(gloop_clock_free(clk));
  close(dl.sv[0]);
  close(dl.sv[1]);
  return 0;
}

BOTH_MODES(io_read_deadline, scenario_read_deadline)

/* ---- gloop_notify_closing from host code wakes a blocked wait ------------- */

static struct {
  int sv[2];
  int blocked;
  int wait_rc;
  int notify_rc;
  int notify_in_task;
  int notify_on_loop;
  int reuse_rc;
  long reuse_read;
  char reuse_byte;
} nc;

/* Host code: a timer callback in the standalone run, a host-side call of
 * the toy between ticks in the guest run. */
static void nc_notify(void *arg) {
  (void)arg;
  nc.notify_in_task = gloop_current_task() != NULL;
  nc.notify_on_loop = test_on_loop_thread();
  nc.notify_rc = gloop_notify_closing(nc.sv[0]);
}

static int nc_main(void *arg) {
  gloop_timer *t = NULL;
  int guest = *(int *)arg;
  if (!guest) {
    ASSERT_OK(gloop_timer_new(&t));
    ASSERT_OK(gloop_timer_start(t, 0.010, nc_notify, NULL));
  }
  nc.blocked = 1;
  nc.wait_rc = gloop_wait_readable(nc.sv[0]);
  gloop_timer_free(t);

  /* The run forgot the fd, so a new socket given the same number starts
   * clean: its wait is not refused as busy and sees its own data. */
  int fresh[2];
  ASSERT_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fresh), 0);
  ASSERT_EQ_INT(dup3(fresh[0], nc.sv[0], O_CLOEXEC), nc.sv[0]);
  close(fresh[0]);
  ASSERT_EQ_INT(write(fresh[1], "z", 1), 1);
  nc.reuse_rc = gloop_wait_readable(nc.sv[0]);
  nc.reuse_read = gloop_read_some(nc.sv[0], &nc.reuse_byte, 1);
  close(fresh[1]);
  return 0;
}

static int nc_blocked(void *arg) {
  (void)arg;
  return nc.blocked;
}

static int scenario_notify_closing(int guest) {
  memset(&nc, 0, sizeof nc);
  nc.wait_rc = nc.notify_rc = 12345;
  ASSERT_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, nc.sv), 0);
  test_mark_loop_thread();
  if (guest) {
    host_toy_init();
    ASSERT_OK(host_toy_start(nc_main, &guest, NULL, 1));
    host_toy_run_until(nc_blocked, NULL, 5.0);
    /* Let the tick finish and hand the wait to the helper thread. */
    host_toy_run_for(0.010);
    ASSERT_ERR(nc.wait_rc, 12345);
    nc_notify(NULL);
    host_toy_run_until_done();
    ASSERT_OK(host_toy_get_stats().done_status);
    host_toy_fini();
  } else {
    ASSERT_OK(gloop_run(nc_main, &guest, NULL, NULL, NULL));
  }
  ASSERT_OK(nc.notify_rc);
  ASSERT_EQ_INT(nc.notify_in_task, 0);
  ASSERT_EQ_INT(nc.notify_on_loop, 1);
  ASSERT_ERR(nc.wait_rc, GLOOP_ECLOSING);
  ASSERT_OK(nc.reuse_rc);
  ASSERT_EQ_INT(nc.reuse_read, 1);
  ASSERT_EQ_INT(nc.reuse_byte, 'z');
  close(nc.sv[0]);
  close(nc.sv[1]);
  return 0;
}

BOTH_MODES(io_notify_closing, scenario_notify_closing)

/* ---- One waiter per direction of an fd ------------------------------------ */

static struct {
  int sv[2];
  int r_rc, w_rc;
  int r_started, w_started;
  int second_r, second_w;
  int r_pending_after_10ms, w_pending_after_10ms;
  int w_pending_after_read;
  int r_again;
  size_t filled;
} bw;

static int bw_reader(void *arg) {
  (void)arg;
  bw.r_started = 1;
  bw.r_rc = gloop_wait_readable(bw.sv[0]);
  return 0;
}

static int bw_writer(void *arg) {
  (void)arg;
  bw.w_started = 1;
  bw.w_rc = gloop_wait_writable(bw.sv[0]);
  return 0;
}

static int bw_main(void *arg) {
  gloop_nursery *n;
  char chunk[4096];
  (void)arg;
  /* Fill the socket so that sv[0] is neither readable nor writable. */
  memset(chunk, 'q', sizeof chunk);
  ASSERT_EQ_INT(fcntl(bw.sv[0], F_SETFL, fcntl(bw.sv[0], F_GETFL) | O_NONBLOCK), 0);
  ASSERT_EQ_INT(fcntl(bw.sv[1], F_SETFL, fcntl(bw.sv[1], F_GETFL) | O_NONBLOCK), 0);
  for (;;) {
    ssize_t w = write(bw.sv[0], chunk, sizeof chunk);
    if (w < 0) break;
    bw.filled += (size_t)w;
  }
  ASSERT_GT_INT(bw.filled, 0);

  ASSERT_OK(gloop_nursery_open(&n));
  ASSERT_OK(gloop_nursery_start(n, bw_reader, NULL, "reader", NULL));
  ASSERT_OK(gloop_nursery_start(n, bw_writer, NULL, "writer", NULL));
  while (!bw.r_started || !bw.w_started) ASSERT_OK(gloop_sleep(0.001));
  ASSERT_OK(gloop_sleep(0.010));
  /* Different directions of one fd wait side by side. */
  bw.r_pending_after_10ms = bw.r_rc == 12345;
  bw.w_pending_after_10ms = bw.w_rc == 12345;
  /* The same direction a second time is refused, at once, for either one. */
  bw.second_r = gloop_wait_readable(bw.sv[0]);
  bw.second_w = gloop_wait_writable(bw.sv[0]);

  /* Data for sv[0]: only the reader wakes. */
  ASSERT_EQ_INT(write(bw.sv[1], "r", 1), 1);
  while (bw.r_rc == 12345) ASSERT_OK(gloop_sleep(0.001));
  ASSERT_OK(gloop_sleep(0.010));
  bw.w_pending_after_read = bw.w_rc == 12345;
  /* The reader is gone, so its direction is free again (the byte is still
   * unread, so this returns at once). */
  bw.r_again = gloop_wait_readable(bw.sv[0]);

  /* Drain the other side: sv[0] becomes writable and the writer wakes. */
  for (;;) {
    ssize_t r = read(bw.sv[1], chunk, sizeof chunk);
    if (r <= 0) break;
  }
  return gloop_nursery_close(n);
}

static int scenario_busy_wait(int guest) {
  memset(&bw, 0, sizeof bw);
  bw.r_rc = bw.w_rc = 12345;
  ASSERT_EQ_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, bw.sv), 0);
  ASSERT_OK(test_run_mode(guest, bw_main, NULL, NULL));
  ASSERT_EQ_INT(bw.r_pending_after_10ms, 1);
  ASSERT_EQ_INT(bw.w_pending_after_10ms, 1);
  ASSERT_ERR(bw.second_r, GLOOP_EBUSYWAIT);
  ASSERT_ERR(bw.second_w, GLOOP_EBUSYWAIT);
  ASSERT_OK(bw.r_rc);
  ASSERT_EQ_INT(bw.w_pending_after_read, 1);
  ASSERT_OK(bw.r_again);
  ASSERT_OK(bw.w_rc);
  close(bw.sv[0]);
  close(bw.sv[1]);
  return 0;
}

BOTH_MODES(io_busy_wait, scenario_busy_wait)
