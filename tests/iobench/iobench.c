/* iobench.c - the gloop_iobench program: socketpair echo and cross-thread posts on guestloop (standalone and guest) beside libuv, with a results table. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guestloop/guestloop.h"
#include "iobench.h"

#define ROUNDS 5

/* Counts for one run of the program; --quick shrinks them for the smoke test,
 * which checks that every probe completes correctly, not how fast. */
static struct {
  long echo_trips;
  long awake_posts;
  int idle_bursts;
  int idle_per_burst;
  int rounds;
} cfg = {100000, 1000000, 200, 16, ROUNDS};

static int failures;

#define CHECK(cond, ...)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "gloop_iobench: check failed: %s: ", #cond);              \
      fprintf(stderr, __VA_ARGS__);                                             \
      fputc('\n', stderr);                                                      \
      failures++;                                                               \
    }                                                                           \
  } while (0)

double iob_median(const double *v, size_t n) {
  double *tmp;
  double m;
  if (n == 0) return NAN;
  tmp = malloc(n * sizeof *tmp);
  if (tmp == NULL) return NAN;
  memcpy(tmp, v, n * sizeof *tmp);
  /* n is small (rounds or bursts): insertion sort is enough. */
  for (size_t i = 1; i < n; i++) {
    double x = tmp[i];
    size_t j = i;
    while (j > 0 && tmp[j - 1] > x) {
      tmp[j] = tmp[j - 1];
      j--;
    }
    tmp[j] = x;
  }
  m = n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2.0;
  free(tmp);
  return m;
}

/* ---- A minimal host loop for guest mode ------------------------------------ */

/* The host keeps two queues: the threadsafe one, filled from the guest's
 * helper thread under a mutex, and the not-threadsafe one, filled only on
 * the host thread and so touched without a lock. This is roughly what a
 * real host (Qt's posted events) pays per tick, and nothing more. */
typedef struct host_item {
  gloop_callback_fn fn;
  void *arg;
} host_item;

typedef struct host_queue {
  host_item *v;
  size_t n, cap;
} host_queue;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  host_queue shared, local, batch;
  int done;
  int status;
} host = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, {0}, {0}, 0, 0};

static void queue_push(host_queue *q, gloop_callback_fn fn, void *arg) {
  if (q->n == q->cap) {
    size_t cap = q->cap ? q->cap * 2 : 64;
    host_item *v = realloc(q->v, cap * sizeof *v);
    if (v == NULL) {
      fprintf(stderr, "gloop_iobench: out of memory in the host queue\n");
      abort();
    }
    q->v = v;
    q->cap = cap;
  }
  q->v[q->n].fn = fn;
  q->v[q->n].arg = arg;
  q->n++;
}

/* Moves every item of q to the end of the batch queue. */
static void queue_take(host_queue *q) {
  for (size_t i = 0; i < q->n; i++) queue_push(&host.batch, q->v[i].fn, q->v[i].arg);
  q->n = 0;
}

static void host_post_threadsafe(gloop_callback_fn fn, void *arg, void *host_data) {
  (void)host_data;
  pthread_mutex_lock(&host.mu);
  queue_push(&host.shared, fn, arg);
  pthread_cond_signal(&host.cv);
  pthread_mutex_unlock(&host.mu);
}

static void host_post_local(gloop_callback_fn fn, void *arg, void *host_data) {
  (void)host_data;
  queue_push(&host.local, fn, arg);
}

static void host_done(const gloop_outcome *outcome, void *host_data) {
  (void)host_data;
  host.status = outcome->status;
  host.done = 1;
}

/* Runs a guest run of entry(arg) to its end and returns its status. */
static int host_run(gloop_task_fn entry, void *arg) {
  gloop_options o;
  gloop_options_init(&o);
  o.run_sync_soon_not_threadsafe = host_post_local;
  host.done = 0;
  int rc = gloop_start_guest_run_ex(entry, arg, host_post_threadsafe, host_done, NULL, &o);
  if (rc < 0) return rc;
  while (!host.done) {
    host.batch.n = 0;
    queue_take(&host.local);
    pthread_mutex_lock(&host.mu);
    while (host.batch.n == 0 && host.shared.n == 0) pthread_cond_wait(&host.cv, &host.mu);
    queue_take(&host.shared);
    pthread_mutex_unlock(&host.mu);
    for (size_t i = 0; i < host.batch.n; i++) host.batch.v[i].fn(host.batch.v[i].arg);
  }
  /* Whatever the run posted before its done callback is harmless now, but
   * the queues must start empty next time. */
  host.local.n = 0;
  host.shared.n = 0;
  return host.status;
}

static int run_mode(int guest, gloop_task_fn entry, void *arg) {
  return guest ? host_run(entry, arg) : gloop_run(entry, arg, NULL, NULL, NULL);
}

/* ---- (a) Echo over a socketpair -------------------------------------------- */

static struct {
  int sv[2];
  long trips;
  long done_trips;
  long echoed;
  int err;
  double ns;
} echo;

static int read_exact(int fd, unsigned char *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    long n = gloop_read_some(fd, buf + got, len - got);
    if (n <= 0) return n == 0 ? GLOOP_ECONNRESET : (int)n;
    got += (size_t)n;
  }
  return 0;
}

static int echo_server(void *arg) {
  unsigned char buf[IOB_MSG];
  (void)arg;
  for (long i = 0; i < echo.trips; i++) {
    int rc = read_exact(echo.sv[1], buf, sizeof buf);
    if (rc == 0) rc = gloop_write_all(echo.sv[1], buf, sizeof buf, NULL);
    if (rc != 0) return echo.err = rc;
    echo.echoed++;
  }
  return 0;
}

static int echo_client(void *arg) {
  unsigned char out[IOB_MSG], in[IOB_MSG];
  (void)arg;
  double t0 = iob_now_ns();
  for (long i = 0; i < echo.trips; i++) {
    memset(out, (int)(i & 0xff), sizeof out);
    int rc = gloop_write_all(echo.sv[0], out, sizeof out, NULL);
    if (rc == 0) rc = read_exact(echo.sv[0], in, sizeof in);
    if (rc != 0) return echo.err = rc;
    if (memcmp(in, out, sizeof in) != 0) return echo.err = GLOOP_EINTERNAL;
    echo.done_trips++;
  }
  echo.ns = (iob_now_ns() - t0) / (double)echo.trips;
  return 0;
}

static int echo_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  int rc = gloop_nursery_open(&n);
  if (rc < 0) return rc;
  rc = gloop_nursery_start(n, echo_server, NULL, "server", NULL);
  if (rc == 0) rc = gloop_nursery_start(n, echo_client, NULL, "client", NULL);
  if (rc < 0) gloop_nursery_cancel(n);
  int closed = gloop_nursery_close(n);
  return rc < 0 ? rc : closed;
}

static double gl_echo(int guest) {
  memset(&echo, 0, sizeof echo);
  echo.trips = cfg.echo_trips;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, echo.sv) != 0) {
    CHECK(0, "socketpair: %s", strerror(errno));
    return NAN;
  }
  int rc = run_mode(guest, echo_main, NULL);
  CHECK(rc == 0 && echo.err == 0, "echo run: %s / %s", gloop_err_name(rc), gloop_err_name(echo.err));
  CHECK(echo.done_trips == echo.trips && echo.echoed == echo.trips, "echo: %ld/%ld trips", echo.done_trips,
        echo.trips);
  close(echo.sv[0]);
  close(echo.sv[1]);
  return rc == 0 ? echo.ns : NAN;
}

/* ---- (b) Posts to an awake run ---------------------------------------------- */

/* The producer's fields and the host's counter sit on separate cache lines:
 * sharing one, every post would wait for the line the host's callback just
 * wrote, and the probe would measure its own bookkeeping. */
static struct {
  gloop_token *token;
  long posts;
  _Atomic int post_errors;
  double ns;
  pthread_t producer;
  _Alignas(64) _Atomic long ran;
  _Atomic int stop;
} awake;

static void awake_cb(void *arg) {
  (void)arg;
  atomic_fetch_add_explicit(&awake.ran, 1, memory_order_relaxed);
}

static void awake_stop_cb(void *arg) {
  (void)arg;
  atomic_store(&awake.stop, 1);
}

static void *awake_producer(void *arg) {
  (void)arg;
  int errs = 0;
  gloop_token *token = awake.token;
  long posts = awake.posts;
  double t0 = iob_now_ns();
  for (long i = 0; i < posts; i++) errs += gloop_token_post(token, awake_cb, NULL) != 0;
  awake.ns = (iob_now_ns() - t0) / (double)posts;
  if (gloop_token_post(awake.token, awake_stop_cb, NULL) != 0) {
    errs++;
    atomic_store(&awake.stop, 1);
  }
  atomic_store(&awake.post_errors, errs);
  return NULL;
}

/* Keeps the run busy, so posts find it awake and need no wake-up. */
static int awake_spinner(void *arg) {
  (void)arg;
  while (!atomic_load(&awake.stop)) {
    int rc = gloop_checkpoint();
    if (rc < 0) return rc;
  }
  return 0;
}

static int awake_main(void *arg) {
  gloop_nursery *n;
  (void)arg;
  int rc = gloop_token_new(&awake.token);
  if (rc < 0) return rc;
  rc = gloop_nursery_open(&n);
  if (rc < 0) return rc;
  rc = gloop_nursery_start(n, awake_spinner, NULL, "spinner", NULL);
  /* The spinner must be running before the producer starts. */
  if (rc == 0) rc = gloop_checkpoint();
  if (rc == 0 && pthread_create(&awake.producer, NULL, awake_producer, NULL) != 0) rc = GLOOP_ENOMEM;
  if (rc < 0) {
    atomic_store(&awake.stop, 1);
    gloop_nursery_cancel(n);
    gloop_nursery_close(n);
    return rc;
  }
  rc = gloop_nursery_close(n);
  pthread_join(awake.producer, NULL);
  return rc;
}

static double gl_post_awake(int guest) {
  memset(&awake, 0, sizeof awake);
  awake.posts = cfg.awake_posts;
  int rc = run_mode(guest, awake_main, NULL);
  CHECK(rc == 0, "awake run: %s", gloop_err_name(rc));
  CHECK(atomic_load(&awake.post_errors) == 0, "awake: %d posts failed", atomic_load(&awake.post_errors));
  CHECK(atomic_load(&awake.ran) == awake.posts, "awake: %ld of %ld posts ran", atomic_load(&awake.ran),
        awake.posts);
  gloop_token_free(awake.token);
  return rc == 0 ? awake.ns : NAN;
}

/* ---- (b) Posts that must wake an idle run ---------------------------------- */

static struct {
  gloop_token *token;
  gloop_event *stop;
  int bursts, per_burst;
  _Atomic long ran;
  _Atomic long long first_ran_at; /* ns, written by the first callback of a burst */
  _Atomic int post_errors;
  _Atomic int ready;
  double *first, *burst, *wake;
  pthread_t producer;
} idle;

static void idle_cb(void *arg) {
  if (arg != NULL) atomic_store(&idle.first_ran_at, (long long)iob_now_ns());
  atomic_fetch_add(&idle.ran, 1);
}

static void idle_stop_cb(void *arg) {
  (void)arg;
  gloop_event_set(idle.stop);
}

/* Sleeps a little of real time; the run settles into its wait meanwhile. */
static void short_nap(long ns) {
  struct timespec ts = {0, ns};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void *idle_producer(void *arg) {
  (void)arg;
  int errs = 0;
  long expect = 0;
  for (int b = 0; b < idle.bursts; b++) {
    /* The previous burst has run; 300 us lets the loop go back to sleep. */
    while (atomic_load(&idle.ran) < expect) short_nap(20000);
    short_nap(300000);
    atomic_store(&idle.first_ran_at, 0);
    double t0 = iob_now_ns();
    errs += gloop_token_post(idle.token, idle_cb, &idle) != 0;
    double t1 = iob_now_ns();
    for (int i = 1; i < idle.per_burst; i++) errs += gloop_token_post(idle.token, idle_cb, NULL) != 0;
    double t2 = iob_now_ns();
    expect += idle.per_burst;
    while (atomic_load(&idle.first_ran_at) == 0 && errs == 0) short_nap(10000);
    idle.first[b] = t1 - t0;
    idle.burst[b] = (t2 - t0) / idle.per_burst;
    idle.wake[b] = (double)atomic_load(&idle.first_ran_at) - t0;
  }
  while (atomic_load(&idle.ran) < expect && errs == 0) short_nap(20000);
  errs += gloop_token_post(idle.token, idle_stop_cb, NULL) != 0;
  atomic_store(&idle.post_errors, errs);
  return NULL;
}

static int idle_main(void *arg) {
  (void)arg;
  int rc = gloop_token_new(&idle.token);
  if (rc == 0) rc = gloop_event_new(&idle.stop);
  if (rc < 0) return rc;
  if (pthread_create(&idle.producer, NULL, idle_producer, NULL) != 0) return GLOOP_ENOMEM;
  /* Idle: nothing but the posts wakes the run. */
  rc = gloop_event_wait(idle.stop);
  pthread_join(idle.producer, NULL);
  gloop_event_free(idle.stop);
  return rc;
}

static iob_idle_result gl_post_idle(int guest) {
  iob_idle_result r = {NAN, NAN, NAN};
  size_t nb = (size_t)cfg.idle_bursts;
  memset(&idle, 0, sizeof idle);
  idle.bursts = cfg.idle_bursts;
  idle.per_burst = cfg.idle_per_burst;
  idle.first = calloc(nb, sizeof(double));
  idle.burst = calloc(nb, sizeof(double));
  idle.wake = calloc(nb, sizeof(double));
  if (idle.first && idle.burst && idle.wake) {
    int rc = run_mode(guest, idle_main, NULL);
    CHECK(rc == 0, "idle run: %s", gloop_err_name(rc));
    CHECK(atomic_load(&idle.post_errors) == 0, "idle: %d posts failed", atomic_load(&idle.post_errors));
    CHECK(atomic_load(&idle.ran) == (long)idle.bursts * idle.per_burst, "idle: %ld posts ran",
          atomic_load(&idle.ran));
    if (rc == 0) {
      r.first_ns = iob_median(idle.first, nb);
      r.burst_ns = iob_median(idle.burst, nb);
      r.wake_ns = iob_median(idle.wake, nb);
    }
    gloop_token_free(idle.token);
  } else {
    CHECK(0, "out of memory");
  }
  free(idle.first);
  free(idle.burst);
  free(idle.wake);
  return r;
}

/* ---- Rounds, statistics and the table --------------------------------------- */

typedef struct stat3 {
  double median, min, max;
} stat3;

static stat3 summarize(const double *v, int n) {
  stat3 s = {iob_median(v, (size_t)n), INFINITY, -INFINITY};
  for (int i = 0; i < n; i++) {
    if (v[i] < s.min) s.min = v[i];
    if (v[i] > s.max) s.max = v[i];
  }
  if (n == 0) s.min = s.max = NAN;
  return s;
}

enum {
  R_ECHO_GL,
  R_ECHO_GUEST,
  R_ECHO_UV,
  R_AWAKE_GL,
  R_AWAKE_GUEST,
  R_AWAKE_UV,
  R_IDLE_FIRST_GL,
  R_IDLE_FIRST_GUEST,
  R_IDLE_FIRST_UV,
  R_IDLE_BURST_GL,
  R_IDLE_BURST_GUEST,
  R_IDLE_BURST_UV,
  R_WAKE_GL,
  R_WAKE_GUEST,
  R_WAKE_UV,
  R_COUNT
};

static double samples[R_COUNT][ROUNDS];

static void cell(char *buf, size_t cap, const double *v, int n, double scale) {
  stat3 s = summarize(v, n);
  if (isnan(s.median))
    snprintf(buf, cap, "%s", "not built");
  else
    snprintf(buf, cap, "%.1f [%.1f-%.1f]", s.median * scale, s.min * scale, s.max * scale);
}

static void row(const char *what, int gl, int guest, int uv, double scale, const char *unit,
                const char *target) {
  char a[64], b[64], c[64];
  cell(a, sizeof a, samples[gl], cfg.rounds, scale);
  cell(b, sizeof b, samples[guest], cfg.rounds, scale);
  cell(c, sizeof c, samples[uv], cfg.rounds, scale);
  printf("| %-34s | %-22s | %-22s | %-22s | %-4s | %-28s |\n", what, a, b, c, unit, target);
}

/* The guestloop/libuv ratio of medians, as text. */
static void ratio_note(char *buf, size_t cap, int gl, int uv, double bound, const char *what) {
  double g = iob_median(samples[gl], (size_t)cfg.rounds);
  double u = iob_median(samples[uv], (size_t)cfg.rounds);
  if (isnan(g) || isnan(u) || u <= 0)
    snprintf(buf, cap, "%s: no libuv figure", what);
  else
    snprintf(buf, cap, "%s: %.2fx libuv (target <= %.1fx: %s)", what, g / u, bound,
             g / u <= bound ? "met" : "MISSED");
}

static void abs_note(char *buf, size_t cap, int r, double bound, const char *what) {
  double g = iob_median(samples[r], (size_t)cfg.rounds);
  snprintf(buf, cap, "%s: %.1f ns (target <= %.0f ns: %s)", what, g, bound,
           g <= bound ? "met" : "MISSED");
}

static void print_table(void) {
  /* The machine may be shared: the load average says how far to trust the
   * absolute numbers (ratios between columns suffer less). */
  double load[3] = {NAN, NAN, NAN};
  if (getloadavg(load, 3) != 3) load[0] = load[1] = load[2] = NAN;
  printf("\ngloop_iobench: guestloop %s, median [min-max] over %d rounds; load average %.2f %.2f %.2f\n",
         gloop_version_string(), cfg.rounds, load[0], load[1], load[2]);
#if defined(GLOOP_IOBENCH_HAVE_UV)
  printf("libuv peer: %s\n", GLOOP_IOBENCH_UV_VERSION);
#else
  printf("libuv peer: not built (pkg-config libuv not found)\n");
#endif
  printf("echo: %ld round trips of %d bytes; awake: %ld posts; idle: %d bursts of %d posts\n\n",
         cfg.echo_trips, IOB_MSG, cfg.awake_posts, cfg.idle_bursts, cfg.idle_per_burst);
  printf("| %-34s | %-22s | %-22s | %-22s | %-4s | %-28s |\n", "probe", "guestloop standalone",
         "guestloop guest", "libuv", "unit", "target");
  printf("|%s|%s|%s|%s|%s|%s|\n", "------------------------------------", "------------------------",
         "------------------------", "------------------------", "------", "------------------------------");
  row("echo round trip (64 B)", R_ECHO_GL, R_ECHO_GUEST, R_ECHO_UV, 1e-3, "us", "<= 1.2x libuv");
  row("post, run awake (posting side)", R_AWAKE_GL, R_AWAKE_GUEST, R_AWAKE_UV, 1, "ns", "<= 20 ns");
  row("post, run idle: first of burst", R_IDLE_FIRST_GL, R_IDLE_FIRST_GUEST, R_IDLE_FIRST_UV, 1, "ns",
      "<= 250 ns");
  row("post, run idle: mean over burst", R_IDLE_BURST_GL, R_IDLE_BURST_GUEST, R_IDLE_BURST_UV, 1, "ns",
      "-");
  row("wake latency, post to callback", R_WAKE_GL, R_WAKE_GUEST, R_WAKE_UV, 1e-3, "us", "-");
  char note[160];
  printf("\n");
  ratio_note(note, sizeof note, R_ECHO_GL, R_ECHO_UV, 1.2, "echo, standalone");
  printf("%s\n", note);
  ratio_note(note, sizeof note, R_ECHO_GUEST, R_ECHO_UV, 1.2, "echo, guest");
  printf("%s\n", note);
  abs_note(note, sizeof note, R_AWAKE_GL, 20, "post awake, standalone");
  printf("%s\n", note);
  abs_note(note, sizeof note, R_AWAKE_GUEST, 20, "post awake, guest");
  printf("%s\n", note);
  abs_note(note, sizeof note, R_IDLE_FIRST_GL, 250, "post that wakes, standalone");
  printf("%s\n", note);
  abs_note(note, sizeof note, R_IDLE_FIRST_GUEST, 250, "post that wakes, guest");
  printf("%s\n", note);
  printf("(libuv's uv_async_send carries no payload and coalesces; a guestloop post queues fn+data"
         " and runs each one.)\n");
}

static void usage(void) {
  fprintf(stderr,
          "usage: gloop_iobench [--quick]\n"
          "  --quick  tiny counts and one round: checks every probe completes (smoke test)\n");
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0) {
      cfg.echo_trips = 1000;
      cfg.awake_posts = 20000;
      cfg.idle_bursts = 10;
      cfg.idle_per_burst = 4;
      cfg.rounds = 1;
    } else {
      usage();
      return 2;
    }
  }
  for (int r = 0; r < R_COUNT; r++)
    for (int i = 0; i < ROUNDS; i++) samples[r][i] = NAN;

  for (int round = 0; round < cfg.rounds; round++) {
    fprintf(stderr, "round %d/%d\n", round + 1, cfg.rounds);
    samples[R_ECHO_GL][round] = gl_echo(0);
    samples[R_ECHO_GUEST][round] = gl_echo(1);
    samples[R_AWAKE_GL][round] = gl_post_awake(0);
    samples[R_AWAKE_GUEST][round] = gl_post_awake(1);
    iob_idle_result s = gl_post_idle(0), g = gl_post_idle(1);
    samples[R_IDLE_FIRST_GL][round] = s.first_ns;
    samples[R_IDLE_BURST_GL][round] = s.burst_ns;
    samples[R_WAKE_GL][round] = s.wake_ns;
    samples[R_IDLE_FIRST_GUEST][round] = g.first_ns;
    samples[R_IDLE_BURST_GUEST][round] = g.burst_ns;
    samples[R_WAKE_GUEST][round] = g.wake_ns;
#if defined(GLOOP_IOBENCH_HAVE_UV)
    double v;
    iob_idle_result u;
    if (iob_uv_echo(cfg.echo_trips, &v) == 0)
      samples[R_ECHO_UV][round] = v;
    else
      failures++;
    if (iob_uv_post_awake(cfg.awake_posts, &v) == 0)
      samples[R_AWAKE_UV][round] = v;
    else
      failures++;
    if (iob_uv_post_idle(cfg.idle_bursts, cfg.idle_per_burst, &u) == 0) {
      samples[R_IDLE_FIRST_UV][round] = u.first_ns;
      samples[R_IDLE_BURST_UV][round] = u.burst_ns;
      samples[R_WAKE_UV][round] = u.wake_ns;
    } else {
      failures++;
    }
#endif
  }
  print_table();
  if (failures) {
    fprintf(stderr, "gloop_iobench: %d check(s) failed\n", failures);
    return 1;
  }
  return 0;
}
