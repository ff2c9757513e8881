/* bench_qt.c - the gloop_bench_qt program: guest-run costs measured inside a Qt application, medians over rounds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guestloop/guestloop-qt.h"
#include "harness/harness.h"
#include "qt_support.h"

/* ---- Parameters -------------------------------------------------------------- */

/* Full-size counts and their --smoke counterparts (a quick check that every
 * measurement runs, not a measurement). */
typedef struct params {
  int rounds;
  long single_yields;      /* one task yielding in a loop */
  int many_tasks;          /* tasks x yields each */
  long many_yields;
  int spawn_tasks;
  int sleeps;              /* sequential sleeps of SLEEP_S */
  double idle_s;           /* one task sleeping while CPU is measured */
  int busy_tasks;          /* tasks yielding while the Qt timer is probed */
  double busy_s;
  long post_hops;          /* host post chain and burst */
  int waiting_tasks;       /* tasks waiting on one event while RSS is read */
} params;

static const params full = {5, 200000, 100, 1000, 10000, 200, 3.0, 100, 2.0, 100000, 10000};
static const params smoke = {1, 1000, 10, 100, 100, 5, 0.2, 10, 0.1, 1000, 100};
static params P;

#define SLEEP_S 0.005
#define PROBE_MS 10

/* ---- Results ------------------------------------------------------------------- */

enum metric {
  M_SINGLE_YIELD,
  M_MANY_YIELD,
  M_SPAWN,
  M_SPAWN_AGAIN,
  M_SLEEP_MEAN,
  M_SLEEP_P99,
  M_SLEEP_CPU,
  M_IDLE_CPU,
  M_BUSY_GAP,
  M_BUSY_TICKS,
  M_POST_TS_CHAIN,
  M_POST_NTS_CHAIN,
  M_POST_TS_BURST,
  M_POST_NTS_BURST,
  M_WAITING_RSS,
  M_COUNT
};

static const struct {
  const char *name;
  const char *unit;
} metric_info[M_COUNT] = {
    {"1 task, yield loop", "us/yield"},
    {"100 tasks x 1000 yields", "us/yield"},
    {"spawn 10000 tasks", "us/task"},
    {"spawn 10000 tasks, again in the same run", "us/task"},
    {"200 x sleep(5 ms): mean lateness", "ms"},
    {"200 x sleep(5 ms): p99 lateness", "ms"},
    {"200 x sleep(5 ms): CPU per sleep", "us/sleep"},
    {"idle CPU, 1 task sleeping 3 s", "% core"},
    {"10 ms QTimer max gap, 100 busy tasks", "ms"},
    {"10 ms QTimer ticks in 2 s, busy", "ticks"},
    {"host post chain: thread-safe", "us/hop"},
    {"host post chain: GUI-thread", "us/hop"},
    {"host post burst: thread-safe", "us/post"},
    {"host post burst: GUI-thread", "us/post"},
    {"RSS per waiting task, 10000 tasks", "B/task"},
};

static double samples[M_COUNT][16];
static int round_no;

static void record(enum metric m, double v) { samples[m][round_no] = v; }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* ---- Steps ----------------------------------------------------------------------- */

/* Each step starts one measurement; its end calls step_done(), which moves
 * on from a fresh pass of Qt's loop. */
static gloop_qt_app *app;
static int step_no;
static int failed;
static void next_step(void *data);

static void step_done(void) { qts_after(0, next_step, NULL); }

static void run_done(const gloop_outcome *o, void *data) {
  (void)data;
  if (o->status != 0) {
    fprintf(stderr, "bench: a run failed: %s (%s)\n", o->message, gloop_err_name(o->status));
    failed = 1;
    gloop_qt_app_quit(app);
    return;
  }
  step_done();
}

/* --tick-budget, --timer-spin: the runs' options; NAN keeps the default. */
static double tick_budget = NAN;
static double timer_spin = NAN;

static void start_run(gloop_task_fn entry) {
  gloop_options o;
  gloop_options_init(&o);
  if (!isnan(tick_budget)) o.tick_budget = tick_budget;
  if (!isnan(timer_spin)) o.timer_spin = timer_spin;
  int rc = gloop_qt_start(entry, NULL, run_done, NULL, &o);
  if (rc < 0) {
    fprintf(stderr, "bench: cannot start a run: %s\n", gloop_strerror(rc));
    failed = 1;
    gloop_qt_app_quit(app);
  }
}

/* 1 task yielding. */
static int single_yield(void *arg) {
  (void)arg;
  double t0 = test_real_now();
  for (long i = 0; i < P.single_yields; i++) {
    int rc = gloop_checkpoint();
    if (rc < 0) return rc;
  }
  record(M_SINGLE_YIELD, (test_real_now() - t0) * 1e6 / (double)P.single_yields);
  return 0;
}

/* Many tasks yielding; the time includes spawning them. */
static int yield_worker(void *arg) {
  (void)arg;
  for (long i = 0; i < P.many_yields; i++) {
    int rc = gloop_checkpoint();
    if (rc < 0) return rc;
  }
  return 0;
}

static int many_yield(void *arg) {
  (void)arg;
  gloop_nursery *n;
  double t0 = test_real_now();
  int rc = gloop_nursery_open(&n);
  if (rc < 0) return rc;
  for (int i = 0; i < P.many_tasks && rc == 0; i++)
    rc = gloop_nursery_start(n, yield_worker, NULL, NULL, NULL);
  int close_rc = gloop_nursery_close(n);
  if (rc < 0 || close_rc < 0) return rc < 0 ? rc : close_rc;
  record(M_MANY_YIELD, (test_real_now() - t0) * 1e6 / ((double)P.many_tasks * (double)P.many_yields));
  return 0;
}

/* Spawning tasks that each yield once. */
static int spawn_worker(void *arg) {
  (void)arg;
  return gloop_checkpoint();
}

/* Two bursts in one run: the first is what a fresh run pays, the second
 * what the same run pays once it has done it before. */
static int spawn(void *arg) {
  (void)arg;
  const enum metric burst[2] = {M_SPAWN, M_SPAWN_AGAIN};
  for (int b = 0; b < 2; b++) {
    gloop_nursery *n;
    double t0 = test_real_now();
    int rc = gloop_nursery_open(&n);
    if (rc < 0) return rc;
    for (int i = 0; i < P.spawn_tasks && rc == 0; i++)
      rc = gloop_nursery_start(n, spawn_worker, NULL, NULL, NULL);
    int close_rc = gloop_nursery_close(n);
    if (rc < 0 || close_rc < 0) return rc < 0 ? rc : close_rc;
    record(burst[b], (test_real_now() - t0) * 1e6 / (double)P.spawn_tasks);
  }
  return 0;
}

/* Resident memory added by tasks that all wait on one event, read once every
 * task has reached its wait (the peers measure the same way). */
static int waiting_count;

static double rss_bytes(void) {
  long pages_total = 0, pages_res = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL) return NAN;
  int ok = fscanf(f, "%ld %ld", &pages_total, &pages_res) == 2;
  fclose(f);
  return ok ? (double)pages_res * (double)sysconf(_SC_PAGESIZE) : NAN;
}

static int waiting_worker(void *arg) {
  waiting_count++;
  return gloop_event_wait(arg);
}

static int waiting(void *arg) {
  (void)arg;
  gloop_event *release;
  gloop_nursery *n;
  int rc = gloop_event_new(&release);
  if (rc < 0) return rc;
  waiting_count = 0;
  double rss0 = rss_bytes();
  rc = gloop_nursery_open(&n);
  if (rc < 0) {
    gloop_event_free(release);
    return rc;
  }
  for (int i = 0; i < P.waiting_tasks && rc == 0; i++)
    rc = gloop_nursery_start(n, waiting_worker, release, NULL, NULL);
  while (rc == 0 && waiting_count < P.waiting_tasks) rc = gloop_checkpoint();
  double rss = rss_bytes();
  int set_rc = gloop_event_set(release);
  int close_rc = gloop_nursery_close(n);
  gloop_event_free(release);
  if (rc < 0 || set_rc < 0 || close_rc < 0) return rc < 0 ? rc : set_rc < 0 ? set_rc : close_rc;
  record(M_WAITING_RSS, (rss - rss0) / (double)P.waiting_tasks);
  return 0;
}

/* Sequential sleeps; lateness on the real monotonic clock, and the CPU
 * time of the whole process (all threads, the helper's included) per sleep:
 * what meeting deadlines early (gloop_options.timer_spin) costs. */
static int sleeps(void *arg) {
  (void)arg;
  double *late = malloc(sizeof *late * (size_t)P.sleeps);
  if (late == NULL) return GLOOP_ENOMEM;
  double sum = 0;
  double c0 = test_cpu_seconds();
  for (int i = 0; i < P.sleeps; i++) {
    double t0 = test_real_now();
    int rc = gloop_sleep(SLEEP_S);
    if (rc < 0) {
      free(late);
      return rc;
    }
    late[i] = (test_real_now() - t0 - SLEEP_S) * 1e3;
    sum += late[i];
  }
  record(M_SLEEP_CPU, (test_cpu_seconds() - c0) * 1e6 / P.sleeps);
  qsort(late, (size_t)P.sleeps, sizeof *late, cmp_double);
  /* Nearest rank: the 198th of 200. */
  int rank = (int)ceil(0.99 * P.sleeps);
  record(M_SLEEP_MEAN, sum / P.sleeps);
  record(M_SLEEP_P99, late[rank - 1]);
  free(late);
  return 0;
}

/* One task asleep; CPU of the whole process (all threads) over the sleep. */
static int idle(void *arg) {
  (void)arg;
  double c0 = test_cpu_seconds(), t0 = test_real_now();
  int rc = gloop_sleep(P.idle_s);
  if (rc < 0) return rc;
  record(M_IDLE_CPU, 100.0 * (test_cpu_seconds() - c0) / (test_real_now() - t0));
  return 0;
}

/* Busy tasks while a 10 ms Qt timer is probed. */
static double busy_end;

static int busy_worker(void *arg) {
  (void)arg;
  while (gloop_now() < busy_end) {
    int rc = gloop_checkpoint();
    if (rc < 0) return rc;
  }
  return 0;
}

static int busy(void *arg) {
  (void)arg;
  gloop_nursery *n;
  int rc = gloop_nursery_open(&n);
  if (rc < 0) return rc;
  qts_probe_start(PROBE_MS);
  double probe_start = gloop_now();
  busy_end = probe_start + P.busy_s;
  for (int i = 0; i < P.busy_tasks && rc == 0; i++)
    rc = gloop_nursery_start(n, busy_worker, NULL, NULL, NULL);
  int close_rc = gloop_nursery_close(n);
  /* The window is the busy period plus half a period: the timer's last
   * firing in the busy period falls due at its very end, and counting it
   * only if it fired with no lateness at all would make 200 unreachable for
   * every loop. The Python peers close their window the same way. */
  if (rc == 0 && close_rc == 0) rc = gloop_sleep_until(probe_start + P.busy_s + PROBE_MS / 2000.0);
  int ticks;
  double gap;
  qts_probe_stop(&ticks, &gap, NULL);
  if (rc < 0 || close_rc < 0) return rc < 0 ? rc : close_rc;
  record(M_BUSY_GAP, gap);
  record(M_BUSY_TICKS, ticks);
  return 0;
}

/* The host posts on their own, outside any run: a callback that re-posts
 * itself (one hop per pass of Qt's loop), and a burst posted at once. */
static gloop_post_fn post_under_test;
static long post_count;
static double post_t0;
static enum metric post_metric;

static void post_finish(void) {
  record(post_metric, (test_real_now() - post_t0) * 1e6 / (double)P.post_hops);
  step_done();
}

static void chain_hop(void *arg) {
  (void)arg;
  if (++post_count < P.post_hops)
    post_under_test(chain_hop, NULL, NULL);
  else
    post_finish();
}

static void burst_item(void *arg) {
  (void)arg;
  if (++post_count == P.post_hops) post_finish();
}

static void post_bench(gloop_post_fn post, int burst, enum metric m) {
  post_under_test = post;
  post_metric = m;
  post_count = 0;
  post_t0 = test_real_now();
  if (burst) {
    for (long i = 0; i < P.post_hops; i++) post(burst_item, NULL, NULL);
  } else {
    post(chain_hop, NULL, NULL);
  }
}

static void next_step(void *data) {
  (void)data;
  switch (step_no++) {
    case 0: start_run(single_yield); return;
    case 1: start_run(many_yield); return;
    case 2: start_run(spawn); return;
    case 3: start_run(sleeps); return;
    case 4: start_run(idle); return;
    case 5: start_run(busy); return;
    case 6: post_bench(gloop_qt_post, 0, M_POST_TS_CHAIN); return;
    case 7: post_bench(gloop_qt_post_not_threadsafe, 0, M_POST_NTS_CHAIN); return;
    case 8: post_bench(gloop_qt_post, 1, M_POST_TS_BURST); return;
    case 9: post_bench(gloop_qt_post_not_threadsafe, 1, M_POST_NTS_BURST); return;
    case 10:
      /* Stacks that earlier runs left in the process-wide cache are
       * resident already and would hide their memory from the waiting
       * run's RSS difference: that run starts with an empty cache. */
      gloop_stack_cache_release();
      start_run(waiting);
      return;
    default: break;
  }
  fprintf(stderr, "bench: round %d of %d done\n", round_no + 1, P.rounds);
  if (++round_no == P.rounds) {
    gloop_qt_app_quit(app);
    return;
  }
  step_no = 0;
  next_step(NULL);
}

/* ---- Main ------------------------------------------------------------------------ */

static void print_table(void) {
  printf("libguestloop in Qt %s, tick budget %g s: median [min-max] over %d round%s\n",
         getenv("QT_NO_GLIB") != NULL ? "(QT_NO_GLIB=1)" : "(default dispatcher)",
         isnan(tick_budget) ? GLOOP_DEFAULT_TICK_BUDGET : tick_budget, P.rounds,
         P.rounds == 1 ? "" : "s");
  if (P.rounds == smoke.rounds && P.spawn_tasks == smoke.spawn_tasks)
    printf("(smoke run: tiny counts, the numbers mean nothing)\n");
  printf("%-44s %12s %24s  %s\n", "metric", "median", "[min - max]", "unit");
  for (int m = 0; m < M_COUNT; m++) {
    double sorted[16];
    memcpy(sorted, samples[m], sizeof(double) * (size_t)P.rounds);
    qsort(sorted, (size_t)P.rounds, sizeof(double), cmp_double);
    double median = P.rounds % 2 ? sorted[P.rounds / 2]
                                 : (sorted[P.rounds / 2 - 1] + sorted[P.rounds / 2]) / 2;
    char range[64];
    snprintf(range, sizeof range, "[%.3f - %.3f]", sorted[0], sorted[P.rounds - 1]);
    printf("%-44s %12.3f %24s  %s\n", metric_info[m].name, median, range, metric_info[m].unit);
  }
}

/* An option's value in seconds, 0 to 1. */
static int seconds_arg(const char *option, const char *arg, double *out) {
  char *end;
  *out = strtod(arg, &end);
  if (*end != '\0' || !(*out >= 0 && *out <= 1)) {
    fprintf(stderr, "bench: %s takes seconds, 0 to 1\n", option);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  P = full;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--smoke") == 0) {
      P = smoke;
    } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
      P.rounds = atoi(argv[++i]);
    } else if (strcmp(argv[i], "--tick-budget") == 0 && i + 1 < argc) {
      if (seconds_arg("--tick-budget", argv[++i], &tick_budget) != 0) return 2;
    } else if (strcmp(argv[i], "--timer-spin") == 0 && i + 1 < argc) {
      if (seconds_arg("--timer-spin", argv[++i], &timer_spin) != 0) return 2;
    } else {
      fprintf(stderr,
              "usage: %s [--smoke] [--rounds N (1-16)] [--tick-budget SECONDS] [--timer-spin SECONDS]\n",
              argv[0]);
      return 2;
    }
  }
  if (P.rounds < 1 || P.rounds > 16) {
    fprintf(stderr, "bench: --rounds must be 1 to 16\n");
    return 2;
  }
  int rc = gloop_qt_app_new(&argc, argv, &app);
  if (rc < 0) {
    fprintf(stderr, "bench: cannot create the application: %s\n", gloop_strerror(rc));
    return 1;
  }
  qts_after(0, next_step, NULL);
  gloop_qt_app_exec(app);
  gloop_qt_app_free(app);
  if (failed) return 1;
  print_table();
  return 0;
}
