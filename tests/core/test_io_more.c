/* test_io_more.c - I/O, thread-pool and token cases, each run once standalone and once as a guest of the toy host. */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host_toy.h"
#include "test.h"

/* Every scenario below is a function of `guest`: 0 runs it with gloop_run()
 * on the calling thread, 1 as a guest of the toy host with a not-threadsafe
 * post, so the toy's thread-affinity checks stay armed. Each scenario is
 * registered as two cases, <name>_standalone and <name>_guest. */
/* The thread that runs the loop: the caller of gloop_run(), or the toy's
 * host thread. Set by each scenario before its run starts. */
static pthread_t loop_thread;

static int run_mode(int guest, gloop_task_fn entry, void *arg, const gloop_options *opts) {
  loop_thread = pthread_self();
  if (guest) return test_guest_run(entry, arg, opts, 1);
  int rc = gloop_run(entry, arg, opts, NULL, NULL);
  ASSERT_EQ_INT(gloop_in_run(), 0);
  return rc;
}

static int on_loop_thread(void) { return pthread_equal(pthread_self(), loop_thread); }

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

/* A fixed-seed generator (xorshift64*) for shuffles that repeat run to run. */
static uint64_t next_rand(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
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
  ASSERT_OK(run_mode(guest, pp_main, NULL, NULL));
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
  uint64_t seed = 0x9E3779B97F4A7C15ULL;
  (void)arg;
  for (int i = 0; i < mw_n; i++) order[i] = i;
  for (int i = mw_n - 1; i > 0; i--) {
    int j = (int)(next_rand(&seed) % (uint64_t)(i + 1));
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
  ASSERT_OK(run_mode(guest, mw_main, NULL, NULL));
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
  ASSERT_OK(run_mode(guest, eof_main, NULL, NULL));
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
  ASSERT_OK(run_mode(guest, deadline_main, NULL, &o));
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
  nc.notify_on_loop = on_loop_thread();
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
  loop_thread = pthread_self();
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
  ASSERT_OK(run_mode(guest, bw_main, NULL, NULL));
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

/* ---- A 200 ms blocking call on a worker while the host keeps ticking ------ */

#define OFF_PERIOD 0.010
#define OFF_BLOCK_US 200000

static struct {
  int in_call;
  int call_over;
  int rc;
  void *result;
  double call_time;
  int ran_off_loop;
  double last_tick;
  double max_gap;
  int ticks_during_call;
} off;

static void *off_blocking(void *arg) {
  off.ran_off_loop = !on_loop_thread();
  usleep(OFF_BLOCK_US);
  return (void *)((intptr_t)arg + 1);
}

/* One periodic beat: measures the gap to the previous beat while the
 * blocking call is outstanding. */
static void off_beat(void) {
  double now = test_real_now();
  if (off.in_call) {
    if (off.last_tick > 0 && now - off.last_tick > off.max_gap) off.max_gap = now - off.last_tick;
    off.ticks_during_call++;
  }
  off.last_tick = now;
}

static void off_host_beat(void *arg) {
  (void)arg;
  off_beat();
  if (!off.call_over) host_toy_call_later(OFF_PERIOD, off_host_beat, NULL);
}

static int off_ticker(void *arg) {
  (void)arg;
  while (!off.call_over) {
    ASSERT_OK(gloop_sleep(OFF_PERIOD));
    off_beat();
  }
  return 0;
}

static int off_caller(void *arg) {
  (void)arg;
  double t0 = test_real_now();
  off.last_tick = t0;
  off.in_call = 1;
  off.rc = gloop_to_thread(off_blocking, (void *)(intptr_t)4241, 0, &off.result);
  off.in_call = 0;
  off.call_time = test_real_now() - t0;
  off.call_over = 1;
  return 0;
}

static int off_main(void *arg) {
  gloop_nursery *n;
  int guest = *(int *)arg;
  ASSERT_OK(gloop_nursery_open(&n));
  if (!guest) ASSERT_OK(gloop_nursery_start(n, off_ticker, NULL, "ticker", NULL));
  ASSERT_OK(gloop_nursery_start(n, off_caller, NULL, "caller", NULL));
  return gloop_nursery_close(n);
}

static int scenario_offload(int guest) {
  memset(&off, 0, sizeof off);
  loop_thread = pthread_self();
  if (guest) {
    host_toy_init();
    ASSERT_OK(host_toy_start(off_main, &guest, NULL, 1));
    host_toy_call_later(OFF_PERIOD, off_host_beat, NULL);
    host_toy_run_until_done();
    ASSERT_OK(host_toy_get_stats().done_status);
    host_toy_fini();
  } else {
    ASSERT_OK(gloop_run(off_main, &guest, NULL, NULL, NULL));
  }
  ASSERT_OK(off.rc);
  ASSERT_EQ_PTR(off.result, (void *)(intptr_t)4242);
  ASSERT_EQ_INT(off.ran_off_loop, 1);
  ASSERT_GE_DBL(off.call_time, 0.19);
  /* The loop thread kept beating through the call: a call made on the loop
   * thread would show one gap of 200 ms and hardly any beats. */
  ASSERT_GE_INT(off.ticks_during_call, 10);
  /* Half the call's length: a loaded machine or valgrind can stretch one
   * 10 ms beat past 50 ms, but only a blocked loop thread reaches 200 ms. A
   * slow build scales the bound, never past the call's own length. */
  ASSERT_LT_DBL(off.max_gap, fmin(test_limit(0.100), 0.190));
  return 0;
}

BOTH_MODES(thread_offload_keeps_ticking, scenario_offload)

/* ---- gloop_token_call from a worker thread (from_thread.run_sync) --------- */

#define TC_CALLS 50

static struct {
  gloop_token *token;
  pthread_t worker;
  int calls;
  int off_loop;
  int in_task;
  int same_as_worker;
  int rc[TC_CALLS];
  void *res[TC_CALLS];
  int to_thread_rc;
  void *to_thread_res;
} tc;

static void *tc_on_loop(void *arg) {
  tc.calls++;
  if (!on_loop_thread()) tc.off_loop++;
  if (gloop_current_task() != NULL) tc.in_task++;
  if (pthread_equal(pthread_self(), tc.worker)) tc.same_as_worker++;
  return (void *)((intptr_t)arg * 3);
}

static void *tc_worker(void *arg) {
  (void)arg;
  tc.worker = pthread_self();
  for (int i = 0; i < TC_CALLS; i++)
    tc.rc[i] = gloop_token_call(tc.token, tc_on_loop, (void *)(intptr_t)(i + 1), &tc.res[i]);
  return (void *)(intptr_t)77;
}

static int tc_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_token_new(&tc.token));
  /* The task waits on the worker; the loop thread stays free to run the
   * calls the worker makes back into the run. */
  tc.to_thread_rc = gloop_to_thread(tc_worker, NULL, 0, &tc.to_thread_res);
  return 0;
}

static int scenario_token_call(int guest) {
  memset(&tc, 0, sizeof tc);
  ASSERT_OK(run_mode(guest, tc_main, NULL, NULL));
  ASSERT_OK(tc.to_thread_rc);
  ASSERT_EQ_PTR(tc.to_thread_res, (void *)(intptr_t)77);
  ASSERT_EQ_INT(tc.calls, TC_CALLS);
  ASSERT_EQ_INT(tc.off_loop, 0);
  ASSERT_EQ_INT(tc.in_task, 0);
  ASSERT_EQ_INT(tc.same_as_worker, 0);
  for (int i = 0; i < TC_CALLS; i++) {
    ASSERT_OK(tc.rc[i]);
    ASSERT_EQ_PTR(tc.res[i], (void *)(intptr_t)((i + 1) * 3));
  }
  gloop_token_free(tc.token);
  return 0;
}

BOTH_MODES(thread_token_call_from_worker, scenario_token_call)

/* ---- A burst of posts wakes an idle run once ------------------------------ */

#define BURST_N 100

static struct {
  gloop_token *token;
  gloop_event *all_in;
  gloop_event *finish;
  int waiting;
  int count;
  int order_ok;
  int bad_context;
  _Atomic int post_errors;
  unsigned long ts_at_all_in;
} bu;

static void bu_cb(void *arg) {
  int i = (int)(intptr_t)arg;
  if (gloop_current_task() != NULL || !on_loop_thread()) bu.bad_context++;
  if (i != bu.count) bu.order_ok = 0;
  bu.count++;
  if (bu.count == BURST_N) ASSERT_OK(gloop_event_set(bu.all_in));
}

static void *bu_poster(void *arg) {
  (void)arg;
  for (int i = 0; i < BURST_N; i++)
    if (gloop_token_post(bu.token, bu_cb, (void *)(intptr_t)i) != 0)
      atomic_fetch_add(&bu.post_errors, 1);
  return NULL;
}

static int bu_main(void *arg) {
  int guest = *(int *)arg;
  pthread_t th;
  ASSERT_OK(gloop_token_new(&bu.token));
  ASSERT_OK(gloop_event_new(&bu.all_in));
  ASSERT_OK(gloop_event_new(&bu.finish));
  /* Standalone, the burst comes from a thread started here; as a guest,
   * from one the host starts while the run is idle. */
  if (!guest) ASSERT_EQ_INT(pthread_create(&th, NULL, bu_poster, NULL), 0);
  bu.waiting = 1;
  ASSERT_OK(gloop_event_wait(bu.all_in));
  if (!guest) {
    ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  } else {
    /* Idle again, until the host says so. */
    bu.waiting = 2;
    ASSERT_OK(gloop_event_wait(bu.finish));
  }
  gloop_event_free(bu.all_in);
  gloop_event_free(bu.finish);
  return 0;
}

static int bu_is_waiting(void *arg) {
  (void)arg;
  return bu.waiting == 1;
}

static int bu_all_in(void *arg) {
  (void)arg;
  if (bu.count < BURST_N) return 0;
  bu.ts_at_all_in = host_toy_get_stats().threadsafe_posts;
  return 1;
}

static int bu_waiting_again(void *arg) {
  (void)arg;
  return bu.waiting == 2;
}

static int scenario_burst(int guest) {
  memset(&bu, 0, sizeof bu);
  bu.order_ok = 1;
  loop_thread = pthread_self();
  if (!guest) {
    ASSERT_OK(gloop_run(bu_main, &guest, NULL, NULL, NULL));
  } else {
    pthread_t th;
    host_toy_init();
    ASSERT_OK(host_toy_start(bu_main, &guest, NULL, 1));
    host_toy_run_until(bu_is_waiting, NULL, 5.0);
    /* Let the run settle into its idle wait on the helper thread. */
    host_toy_run_for(0.010);
    unsigned long before = host_toy_get_stats().threadsafe_posts;
    unsigned long seq = host_toy_seq();
    /* The barrier: the host thread runs nothing until the whole burst is
     * posted, so the burst meets one idle period and must cost exactly one
     * wake-up, i.e. one threadsafe post from the helper. */
    ASSERT_EQ_INT(pthread_create(&th, NULL, bu_poster, NULL), 0);
    ASSERT_EQ_INT(pthread_join(th, NULL), 0);
    double limit = test_real_now() + test_limit(5.0);
    while (host_toy_get_stats().threadsafe_posts == before && test_real_now() < limit)
      test_real_sleep(0.001);
    /* Give a second, wrong wake-up time to show itself. */
    test_real_sleep(0.020);
    ASSERT_EQ_UINT(host_toy_get_stats().threadsafe_posts - before, 1);
    ASSERT_EQ_UINT(host_toy_seq(), seq);
    host_toy_run_until(bu_all_in, NULL, 5.0);
    ASSERT_EQ_UINT(bu.ts_at_all_in - before, 1);
    /* Once the burst has run and the run is idle again, no leftover of the
     * burst (a stale wake-up write) may wake it. */
    host_toy_run_until(bu_waiting_again, NULL, 5.0);
    host_toy_run_for(0.030);
    ASSERT_EQ_UINT(host_toy_get_stats().threadsafe_posts - before, 1);
    ASSERT_OK(gloop_event_set(bu.finish));
    host_toy_run_until_done();
    ASSERT_OK(host_toy_get_stats().done_status);
    host_toy_fini();
  }
  ASSERT_EQ_INT(atomic_load(&bu.post_errors), 0);
  ASSERT_EQ_INT(bu.count, BURST_N);
  ASSERT_EQ_INT(bu.order_ok, 1);
  ASSERT_EQ_INT(bu.bad_context, 0);
  gloop_token_free(bu.token);
  return 0;
}

BOTH_MODES(thread_post_burst_one_wake, scenario_burst)

/* ---- Posts racing the end of the run, and posts after it ------------------ */

static struct {
  gloop_token *token;
  _Atomic long ok;
  _Atomic long ran;
  long ran_at_done;
  int done_calls;
  _Atomic int end_rc;
  _Atomic int bad_rc;
  int after_post, after_start, after_call;
  int late_ran;
} pa;

static void pa_cb(void *arg) {
  (void)arg;
  atomic_fetch_add(&pa.ran, 1);
}

static void pa_late_cb(void *arg) {
  (void)arg;
  pa.late_ran++;
}

static int pa_late_task(void *arg) {
  (void)arg;
  pa.late_ran++;
  return 0;
}

static void *pa_late_work(void *arg) {
  (void)arg;
  pa.late_ran++;
  return NULL;
}

/* Posts until the run refuses: every post that returned 0 must run, and
 * none that returned GLOOP_ENORUN may. */
static void *pa_poster(void *arg) {
  (void)arg;
  double limit = test_real_now() + test_limit(10.0);
  while (test_real_now() < limit) {
    int rc = gloop_token_post(pa.token, pa_cb, NULL);
    if (rc == GLOOP_ENORUN) {
      atomic_store(&pa.end_rc, rc);
      return NULL;
    }
    if (rc != 0) {
      atomic_store(&pa.bad_rc, rc);
      return NULL;
    }
    atomic_fetch_add(&pa.ok, 1);
    usleep(50);
  }
  return NULL;
}

static void *pa_caller(void *arg) {
  (void)arg;
  pa.after_call = gloop_token_call(pa.token, pa_late_work, NULL, NULL);
  return NULL;
}

static void pa_done(const gloop_outcome *outcome, void *host_data) {
  pa.ran_at_done = atomic_load(&pa.ran);
  pa.done_calls++;
  if (host_data == HOST_TOY_DATA) host_toy_done(outcome, host_data);
}

static int pa_main(void *arg) {
  pthread_t *th = arg;
  ASSERT_OK(gloop_token_new(&pa.token));
  ASSERT_EQ_INT(pthread_create(th, NULL, pa_poster, NULL), 0);
  /* End while the poster is in full swing. */
  while (atomic_load(&pa.ok) < 20) ASSERT_OK(gloop_sleep(0.001));
  return 0;
}

static int scenario_post_after_end(int guest) {
  pthread_t th;
  memset(&pa, 0, sizeof pa);
  loop_thread = pthread_self();
  if (guest) {
    gloop_options o;
    gloop_options_init(&o);
    o.run_sync_soon_not_threadsafe = host_toy_post_not_threadsafe;
    host_toy_init();
    host_toy_expect_not_threadsafe(1);
    ASSERT_OK(gloop_start_guest_run_ex(pa_main, &th, host_toy_post_threadsafe, pa_done,
                                       HOST_TOY_DATA, &o));
    host_toy_run_until_done();
    host_toy_stats s = host_toy_get_stats();
    ASSERT_OK(s.done_status);
    ASSERT_EQ_INT(s.done_calls, 1);
    ASSERT_EQ_UINT(s.posts_after_done, 0);
    host_toy_fini();
  } else {
    ASSERT_OK(gloop_run(pa_main, &th, NULL, pa_done, NULL));
  }
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  ASSERT_EQ_INT(pa.done_calls, 1);
  ASSERT_EQ_INT(atomic_load(&pa.bad_rc), 0);
  ASSERT_ERR(atomic_load(&pa.end_rc), GLOOP_ENORUN);
  ASSERT_GE_INT(atomic_load(&pa.ok), 20);
  /* Never lost, never run twice, and all of them before the done callback. */
  ASSERT_EQ_INT(atomic_load(&pa.ran), atomic_load(&pa.ok));
  ASSERT_EQ_INT(pa.ran_at_done, atomic_load(&pa.ok));

  /* After the end every way in is refused and nothing runs. */
  pa.after_post = gloop_token_post(pa.token, pa_late_cb, NULL);
  pa.after_start = gloop_token_start(pa.token, pa_late_task, NULL, "late");
  ASSERT_EQ_INT(pthread_create(&th, NULL, pa_caller, NULL), 0);
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  ASSERT_ERR(pa.after_post, GLOOP_ENORUN);
  ASSERT_ERR(pa.after_start, GLOOP_ENORUN);
  ASSERT_ERR(pa.after_call, GLOOP_ENORUN);
  ASSERT_EQ_INT(pa.late_ran, 0);
  ASSERT_EQ_INT(atomic_load(&pa.ran), atomic_load(&pa.ok));
  gloop_token_free(pa.token);
  return 0;
}

BOTH_MODES(thread_post_after_end, scenario_post_after_end)
