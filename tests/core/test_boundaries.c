/* test_boundaries.c - the edges of a run's life: work accepted just before the end, calls made during the end and from the done callback, and abandon with work in flight. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "host_toy.h"
#include "test.h"

/* done_cb calls of the current scenario. */
static int end_done_calls;

static int run_in(int guest, gloop_task_fn entry, void *arg, gloop_done_fn done, void *data) {
  if (!guest) return gloop_run(entry, arg, NULL, done, data);
  host_toy_init();
  ASSERT_OK(gloop_start_guest_run(entry, arg, host_toy_post_threadsafe, done, data));
  /* The toy's own done callback is not used here, so wait for ours. */
  while (end_done_calls == 0) host_toy_run_for(0.001);
  host_toy_drain();
  host_toy_fini();
  return 0;
}

/* ---- The end sequence, walked -------------------------------------------------------
 *
 * The main task posts a callback through a token and returns at once: the
 * post is accepted while the run is live and runs after the last task has
 * exited, when the queue has closed. It must still find the run live (its
 * objects work, gloop_in_run() says 1) and may not tear it down
 * (gloop_abandon_run() is GLOOP_EBUSY; it used to free the run under the end
 * of the run's own tick). In the done callback the run is gone: every call
 * gets GLOOP_ENORUN. */

static struct {
  gloop_token *token;
  gloop_event *ev;
  gloop_timer *timer;
  int post_ran;
  int post_in_run, post_event_set, post_timer_stop, post_abandon, post_token_post;
  int done_in_run, done_event_set, done_timer_stop, done_abandon, done_token_post,
      done_token_start, done_status;
} end;

static void never(void *arg) {
  (void)arg;
  TEST_FAIL("a callback refused at the end ran");
}
static int never_task(void *arg) {
  (void)arg;
  TEST_FAIL("a start refused at the end ran");
}

static void end_post(void *arg) {
  (void)arg;
  end.post_ran++;
  end.post_in_run = gloop_in_run();
  end.post_event_set = gloop_event_set(end.ev);
  end.post_timer_stop = gloop_timer_stop(end.timer);
  end.post_abandon = gloop_abandon_run();
  /* The queue has closed: this post is refused and never runs. */
  end.post_token_post = gloop_token_post(end.token, never, NULL);
}

static void fired(void *arg) { (void)arg; }

static int end_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_token_new(&end.token));
  ASSERT_OK(gloop_event_new(&end.ev));
  ASSERT_OK(gloop_timer_new(&end.timer));
  ASSERT_OK(gloop_timer_start(end.timer, 100.0, fired, NULL));
  ASSERT_OK(gloop_token_post(end.token, end_post, NULL));
  return 0;
}

static void end_done(const gloop_outcome *o, void *data) {
  (void)data;
  end_done_calls++;
  end.done_status = o->status;
  end.done_in_run = gloop_in_run();
  end.done_event_set = gloop_event_set(end.ev);
  end.done_timer_stop = gloop_timer_stop(end.timer);
  end.done_abandon = gloop_abandon_run();
  end.done_token_post = gloop_token_post(end.token, never, NULL);
  end.done_token_start = gloop_token_start(end.token, never_task, NULL, "late");
}

static int scenario_end_sequence(int guest) {
  memset(&end, 0, sizeof end);
  end_done_calls = 0;
  run_in(guest, end_main, NULL, end_done, NULL);
  ASSERT_EQ_INT(end_done_calls, 1);
  ASSERT_OK(end.done_status);
  /* Step 2: the queue has closed, the accepted post runs in the live run. */
  ASSERT_EQ_INT(end.post_ran, 1);
  ASSERT_EQ_INT(end.post_in_run, 1);
  ASSERT_OK(end.post_event_set);
  ASSERT_OK(end.post_timer_stop);
  ASSERT_ERR(end.post_abandon, GLOOP_EBUSY);
  ASSERT_ERR(end.post_token_post, GLOOP_ENORUN);
  /* Step 3: the done callback; the run is gone. */
  ASSERT_EQ_INT(end.done_in_run, 0);
  ASSERT_ERR(end.done_event_set, GLOOP_ENORUN);
  /* A timer of an ended run stops quietly (it cannot fire any more). */
  ASSERT_OK(end.done_timer_stop);
  ASSERT_ERR(end.done_abandon, GLOOP_ENORUN);
  ASSERT_ERR(end.done_token_post, GLOOP_ENORUN);
  ASSERT_ERR(end.done_token_start, GLOOP_ENORUN);
  /* Step 4, after teardown: objects stay valid to free, and free cleanly. */
  ASSERT_EQ_INT(gloop_in_run(), 0);
  ASSERT_ERR(gloop_event_set(end.ev), GLOOP_ENORUN);
  gloop_timer_free(end.timer);
  gloop_event_free(end.ev);
  gloop_token_free(end.token);
  return 0;
}

BOTH_MODES(boundary_end_sequence, scenario_end_sequence)

/* ---- An accepted start always runs ---------------------------------------------------- */

/* The main task starts a system task through a token and returns in the same
 * tick: the start is accepted while the run is live, so the task must run
 * (it sees the cancellation of the system nursery at its first checkpoint). */
static struct {
  gloop_token *token;
  int started, ran, saw_cancel;
} st;

static int sys_task(void *arg) {
  (void)arg;
  st.ran++;
  if (gloop_checkpoint() == GLOOP_ECANCELED) st.saw_cancel++;
  return 0;
}

static int st_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_token_new(&st.token));
  for (int i = 0; i < 3; i++)
    if (gloop_token_start(st.token, sys_task, NULL, "late-system") == 0) st.started++;
  return 0;
}

static void st_done(const gloop_outcome *o, void *data) {
  (void)data;
  end_done_calls++;
  ASSERT_OK(o->status);
}

static int scenario_start_at_end(int guest) {
  memset(&st, 0, sizeof st);
  end_done_calls = 0;
  run_in(guest, st_main, NULL, st_done, NULL);
  ASSERT_EQ_INT(st.started, 3);
  ASSERT_EQ_INT(st.ran, 3);
  ASSERT_EQ_INT(st.saw_cancel, 3);
  gloop_token_free(st.token);
  return 0;
}

BOTH_MODES(boundary_start_at_end, scenario_start_at_end)

/* Another thread starts system tasks as fast as it can while the main task
 * ends: every start that returned 0 ran exactly once. */
static struct {
  gloop_token *token;
  atomic_int accepted, ran;
  atomic_int stop;
  int max;
} race;

static int race_task(void *arg) {
  (void)arg;
  atomic_fetch_add(&race.ran, 1);
  return 0;
}

static void *race_starter(void *arg) {
  (void)arg;
  /* Paced and bounded, so that the tasks alive at once stay far below the
   * process's mapping limit (every task has a guarded stack) and
   * ThreadSanitizer's limit on fibers. */
  while (!atomic_load(&race.stop) && atomic_load(&race.accepted) < race.max) {
    usleep(20);
    int rc = gloop_token_start(race.token, race_task, NULL, "race");
    if (rc == 0) atomic_fetch_add(&race.accepted, 1);
    else if (rc == GLOOP_ENORUN) break;
    else TEST_FAIL("gloop_token_start: %s", gloop_err_name(rc));
  }
  return NULL;
}

static char race_msg[256];
static void race_done(const gloop_outcome *o, void *data) {
  (void)data;
  snprintf(race_msg, sizeof race_msg, "%s: %s", gloop_err_name(o->status), o->message);
}

static int race_main(void *arg) {
  pthread_t *th = arg;
  ASSERT_OK(gloop_token_new(&race.token));
  ASSERT_EQ_INT(pthread_create(th, NULL, race_starter, NULL), 0);
  /* Let the starts pour in for a moment, then end. */
  for (int i = 0; i < 50; i++) {
    int rc = gloop_sleep(0.0002);
    if (rc) return rc;
  }
  return 0;
}

TEST_CASE(boundary_starts_racing_the_end) {
  int rounds = test_count(20, 5);
  int max_starts = test_count(2000, 300);
  for (int r = 0; r < rounds; r++) {
    pthread_t th;
    memset(&race, 0, sizeof race);
    race.max = max_starts;
    int rc = gloop_run(race_main, &th, NULL, race_done, NULL);
    if (rc) TEST_FAIL("round %d: the run ended with %s", r, race_msg);
    atomic_store(&race.stop, 1);
    ASSERT_EQ_INT(pthread_join(th, NULL), 0);
    if (atomic_load(&race.accepted) != atomic_load(&race.ran))
      TEST_FAIL("round %d: %d starts accepted, %d ran", r, atomic_load(&race.accepted),
                atomic_load(&race.ran));
    gloop_token_free(race.token);
  }
  return 0;
}

/* ---- Abandon with work in flight ------------------------------------------------------ */

enum { AB_POSTS = 5 };

static struct {
  gloop_token *token;
  atomic_int posts_ran, calls_ran, about_to_call;
  int post_rcs_ok;
  int call_rc;
  void *call_result;
  int in_run_in_post;
} ab;

static void ab_post(void *arg) {
  (void)arg;
  atomic_fetch_add(&ab.posts_ran, 1);
  ab.in_run_in_post = gloop_in_run();
}
static void *ab_work(void *arg) {
  atomic_fetch_add(&ab.calls_ran, 1);
  return arg;
}

static void *ab_thread(void *arg) {
  (void)arg;
  int ok = 1;
  for (int i = 0; i < AB_POSTS; i++) ok &= gloop_token_post(ab.token, ab_post, NULL) == 0;
  ok &= gloop_token_start(ab.token, never_task, NULL, "never-started") == 0;
  ab.post_rcs_ok = ok;
  atomic_store(&ab.about_to_call, 1);
  ab.call_rc = gloop_token_call(ab.token, ab_work, (void *)1, &ab.call_result);
  return NULL;
}

static int ab_main(void *arg) {
  (void)arg;
  ASSERT_OK(gloop_token_new(&ab.token));
  return gloop_sleep_forever();
}

static int ab_waiting(void *arg) {
  (void)arg;
  return ab.token != NULL;
}

static void ab_done(const gloop_outcome *o, void *data) {
  (void)o;
  (void)data;
  TEST_FAIL("done_cb of an abandoned run was called");
}

TEST_CASE(boundary_abandon_with_work_queued) {
  pthread_t th;
  memset(&ab, 0, sizeof ab);
  ab.call_rc = 12345;
  host_toy_init();
  ASSERT_OK(gloop_start_guest_run(ab_main, NULL, host_toy_post_threadsafe, ab_done, NULL));
  host_toy_run_until(ab_waiting, NULL, 5.0);
  host_toy_run_for(0.010);
  /* The host runs nothing more: the posts and the call wait in the queue. */
  unsigned long before = host_toy_get_stats().threadsafe_posts;
  ASSERT_EQ_INT(pthread_create(&th, NULL, ab_thread, NULL), 0);
  double limit = test_real_now() + test_limit(5.0);
  while (!atomic_load(&ab.about_to_call) && test_real_now() < limit) test_real_sleep(0.001);
  while (host_toy_get_stats().threadsafe_posts == before && test_real_now() < limit)
    test_real_sleep(0.001);
  /* The call's entry is pushed right after the flag; give it a moment. */
  test_real_sleep(0.050);
  /* The start that cannot run any more is said on stderr, not dropped
   * silently. */
  test_capture_begin();
  int abandon_rc = gloop_abandon_run();
  const char *said = test_capture_end();
  ASSERT_OK(abandon_rc);
  ASSERT_STR_CONTAINS(said, "system task 'never-started' was accepted");
  ASSERT_EQ_INT(pthread_join(th, NULL), 0);
  host_toy_drain(); /* the stale tick of the abandoned run does nothing */
  host_toy_fini();

  ASSERT_EQ_INT(ab.post_rcs_ok, 1);
  /* Accepted posts ran, once each, with no run live any more. */
  ASSERT_EQ_INT(atomic_load(&ab.posts_ran), AB_POSTS);
  ASSERT_EQ_INT(ab.in_run_in_post, 0);
  /* The waiting caller learns that the run was abandoned. */
  ASSERT_ERR(ab.call_rc, GLOOP_EABANDONED);
  ASSERT_EQ_INT(atomic_load(&ab.calls_ran), 0);
  ASSERT_NULL(ab.call_result);
  /* Later calls are refused. */
  ASSERT_ERR(gloop_token_post(ab.token, ab_post, NULL), GLOOP_ENORUN);
  gloop_token_free(ab.token);
  return 0;
}

/* ---- The loop's own epoll fails ------------------------------------------------------- */

/* A task replaces the run's epoll descriptor with a pipe (found through
 * /proc/self/fd), so the next wait fails with EINVAL. The run must end with
 * GLOOP_EINTERNAL naming the call and errno, as Trio's TrioInternalError,
 * not end with 0 (a failure on the host thread used to be ignored) or spin
 * (a failure in the helper thread turned a 1 s sleep into tens of
 * thousands of ticks). */
static int find_epoll_fd(void) {
  char path[64], link[128];
  for (int fd = 3; fd < 1024; fd++) {
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0) continue;
    link[n] = '\0';
    if (strcmp(link, "anon_inode:[eventpoll]") == 0) return fd;
  }
  return -1;
}

static struct {
  int sleep_rc;
  int status;
  char message[256];
  int done;
} ep;

static int ep_main(void *arg) {
  int p[2];
  (void)arg;
  int epfd = find_epoll_fd();
  if (epfd < 0) TEST_SKIP("no epoll descriptor found in /proc/self/fd");
  ASSERT_EQ_INT(pipe(p), 0);
  ASSERT_EQ_INT(dup2(p[0], epfd), epfd);
  close(p[0]);
  close(p[1]);
  ep.sleep_rc = gloop_sleep(1.0);
  return 0;
}

static void ep_done(const gloop_outcome *o, void *data) {
  (void)data;
  end_done_calls++;
  ep.status = o->status;
  snprintf(ep.message, sizeof ep.message, "%s", o->message);
}

static int scenario_epoll_failure(int guest) {
  memset(&ep, 0, sizeof ep);
  end_done_calls = 0;
  ep.sleep_rc = 12345;
  run_in(guest, ep_main, NULL, ep_done, NULL);
  ASSERT_EQ_INT(end_done_calls, 1);
  /* Cancelled, so before the second of the sleep was over. */
  ASSERT_ERR(ep.sleep_rc, GLOOP_ECANCELED);
  ASSERT_ERR(ep.status, GLOOP_EINTERNAL);
  ASSERT_STR_CONTAINS(ep.message, "epoll");
  ASSERT_STR_CONTAINS(ep.message, "errno 22");
  return 0;
}

BOTH_MODES(boundary_epoll_failure, scenario_epoll_failure)

/* ---- Abandon with worker jobs in flight ------------------------------------------------
 *
 * Tasks wait in gloop_to_thread() on jobs whose argument is a buffer on the
 * task's own stack, as real code does; the host abandons the run while the
 * jobs still run. The jobs then write and read their buffers: the stacks
 * must have gone with the jobs (the worker used to touch unmapped memory:
 * SIGSEGV on the worker thread), and be unmapped once the jobs are freed.
 * One task has a stack of its own size (its own mapping), the others are
 * carved from a slab; one job finishes before the abandon, so its stack
 * stays with the run. */

enum { JF_HELD = 3, JF_BUF = 4096 };

static struct {
  atomic_int started, release, finished;
  atomic_int sums_ok;
  void *bufs[JF_HELD + 1];
  int early_done;
} jf;

typedef struct jf_arg {
  int index;
  unsigned char *buf;
} jf_arg;

static void *jf_job(void *p) {
  jf_arg *a = p; /* on the waiting task's stack */
  int index = a->index;
  unsigned char *buf = a->buf;
  atomic_fetch_add(&jf.started, 1);
  if (index == JF_HELD) return NULL; /* the early one */
  double limit = test_real_now() + test_limit(10.0);
  while (!atomic_load(&jf.release) && test_real_now() < limit) test_real_sleep(0.001);
  memset(buf, index + 1, JF_BUF);
  unsigned sum = 0;
  for (int i = 0; i < JF_BUF; i++) sum += buf[i];
  if (sum == (unsigned)(index + 1) * JF_BUF) atomic_fetch_add(&jf.sums_ok, 1);
  atomic_fetch_add(&jf.finished, 1);
  return NULL;
}

static int jf_task(void *p) {
  unsigned char buf[JF_BUF];
  jf_arg a = {(int)(intptr_t)p, buf};
  jf.bufs[a.index] = buf;
  int rc = gloop_to_thread(jf_job, &a, 0, NULL);
  if (a.index == JF_HELD) jf.early_done = 1;
  return rc;
}

static int jf_main(void *arg) {
  (void)arg;
  gloop_nursery *n;
  ASSERT_OK(gloop_nursery_open(&n));
  for (int i = 0; i <= JF_HELD; i++) {
    if (i == 0)
      ASSERT_OK(gloop_nursery_start_ex(n, jf_task, (void *)(intptr_t)i, "jf-own", 256 * 1024, NULL));
    else
      ASSERT_OK(gloop_nursery_start(n, jf_task, (void *)(intptr_t)i, "jf", NULL));
  }
  return gloop_nursery_close(n);
}

static int jf_all_started(void *arg) {
  (void)arg;
  return atomic_load(&jf.started) == JF_HELD + 1 && jf.early_done;
}

/* Whether an address lies in any mapping of the process (read from
 * /proc/self/maps, which asks nothing of the memory itself). */
static int page_mapped(const void *p) {
  uintptr_t a = (uintptr_t)p;
  FILE *f = fopen("/proc/self/maps", "r");
  if (f == NULL) TEST_SKIP("no /proc/self/maps");
  char line[512];
  int found = 0;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi) found = 1;
  }
  fclose(f);
  return found;
}

static int abandon_with_jobs_in_flight(void) {
  memset(&jf, 0, sizeof jf);
  host_toy_init();
  ASSERT_OK(gloop_start_guest_run(jf_main, NULL, host_toy_post_threadsafe, ab_done, NULL));
  host_toy_run_until(jf_all_started, NULL, test_limit(5.0));
  ASSERT_TRUE(jf_all_started(NULL));
  ASSERT_OK(gloop_abandon_run());
  host_toy_drain();
  host_toy_fini();
  /* The run is gone; its jobs still run, on stacks that went with them. */
  for (int i = 0; i < JF_HELD; i++) ASSERT_TRUE(page_mapped(jf.bufs[i]));
  atomic_store(&jf.release, 1);
  double limit = test_real_now() + test_limit(10.0);
  while (atomic_load(&jf.finished) < JF_HELD && test_real_now() < limit) test_real_sleep(0.001);
  ASSERT_EQ_INT(atomic_load(&jf.finished), JF_HELD);
  ASSERT_EQ_INT(atomic_load(&jf.sums_ok), JF_HELD);
  /* Each handed-over stack is unmapped when its job is freed. */
  for (int i = 0; i < JF_HELD; i++) {
    while (page_mapped(jf.bufs[i]) && test_real_now() < limit) test_real_sleep(0.001);
    ASSERT_FALSE(page_mapped(jf.bufs[i]));
  }
  /* The early job's stack stayed with the run, which unmapped it: a slab
   * with a stack handed over never enters the process-wide stack cache. */
  ASSERT_FALSE(page_mapped(jf.bufs[JF_HELD]));
  return 0;
}

TEST_CASE(boundary_abandon_with_jobs_in_flight) {
  ASSERT_OK(gloop_stack_cache_release());
  return abandon_with_jobs_in_flight();
}

static int jf_warm_main(void *arg) {
  (void)arg;
  return gloop_checkpoint();
}

/* The same with the run's stacks taken from the process-wide cache, where
 * an earlier run left them. */
TEST_CASE(boundary_abandon_with_jobs_in_flight_cached) {
  ASSERT_OK(gloop_stack_cache_release());
  ASSERT_OK(gloop_run(jf_warm_main, NULL, NULL, NULL, NULL));
  gloop_stack_cache_info info;
  ASSERT_OK(gloop_stack_cache_get_info(&info));
  ASSERT_EQ_UINT(info.stacks, 64);
  unsigned long long reused = info.reused;
  int rc = abandon_with_jobs_in_flight();
  if (rc) return rc;
  ASSERT_OK(gloop_stack_cache_get_info(&info));
  ASSERT_TRUE(info.reused > reused);
  ASSERT_EQ_UINT(info.stacks, 0);
  return 0;
}
