/* test_run.c - cases for starting runs and for their outcomes: guest and standalone, success and failure. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "host_toy.h"
#include "test.h"

/* ---- Trivial success ---------------------------------------------------- */

typedef struct trivial_state {
  int ran;
  int in_run;
  int on_host;
  char name[32]; /* copied: the task, and its name, is gone after it returns */
  void *arg_seen;
} trivial_state;

static int trivial_main(void *arg) {
  trivial_state *st = arg;
  st->ran++;
  st->arg_seen = arg;
  st->in_run = gloop_in_run();
  st->on_host = host_toy_on_host_thread();
  snprintf(st->name, sizeof st->name, "%s", gloop_task_name(gloop_current_task()));
  return 0;
}

TEST_CASE(run_trivial_success) {
  trivial_state st;
  int marker = 0;
  memset(&st, 0, sizeof st);
  host_toy_init();
  ASSERT_OK(gloop_start_guest_run(trivial_main, &st, host_toy_post_threadsafe, host_toy_done,
                                  &marker));
  host_toy_run_until_done();

  host_toy_stats s = host_toy_get_stats();
  ASSERT_EQ_INT(st.ran, 1);
  ASSERT_EQ_PTR(st.arg_seen, &st);
  ASSERT_EQ_INT(st.in_run, 1);
  ASSERT_EQ_INT(st.on_host, 1);
  ASSERT_EQ_STR(st.name, "main");
  ASSERT_EQ_INT(s.done_calls, 1);
  ASSERT_EQ_INT(s.done_off_host, 0);
  ASSERT_EQ_INT(s.done_in_task, 0);
  ASSERT_OK(s.done_status);
  ASSERT_EQ_INT(s.done_message_null, 0);
  ASSERT_EQ_PTR(s.done_host_data, &marker);
  ASSERT_EQ_PTR(s.post_host_data, &marker);
  ASSERT_GE_UINT(s.threadsafe_posts, 1);
  ASSERT_EQ_UINT(s.not_threadsafe_posts, 0);
  ASSERT_EQ_UINT(s.posts_after_done, 0);
  /* The run is over: the thread is free again. */
  ASSERT_EQ_INT(gloop_in_run(), 0);
  ASSERT_NAN(gloop_now());
  host_toy_fini();
  return 0;
}

/* The same with a not-threadsafe post and a custom main task name. */
TEST_CASE(run_trivial_not_threadsafe) {
  trivial_state st;
  gloop_options o;
  memset(&st, 0, sizeof st);
  gloop_options_init(&o);
  o.main_name = "entry-point";
  host_toy_init();
  ASSERT_OK(host_toy_start(trivial_main, &st, &o, 1));
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_EQ_INT(st.ran, 1);
  ASSERT_EQ_STR(st.name, "entry-point");
  ASSERT_EQ_INT(s.done_calls, 1);
  ASSERT_OK(s.done_status);
  ASSERT_EQ_PTR(s.done_host_data, HOST_TOY_DATA);
  /* The first tick is posted from the host thread, so with a cheaper post
   * available it must be the one used; the toy fails the case if the
   * threadsafe one is called on the host thread. */
  ASSERT_GE_UINT(s.not_threadsafe_posts, 1);
  ASSERT_EQ_UINT(s.threadsafe_on_host, 0);
  host_toy_fini();
  return 0;
}

/* ---- Error outcome ------------------------------------------------------ */

static int failing_main(void *arg) {
  (void)arg;
  return gloop_fail(GLOOP_EPIPE, "pipe %d broke", 7);
}

static int plain_error_main(void *arg) {
  return *(int *)arg;
}

TEST_CASE(run_error_outcome) {
  host_toy_init();
  ASSERT_OK(host_toy_start(failing_main, NULL, NULL, 0));
  host_toy_run_until_done();
  host_toy_stats s = host_toy_get_stats();
  ASSERT_EQ_INT(s.done_calls, 1);
  ASSERT_ERR(s.done_status, GLOOP_EPIPE);
  ASSERT_STR_CONTAINS(s.done_message, "pipe 7 broke");
  host_toy_fini();

  /* A library code returned without gloop_fail() still ends the run with
   * that status and some message. */
  int code = GLOOP_ECONNRESET;
  host_toy_init();
  ASSERT_OK(host_toy_start(plain_error_main, &code, NULL, 1));
  host_toy_run_until_done();
  s = host_toy_get_stats();
  ASSERT_EQ_INT(s.done_calls, 1);
  ASSERT_ERR(s.done_status, GLOOP_ECONNRESET);
  ASSERT_EQ_INT(s.done_message_null, 0);
  host_toy_fini();

  /* A user's own negative code passes through untouched. */
  code = -5001;
  host_toy_init();
  ASSERT_OK(host_toy_start(plain_error_main, &code, NULL, 1));
  host_toy_run_until_done();
  s = host_toy_get_stats();
  ASSERT_EQ_INT(s.done_status, -5001);
  host_toy_fini();
  return 0;
}

/* ---- Standalone gloop_run ----------------------------------------------- */

typedef struct standalone_done {
  int calls;
  int status;
  int message_null;
  char message[256];
  void *host_data;
  pthread_t thread;
} standalone_done;

static void standalone_done_cb(const gloop_outcome *o, void *host_data) {
  standalone_done *d = host_data;
  d->calls++;
  d->status = o->status;
  d->message_null = o->message == NULL;
  if (o->message) {
    strncpy(d->message, o->message, sizeof d->message - 1);
    d->message[sizeof d->message - 1] = '\0';
  }
  d->host_data = host_data;
  d->thread = pthread_self();
}

static int sleepy_main(void *arg) {
  int *ran = arg;
  int rc = gloop_sleep(0.001);
  if (rc != 0) return rc;
  rc = gloop_checkpoint();
  if (rc != 0) return rc;
  *ran = gloop_in_run() ? 1 : -1;
  return 0;
}

TEST_CASE(run_standalone) {
  standalone_done d;
  int ran = 0;
  memset(&d, 0, sizeof d);
  ASSERT_OK(gloop_run(sleepy_main, &ran, NULL, standalone_done_cb, &d));
  ASSERT_EQ_INT(ran, 1);
  ASSERT_EQ_INT(d.calls, 1);
  ASSERT_OK(d.status);
  ASSERT_EQ_INT(d.message_null, 0);
  ASSERT_EQ_PTR(d.host_data, &d);
  ASSERT_TRUE(pthread_equal(d.thread, pthread_self()));
  ASSERT_EQ_INT(gloop_in_run(), 0);

  memset(&d, 0, sizeof d);
  ASSERT_ERR(gloop_run(failing_main, NULL, NULL, standalone_done_cb, &d), GLOOP_EPIPE);
  ASSERT_EQ_INT(d.calls, 1);
  ASSERT_ERR(d.status, GLOOP_EPIPE);
  ASSERT_STR_CONTAINS(d.message, "pipe 7 broke");

  /* done_cb is optional in standalone mode. */
  int code = -5002;
  ASSERT_EQ_INT(gloop_run(plain_error_main, &code, NULL, NULL, NULL), -5002);
  ASSERT_EQ_INT(gloop_in_run(), 0);
  return 0;
}

/* Runs live per thread: two threads can each run one at the same time. */
typedef struct thread_run {
  int rc;
  int steps;
  int other_saw_run;
} thread_run;

static int counting_main(void *arg) {
  thread_run *tr = arg;
  for (int i = 0; i < 20; i++) {
    int rc = gloop_sleep(0.0005);
    if (rc != 0) return rc;
    tr->steps++;
  }
  return 0;
}

static void *thread_body(void *arg) {
  thread_run *tr = arg;
  tr->rc = gloop_run(counting_main, tr, NULL, NULL, NULL);
  return NULL;
}

TEST_CASE(run_standalone_threads) {
  pthread_t th[2];
  thread_run tr[2];
  memset(tr, 0, sizeof tr);
  for (int i = 0; i < 2; i++) ASSERT_EQ_INT(pthread_create(&th[i], NULL, thread_body, &tr[i]), 0);
  for (int i = 0; i < 2; i++) ASSERT_EQ_INT(pthread_join(th[i], NULL), 0);
  for (int i = 0; i < 2; i++) {
    ASSERT_OK(tr[i].rc);
    ASSERT_EQ_INT(tr[i].steps, 20);
  }
  /* No run leaked onto this thread. */
  ASSERT_EQ_INT(gloop_in_run(), 0);
  return 0;
}

/* ---- The run is usable as soon as start returns ------------------------- */

typedef struct usable_state {
  int main_ran;
  gloop_nursery *nursery;
  gloop_event *go;
  int child_ran;
  int child_in_task;
  int child_on_host;
  char child_name[32];
  int close_rc;
} usable_state;

static int usable_child(void *arg) {
  usable_state *st = arg;
  st->child_ran++;
  st->child_in_task = gloop_current_task() != NULL;
  st->child_on_host = host_toy_on_host_thread();
  snprintf(st->child_name, sizeof st->child_name, "%s", gloop_task_name(gloop_current_task()));
  return 0;
}

static int usable_main(void *arg) {
  usable_state *st = arg;
  int rc;
  st->main_ran = 1;
  rc = gloop_nursery_open(&st->nursery);
  if (rc != 0) return rc;
  rc = gloop_event_wait(st->go);
  if (rc != 0) return rc;
  st->close_rc = gloop_nursery_close(st->nursery);
  st->nursery = NULL;
  return st->close_rc;
}

static int nursery_published(void *arg) { return ((usable_state *)arg)->nursery != NULL; }

TEST_CASE(run_start_usable) {
  usable_state st;
  gloop_clock *clk;
  gloop_options o;
  gloop_task *child = NULL;
  memset(&st, 0, sizeof st);
  ASSERT_OK(gloop_mock_clock_new(5.0, 0.0, &clk));
  gloop_options_init(&o);
  o.clock = clk;
  host_toy_init();
  ASSERT_OK(host_toy_start(usable_main, &st, &o, 1));

  /* Synchronous set-up is complete: the run is live, its clock readable, the
   * main task has not run, a tick has been posted, and nothing is done. */
  host_toy_stats s = host_toy_get_stats();
  ASSERT_EQ_INT(gloop_in_run(), 1);
  ASSERT_NEAR(gloop_now(), 5.0, 1e-9);
  ASSERT_EQ_INT(st.main_ran, 0);
  ASSERT_NULL(gloop_current_task());
  ASSERT_GE_UINT(s.threadsafe_posts + s.not_threadsafe_posts, 1);
  ASSERT_EQ_UINT(s.callbacks_run, 0);
  ASSERT_EQ_INT(s.done_calls, 0);
  /* Objects can be made from host context of the fresh run. */
  ASSERT_OK(gloop_event_new(&st.go));

  host_toy_run_until(nursery_published, &st, 5.0);
  ASSERT_EQ_INT(st.main_ran, 1);
  /* Host context: spawn into the task's nursery, then release the task. */
  ASSERT_OK(gloop_nursery_start(st.nursery, usable_child, &st, "from-host", &child));
  ASSERT_NOT_NULL(child);
  ASSERT_EQ_STR(gloop_task_name(child), "from-host");
  ASSERT_OK(gloop_event_set(st.go));
  host_toy_run_until_done();

  s = host_toy_get_stats();
  ASSERT_EQ_INT(st.child_ran, 1);
  ASSERT_EQ_INT(st.child_in_task, 1);
  ASSERT_EQ_INT(st.child_on_host, 1);
  ASSERT_EQ_STR(st.child_name, "from-host");
  ASSERT_OK(st.close_rc);
  ASSERT_EQ_INT(s.done_calls, 1);
  ASSERT_OK(s.done_status);
  gloop_event_free(st.go);
  ASSERT_OK(gloop_clock_free(clk));
  host_toy_fini();
  return 0;
}

/* ---- Options and version ------------------------------------------------ */

TEST_CASE(api_options_version) {
  gloop_options o;
  memset(&o, 0xA5, sizeof o);
  gloop_options_init(&o);
  ASSERT_NULL(o.run_sync_soon_not_threadsafe);
  ASSERT_NULL(o.clock);
  ASSERT_NULL(o.realloc_fn);
  ASSERT_NULL(o.main_name);
  ASSERT_EQ_INT(o.guard_pages, 1);
  ASSERT_NEAR(o.tick_budget, GLOOP_DEFAULT_TICK_BUDGET, 1e-12);
  /* 0 and the documented default both mean "the default stack size". */
  ASSERT_TRUE(o.stack_size == 0 || o.stack_size == GLOOP_DEFAULT_STACK_SIZE);
  ASSERT_EQ_UINT(gloop_version(), GLOOP_VERSION_HEX);
  ASSERT_EQ_STR(gloop_version_string(), GLOOP_VERSION_STRING);
  return 0;
}
