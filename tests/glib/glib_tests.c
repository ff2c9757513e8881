/* glib_tests.c - the guest-mode contract rerun with the GLib host example as the host: posts from threads, idle wake-ups, done once on the host thread, quit and Ctrl-C while tasks run, the host ending first, idle CPU. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "glib-host.h"
#include "harness/harness.h"

/* ---- Checks: thin names over the one harness ------------------------------------ */

#define CHECK(c) TEST_CHECK_(c, "CHECK(%s) failed", #c)
#define CHECK_INT(a, op, b) TEST_INT_OP_(a, op, b)
#define CHECK_ERR(a, b) TEST_CHECK_ERR_(a, b)
#define CHECK_OK(a) CHECK_ERR(a, 0)

/* ---- The host and its done callback -------------------------------------------- */

static glib_host *H;
static pthread_t host_thread;

static struct {
  int calls;
  int off_host;
  int in_task;
  int live;     /* gloop_host_live() during the callback */
  int status;
  char message[256];
  glib_host_stats at_done; /* the adapter's counters when done ran */
} done_rec;

static void rec_done(const gloop_outcome *o, void *data)
{
  (void)data;
  done_rec.calls++;
  done_rec.off_host += !pthread_equal(pthread_self(), host_thread);
  done_rec.in_task += gloop_current_task() != NULL;
  done_rec.live = gloop_host_live();
  done_rec.status = o->status;
  snprintf(done_rec.message, sizeof done_rec.message, "%s", o->message);
  done_rec.at_done = glib_host_get_stats(H);
}

/* A run that ends by itself quits the loop from its done callback, as the
 * example program does; nobody else would. */
static void quit_after_done(const gloop_outcome *o, void *data)
{
  rec_done(o, data);
  glib_host_quit(H);
}

static void host_setup(int sigint)
{
  memset(&done_rec, 0, sizeof done_rec);
  host_thread = pthread_self();
  H = glib_host_new(sigint);
  CHECK(H != NULL);
}

/* Runs the GMainContext for `seconds` more without the loop: posts still
 * pending (ticks of the ended run) run and must change nothing. */
static void spin_context(double seconds)
{
  double end = test_real_now() + seconds;
  while (test_real_now() < end) {
    if (!g_main_context_iteration(glib_host_context(H), FALSE)) g_usleep(1000);
  }
}

/* The end of every case: the run ended once, on the host thread, outside
 * any task, with `status`; nothing was posted after done, of either kind;
 * the host-thread post was never called from another thread; the adapter
 * goes. */
static void host_finish(int status)
{
  spin_context(0.02);
  glib_host_stats st = glib_host_get_stats(H);
  CHECK_INT(st.threadsafe_posts, ==, done_rec.at_done.threadsafe_posts);
  CHECK_INT(st.host_posts, ==, done_rec.at_done.host_posts);
  CHECK_INT(st.host_posts_off_host, ==, 0);
  CHECK_INT(done_rec.calls, ==, 1);
  CHECK_INT(done_rec.off_host, ==, 0);
  CHECK_INT(done_rec.in_task, ==, 0);
  CHECK_INT(done_rec.live, ==, 0);
  CHECK_ERR(done_rec.status, status);
  CHECK(!gloop_in_run());
  CHECK(!gloop_host_live());
  glib_host_free(H);
  H = NULL;
}

typedef void (*host_fn)(void *data);
typedef struct later {
  host_fn fn;
  void *data;
} later;

static gboolean run_later(gpointer p)
{
  later *l = p;
  l->fn(l->data);
  return G_SOURCE_REMOVE;
}

/* Calls fn(data) on the host thread, from GLib's own timeout source, `ms`
 * milliseconds from now: host context, between guest ticks. */
static void after_ms(unsigned ms, host_fn fn, void *data)
{
  later *l = g_new(later, 1);
  l->fn = fn;
  l->data = data;
  GSource *s = g_timeout_source_new(ms);
  g_source_set_callback(s, run_later, l, g_free);
  g_source_attach(s, glib_host_context(H));
  g_source_unref(s);
}

/* ---- Posts from other threads ------------------------------------------------ */

enum { THREADS = 4, POSTS = 200 };

static struct {
  gloop_token *tok;
  gloop_event *all;
  pthread_t th[THREADS];
  int last[THREADS];
  int order_bad, off_host, received, sys_ran;
} pf;

static void maybe_all(void)
{
  if (pf.received == THREADS * POSTS && pf.sys_ran == THREADS) CHECK_OK(gloop_event_set(pf.all));
}

static void on_post(void *arg)
{
  intptr_t v = (intptr_t)arg;
  int t = (int)(v / 100000), i = (int)(v % 100000);
  if (i != pf.last[t] + 1) pf.order_bad++;
  pf.last[t] = i;
  pf.off_host += !pthread_equal(pthread_self(), host_thread);
  pf.received++;
  maybe_all();
}

static int sys_task(void *arg)
{
  (void)arg;
  pf.off_host += !pthread_equal(pthread_self(), host_thread);
  pf.sys_ran++;
  maybe_all();
  return 0;
}

static void *poster(void *arg)
{
  intptr_t t = (intptr_t)arg;
  for (int i = 1; i <= POSTS; i++) {
    int rc = gloop_token_post(pf.tok, on_post, (void *)(t * 100000 + i));
    if (rc != 0) TEST_FAIL("gloop_token_post from thread %d: %s", (int)t, gloop_err_name(rc));
  }
  int rc = gloop_token_start(pf.tok, sys_task, NULL, "from-thread");
  if (rc != 0) TEST_FAIL("gloop_token_start: %s", gloop_err_name(rc));
  return NULL;
}

static int posts_main(void *arg)
{
  (void)arg;
  CHECK_OK(gloop_token_new(&pf.tok));
  CHECK_OK(gloop_event_new(&pf.all));
  for (intptr_t t = 0; t < THREADS; t++)
    CHECK_INT(pthread_create(&pf.th[t], NULL, poster, (void *)t), ==, 0);
  return gloop_event_wait(pf.all);
}

TEST_CASE(posts_from_threads)
{
  memset(&pf, 0, sizeof pf);
  host_setup(0);
  CHECK_OK(glib_host_start(H, posts_main, NULL, quit_after_done, NULL, NULL));
  glib_host_run(H);
  for (int t = 0; t < THREADS; t++) pthread_join(pf.th[t], NULL);
  CHECK_INT(pf.received, ==, THREADS * POSTS);
  CHECK_INT(pf.sys_ran, ==, THREADS);
  CHECK_INT(pf.order_bad, ==, 0);
  CHECK_INT(pf.off_host, ==, 0);
  glib_host_stats st = glib_host_get_stats(H);
  /* The run had the host-thread post, so the threadsafe one came only from
   * other threads (if the run ever went idle: a flood of posts may keep it
   * busy throughout), and the busy ticks took the cheap path. */
  CHECK_INT(st.threadsafe_on_host, ==, 0);
  CHECK_INT(st.host_posts, >, 0);
  host_finish(0);
  gloop_event_free(pf.all);
  gloop_token_free(pf.tok);
  return 0;
}

/* ---- Wake-ups while idle ------------------------------------------------------- */

static struct {
  gloop_token *tok;
  gloop_event *ev;
  pthread_t th;
  int sleeps;
  int set_off_host;
  unsigned long ts_before_late;
} wk;

static void set_event(void *arg)
{
  (void)arg;
  wk.set_off_host = !pthread_equal(pthread_self(), host_thread);
  CHECK_OK(gloop_event_set(wk.ev));
}

/* Posts after the run has gone idle with no timer armed, so only the
 * post itself can wake it. */
static void *late_poster(void *arg)
{
  (void)arg;
  g_usleep(50000);
  int rc = gloop_token_post(wk.tok, set_event, NULL);
  if (rc != 0) TEST_FAIL("gloop_token_post: %s", gloop_err_name(rc));
  return NULL;
}

static void *add_one(void *arg) { return (void *)((intptr_t)arg + 1); }

static int wakeups_main(void *arg)
{
  (void)arg;
  for (int i = 0; i < 10; i++) {
    CHECK_OK(gloop_sleep(0.005));
    wk.sleeps++;
  }
  /* A worker thread's result wakes the idle run too. */
  void *r = NULL;
  CHECK_OK(gloop_to_thread(add_one, (void *)(intptr_t)41, 0, &r));
  CHECK_INT((intptr_t)r, ==, 42);
  CHECK_OK(gloop_token_new(&wk.tok));
  CHECK_OK(gloop_event_new(&wk.ev));
  wk.ts_before_late = glib_host_get_stats(H).threadsafe_posts;
  CHECK_INT(pthread_create(&wk.th, NULL, late_poster, NULL), ==, 0);
  return gloop_event_wait(wk.ev);
}

TEST_CASE(wakeups_while_idle)
{
  memset(&wk, 0, sizeof wk);
  host_setup(0);
  CHECK_OK(glib_host_start(H, wakeups_main, NULL, quit_after_done, NULL, NULL));
  glib_host_run(H);
  pthread_join(wk.th, NULL);
  CHECK_INT(wk.sleeps, ==, 10);
  CHECK_INT(wk.set_off_host, ==, 0);
  /* The run was idle with no timer when the late post came: only the
   * helper thread's threadsafe post can have woken it. */
  CHECK_INT(glib_host_get_stats(H).threadsafe_posts, >, wk.ts_before_late);
  CHECK_INT(glib_host_get_stats(H).threadsafe_on_host, ==, 0);
  host_finish(0);
  gloop_event_free(wk.ev);
  gloop_token_free(wk.tok);
  return 0;
}

/* ---- Done once, on the host thread ------------------------------------------- */

static int failing_main(void *arg)
{
  (void)arg;
  CHECK_OK(gloop_sleep(0.001));
  return gloop_fail(GLOOP_EPIPE, "the pipe broke after %d ms", 1);
}

TEST_CASE(done_once_on_host)
{
  host_setup(0);
  CHECK_OK(glib_host_start(H, failing_main, NULL, quit_after_done, NULL, NULL));
  glib_host_run(H);
  CHECK(strcmp(done_rec.message, "the pipe broke after 1 ms") == 0);
  host_finish(GLOOP_EPIPE);
  return 0;
}

/* ---- Quitting while tasks run ---------------------------------------------------- */

enum { WORKERS = 3 };

static struct {
  int started, cleanups, cleanups_at_done;
  int live_after_quit, pending_after_quit;
  int from_task;
  int quit_in_task_live;
  double quit_at, done_at, returned_at;
} qt;

static int quit_worker(void *arg)
{
  (void)arg;
  qt.started++;
  int rc = gloop_sleep_forever();
  gloop_scope *shield;
  CHECK_OK(gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &shield));
  CHECK_OK(gloop_sleep(0.02));
  CHECK_OK(gloop_scope_close(shield));
  qt.cleanups++;
  return rc == GLOOP_ECANCELED ? 0 : rc;
}

static int quit_main(void *arg)
{
  (void)arg;
  gloop_nursery *n;
  CHECK_OK(gloop_nursery_open(&n));
  for (int i = 0; i < WORKERS; i++) CHECK_OK(gloop_nursery_start(n, quit_worker, NULL, NULL, NULL));
  if (qt.from_task) {
    CHECK_OK(gloop_sleep(0.01));
    glib_host_quit(H);
    qt.quit_in_task_live = gloop_host_live();
  }
  int rc = gloop_nursery_close(n);
  return rc < 0 ? rc : gloop_checkpoint();
}

static void quit_done(const gloop_outcome *o, void *data)
{
  rec_done(o, data);
  qt.cleanups_at_done = qt.cleanups;
  qt.done_at = test_real_now();
}

static void ask_quit(void *data)
{
  (void)data;
  if (qt.started < WORKERS) TEST_FAIL("the workers did not start in time");
  qt.quit_at = test_real_now();
  glib_host_quit(H);
  /* Held back: the run is live, cancelled, and the loop goes on. */
  qt.live_after_quit = gloop_host_live();
  qt.pending_after_quit = gloop_host_quit_pending();
  glib_host_quit(H);
}

static void send_sigint(void *data)
{
  (void)data;
  if (qt.started < WORKERS) TEST_FAIL("the workers did not start in time");
  qt.quit_at = test_real_now();
  kill(getpid(), SIGINT);
}

/* how: 0 a host-side quit, 1 a quit from a task, 2 Ctrl-C. */
static void quit_scenario(int how)
{
  memset(&qt, 0, sizeof qt);
  qt.from_task = how == 1;
  host_setup(how == 2);
  CHECK_OK(glib_host_start(H, quit_main, NULL, quit_done, NULL, NULL));
  if (how == 0) after_ms(50, ask_quit, NULL);
  if (how == 2) after_ms(50, send_sigint, NULL);
  glib_host_run(H);
  qt.returned_at = test_real_now();
  if (how == 0) {
    CHECK_INT(qt.live_after_quit, ==, 1);
    CHECK_INT(qt.pending_after_quit, ==, 1);
  }
  if (how == 1) CHECK_INT(qt.quit_in_task_live, ==, 1);
  /* Every cleanup ran before done, and the loop ended only after done. */
  CHECK_INT(qt.cleanups_at_done, ==, WORKERS);
  CHECK(qt.returned_at >= qt.done_at);
  host_finish(GLOOP_ECANCELED);
}

TEST_CASE(quit_while_tasks_run)
{
  quit_scenario(0);
  return 0;
}

TEST_CASE(quit_from_task)
{
  quit_scenario(1);
  return 0;
}

TEST_CASE(sigint_cancels)
{
  struct sigaction before, after;
  sigaction(SIGINT, NULL, &before);
  if (before.sa_handler == SIG_IGN) {
    /* Started with SIGINT ignored (a background job): make it reachable. */
    signal(SIGINT, SIG_DFL);
  }
  quit_scenario(2);
  /* The first Ctrl-C removed the adapter's source, and GLib gave SIGINT
   * back its default action: a second Ctrl-C ends a stuck program. */
  sigaction(SIGINT, NULL, &after);
  CHECK(after.sa_handler == SIG_DFL);
  return 0;
}

/* ---- The host ends first ---------------------------------------------------------- */

static struct {
  int started, resumed;
} he;

static int parked(void *arg)
{
  (void)arg;
  he.started++;
  gloop_sleep(60.0);
  he.resumed++;
  return 0;
}

static int ends_main(void *arg)
{
  gloop_nursery *n;
  CHECK_OK(gloop_nursery_open(&n));
  for (int i = 0; i < WORKERS; i++) CHECK_OK(gloop_nursery_start(n, parked, arg, NULL, NULL));
  gloop_nursery_close(n);
  he.resumed++;
  return 0;
}

TEST_CASE(host_ends_first)
{
  memset(&he, 0, sizeof he);
  host_setup(1);
  CHECK_OK(glib_host_start(H, ends_main, NULL, rec_done, NULL, NULL));
  /* The host iterates its context by hand and goes away mid-run. */
  double limit = test_real_now() + test_limit(10.0);
  while (he.started < WORKERS) {
    if (test_real_now() > limit) TEST_FAIL("the tasks did not start");
    g_main_context_iteration(glib_host_context(H), TRUE);
  }
  CHECK(gloop_host_live());
  glib_host_free(H);
  H = NULL;
  /* Abandoned: nothing resumed, no done, and the thread is free again. */
  CHECK(!gloop_in_run());
  CHECK(!gloop_host_live());
  CHECK_INT(he.resumed, ==, 0);
  CHECK_INT(done_rec.calls, ==, 0);
  CHECK_ERR(gloop_host_ending(), GLOOP_ENORUN);
  return 0;
}

/* ---- Two runs in one loop ------------------------------------------------------------ */

static int ran[2];

static int numbered(void *arg)
{
  ran[(intptr_t)arg]++;
  return gloop_sleep(0.002);
}

static void first_done(const gloop_outcome *o, void *data)
{
  (void)data;
  CHECK_OK(o->status);
  /* The policy lets a done callback start the next run. */
  CHECK_OK(glib_host_start(H, numbered, (void *)1, quit_after_done, NULL, NULL));
}

TEST_CASE(sequential_runs)
{
  host_setup(0);
  CHECK_OK(glib_host_start(H, numbered, (void *)0, first_done, NULL, NULL));
  glib_host_run(H);
  CHECK_INT(ran[0], ==, 1);
  CHECK_INT(ran[1], ==, 1);
  host_finish(0);
  return 0;
}

/* ---- Idle CPU ------------------------------------------------------------------------- */

enum { SLEEPERS = 10 };
#define IDLE_SECONDS 1.0
/* Generous: an idle run should cost nothing at all; a run that polled
 * even every millisecond would use several percent. */
#define MAX_IDLE_PERCENT 2.0

static struct {
  int sleeping, cancelled;
  double cpu0, wall0, percent;
} idle;

static int idle_sleeper(void *arg)
{
  (void)arg;
  idle.sleeping++;
  /* Staggered long sleeps: no timer falls due during the measurement. */
  if (gloop_sleep(30.0 + idle.sleeping) == GLOOP_ECANCELED) idle.cancelled++;
  return 0;
}

static int idle_main(void *arg)
{
  (void)arg;
  gloop_nursery *n;
  CHECK_OK(gloop_nursery_open(&n));
  for (int i = 0; i < SLEEPERS; i++) CHECK_OK(gloop_nursery_start(n, idle_sleeper, NULL, NULL, NULL));
  return gloop_nursery_close(n);
}

static void idle_end(void *data)
{
  (void)data;
  double cpu = test_cpu_seconds() - idle.cpu0, wall = test_real_now() - idle.wall0;
  idle.percent = 100.0 * cpu / wall;
  printf("idle_cpu: %d tasks sleeping, %.2f s: %.3f ms CPU = %.3f %% of a core (limit %.1f %%)\n",
         SLEEPERS, wall, cpu * 1e3, idle.percent, MAX_IDLE_PERCENT);
  glib_host_quit(H);
}

static void idle_begin(void *data)
{
  (void)data;
  CHECK_INT(idle.sleeping, ==, SLEEPERS);
  idle.cpu0 = test_cpu_seconds();
  idle.wall0 = test_real_now();
  after_ms((unsigned)(IDLE_SECONDS * 1000), idle_end, NULL);
}

TEST_CASE(idle_cpu)
{
  /* Under an emulator or a sanitizer, or valgrind (a time scale above 1),
   * CPU time measures the tool, not the library. */
  if (getenv("GLOOP_TEST_EMULATED") != NULL || test_time_scale() > 1.0) {
    printf("SKIP idle_cpu: CPU time is not meaningful under emulation or a time scale of %g\n",
           test_time_scale());
    return TEST_SKIP_CODE;
  }
  memset(&idle, 0, sizeof idle);
  host_setup(0);
  CHECK_OK(glib_host_start(H, idle_main, NULL, rec_done, NULL, NULL));
  after_ms(300, idle_begin, NULL);
  glib_host_run(H);
  CHECK_INT(idle.cancelled, ==, SLEEPERS);
  CHECK(idle.percent < MAX_IDLE_PERCENT);
  /* The quit cancelled the sleepers, which count that as success. */
  host_finish(0);
  return 0;
}

/* ---- Misuse of the adapter ---------------------------------------------------------- */

static struct {
  int start_rc, run_rc, quit_rc, get_null;
  int run_in_task, run_in_callback;
  int freed_in_task;
} mu;

static void *other_thread(void *arg)
{
  (void)arg;
  mu.start_rc = glib_host_start(H, numbered, (void *)0, rec_done, NULL, NULL);
  mu.run_rc = glib_host_run(H);
  mu.quit_rc = glib_host_quit(H);
  /* Refused with a message; the adapter stays usable. */
  glib_host_free(H);
  return NULL;
}

static void run_in_callback(void *arg)
{
  (void)arg;
  mu.run_in_callback = glib_host_run(H);
  /* Refused: the loop is running (and this is a GLib callback). */
  glib_host_free(H);
  glib_host_quit(H);
}

static int misuse_main(void *arg)
{
  (void)arg;
  mu.run_in_task = glib_host_run(H);
  glib_host_free(H); /* refused: inside the run */
  /* Until run_in_callback's quit cancels the run. */
  int rc = gloop_sleep_forever();
  return rc == GLOOP_ECANCELED ? 0 : rc;
}

TEST_CASE(misuse)
{
  memset(&mu, 0, sizeof mu);
  ran[0] = 0;
  CHECK_ERR(glib_host_start(NULL, numbered, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  CHECK_ERR(glib_host_run(NULL), GLOOP_EINVAL);
  CHECK_ERR(glib_host_quit(NULL), GLOOP_EINVAL);
  CHECK(glib_host_context(NULL) == NULL);
  CHECK_INT(glib_host_get_stats(NULL).host_posts, ==, 0);
  glib_host_free(NULL);
  host_setup(0);
  /* The adapter's own errors, and the policy's. */
  CHECK_ERR(glib_host_start(H, NULL, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  pthread_t th;
  CHECK_INT(pthread_create(&th, NULL, other_thread, NULL), ==, 0);
  pthread_join(th, NULL);
  CHECK_ERR(mu.start_rc, GLOOP_EWRONGTHREAD);
  CHECK_ERR(mu.run_rc, GLOOP_EWRONGTHREAD);
  CHECK_ERR(mu.quit_rc, GLOOP_EWRONGTHREAD);
  CHECK_OK(glib_host_start(H, misuse_main, NULL, quit_after_done, NULL, NULL));
  CHECK_ERR(glib_host_start(H, numbered, NULL, NULL, NULL, NULL), GLOOP_ERUNNING);
  after_ms(1, run_in_callback, NULL);
  CHECK_OK(glib_host_run(H));
  CHECK_ERR(mu.run_in_task, GLOOP_EBUSY);
  CHECK_ERR(mu.run_in_callback, GLOOP_EBUSY);
  host_finish(0);
  return 0;
}

/* ---- Runner ------------------------------------------------------------------------- */

#define GLOOP_TEST_LIST "glib/glib-list.h"
#include "harness/runner_main.h"
