/* test_run.c - Qt cases for starting runs: outcomes, the default report, refused and sequential starts, nested loops and gloop_qt_spawn(). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "qt_test.h"

/* What a done callback saw. */
typedef struct done_rec {
  int calls;
  int status;
  char message[256];
  int in_run;    /* gloop_in_run() inside the callback */
  int quit;      /* quit the application from the callback */
} done_rec;

static void record_done(const gloop_outcome *o, void *data) {
  done_rec *d = data;
  d->calls++;
  d->status = o->status;
  snprintf(d->message, sizeof d->message, "%s", o->message);
  d->in_run = gloop_in_run();
  if (d->quit) gloop_qt_app_quit(qt_app);
}

/* ---- Outcomes ------------------------------------------------------------ */

static int main_sleeps_then_succeeds(void *arg) {
  int *ran = arg;
  int rc = gloop_sleep(0.01);
  if (rc < 0) return rc;
  (*ran)++;
  return 0;
}

QT_CASE(outcome_success) {
  gloop_qt_app *app = qt_app_make();
  int ran = 0;
  done_rec rec = {.quit = 1};
  CHECK_OK(gloop_qt_start(main_sleeps_then_succeeds, &ran, record_done, &rec, NULL));
  /* Synchronous set-up: the run is live at once, the main task has not run. */
  CHECK(gloop_in_run());
  CHECK_INT(ran, ==, 0);
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  CHECK_INT(rec.calls, ==, 1);
  CHECK_ERR(rec.status, 0);
  CHECK_INT(rec.in_run, ==, 0);
  CHECK_INT(ran, ==, 1);
  CHECK(!gloop_in_run());
  gloop_qt_app_free(app);
  return 0;
}

static int main_fails(void *arg) {
  (void)arg;
  gloop_sleep(0.005);
  return gloop_fail(GLOOP_EINVAL, "bad input %d", 42);
}

QT_CASE(outcome_failure) {
  gloop_qt_app *app = qt_app_make();
  done_rec rec = {.quit = 1};
  CHECK_OK(gloop_qt_start(main_fails, NULL, record_done, &rec, NULL));
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  CHECK_INT(rec.calls, ==, 1);
  CHECK_ERR(rec.status, GLOOP_EINVAL);
  CHECK_CONTAINS(rec.message, "bad input 42");
  gloop_qt_app_free(app);
  return 0;
}

static int main_times_out(void *arg) {
  (void)arg;
  return gloop_fail(GLOOP_ETIMEDOUT, "took too long");
}

static int main_succeeds(void *arg) {
  int *ran = arg;
  (*ran)++;
  return 0;
}

/* Quits once no run is live any more (the default done callback gives the
 * test no other signal). */
static void quit_when_idle(void *data) {
  if (gloop_in_run())
    qts_after(5, quit_when_idle, data);
  else
    gloop_qt_app_quit(qt_app);
}

QT_CASE(outcome_default_report) {
  gloop_qt_app *app = qt_app_make();
  /* A failed main task with no done callback is reported on stderr. */
  test_capture_begin();
  CHECK_OK(gloop_qt_start(main_times_out, NULL, NULL, NULL, NULL));
  qts_after(5, quit_when_idle, NULL);
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  const char *err = test_capture_end();
  CHECK_CONTAINS(err, "guestloop: main task failed: took too long (ETIMEDOUT)");
  /* A successful one is not. */
  int ran = 0;
  test_capture_begin();
  CHECK_OK(gloop_qt_start(main_succeeds, &ran, NULL, NULL, NULL));
  qts_after(5, quit_when_idle, NULL);
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  err = test_capture_end();
  CHECK_INT(ran, ==, 1);
  CHECK_NOT_CONTAINS(err, "main task failed");
  gloop_qt_app_free(app);
  return 0;
}

/* ---- Refused and sequential starts --------------------------------------- */

typedef struct refuse_state {
  int inner_start;   /* gloop_qt_start() from inside a task */
  int host_start;    /* gloop_qt_start() from a Qt timer while the run is live */
  int second_entries;
} refuse_state;

static int second_entry(void *arg) {
  refuse_state *s = arg;
  s->second_entries++;
  return 0;
}

static int main_tries_to_nest(void *arg) {
  refuse_state *s = arg;
  s->inner_start = gloop_qt_start(second_entry, s, NULL, NULL, NULL);
  return gloop_sleep(0.1);
}

static void start_from_host(void *data) {
  refuse_state *s = data;
  s->host_start = gloop_qt_start(second_entry, s, NULL, NULL, NULL);
}

QT_CASE(second_start_refused) {
  gloop_qt_app *app = qt_app_make();
  refuse_state s = {1, 1, 0};
  done_rec rec = {.quit = 1};
  CHECK_OK(gloop_qt_start(main_tries_to_nest, &s, record_done, &rec, NULL));
  /* Straight after the start, from the same host context. */
  CHECK_ERR(gloop_qt_start(second_entry, &s, NULL, NULL, NULL), GLOOP_ERUNNING);
  /* The core refuses a second run on this thread even when asked directly. */
  CHECK_ERR(gloop_start_guest_run(second_entry, &s, gloop_qt_post, record_done, &rec),
            GLOOP_ERUNNING);
  qts_after(30, start_from_host, &s);
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  CHECK_ERR(s.inner_start, GLOOP_ERUNNING);
  CHECK_ERR(s.host_start, GLOOP_ERUNNING);
  CHECK_INT(s.second_entries, ==, 0);
  CHECK_INT(rec.calls, ==, 1);
  CHECK_ERR(rec.status, 0);
  gloop_qt_app_free(app);
  return 0;
}

enum { SEQ_RUNS = 6 };

typedef struct seq_state {
  int entries[SEQ_RUNS];
  int dones;
  int started;
} seq_state;

static int seq_entry(void *arg);

static void seq_done(const gloop_outcome *o, void *data) {
  seq_state *s = data;
  CHECK_ERR(o->status, 0);
  CHECK(!gloop_in_run());
  s->dones++;
  /* The first half starts the next run straight from the done callback, the
   * second half from a later Qt timer (seq_start_later): both must work. */
  if (s->started < SEQ_RUNS / 2) {
    s->started++;
    CHECK_OK(gloop_qt_start(seq_entry, s, seq_done, s, NULL));
  }
}

static int seq_entry(void *arg) {
  seq_state *s = arg;
  s->entries[s->started - 1]++;
  return gloop_sleep(0.002);
}

static void seq_start_later(void *data) {
  seq_state *s = data;
  if (gloop_in_run() || s->dones < s->started) {
    qts_after(2, seq_start_later, s);
    return;
  }
  if (s->started == SEQ_RUNS) {
    gloop_qt_app_quit(qt_app);
    return;
  }
  s->started++;
  CHECK_OK(gloop_qt_start(seq_entry, s, seq_done, s, NULL));
  qts_after(2, seq_start_later, s);
}

QT_CASE(sequential_runs) {
  gloop_qt_app *app = qt_app_make();
  seq_state s;
  memset(&s, 0, sizeof s);
  s.started = 1;
  CHECK_OK(gloop_qt_start(seq_entry, &s, seq_done, &s, NULL));
  qts_after(2, seq_start_later, &s);
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  CHECK_INT(s.started, ==, SEQ_RUNS);
  CHECK_INT(s.dones, ==, SEQ_RUNS);
  for (int i = 0; i < SEQ_RUNS; i++) CHECK_INT(s.entries[i], ==, 1);
  gloop_qt_app_free(app);
  return 0;
}

/* ---- Starting on a signal ------------------------------------------------ */

typedef struct signal_state {
  gloop_qt_widget *button;
  int entries;
  int dones;
  int clicks;
} signal_state;

static int signal_entry(void *arg) {
  signal_state *s = arg;
  s->entries++;
  return gloop_sleep(0.05);
}

static void signal_done(const gloop_outcome *o, void *data) {
  signal_state *s = data;
  CHECK_ERR(o->status, 0);
  if (++s->dones == 2) gloop_qt_app_quit(qt_app);
}

/* Three clicks: the second lands while the first run is live and is
 * refused; the third, once that run is done, starts a fresh run. */
static void signal_click(void *data) {
  signal_state *s = data;
  if (s->clicks == 2 && s->dones == 0) {
    qts_after(5, signal_click, s);
    return;
  }
  s->clicks++;
  CHECK_OK(gloop_qt_button_click(s->button));
}

QT_CASE(start_on_signal) {
  gloop_qt_app *app = qt_app_make();
  signal_state s = {NULL, 0, 0, 0};
  CHECK_OK(gloop_qt_button_new("Start", &s.button));
  CHECK_ERR(gloop_qt_start_on_signal(gloop_qt_widget_object(s.button), "nosuchsignal()",
                                     signal_entry, &s, signal_done, &s),
            GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_start_on_signal(NULL, "clicked()", signal_entry, &s, signal_done, &s),
            GLOOP_EINVAL);
  CHECK_OK(gloop_qt_start_on_signal(gloop_qt_widget_object(s.button), "clicked()", signal_entry,
                                    &s, signal_done, &s));
  qts_after(0, signal_click, &s);
  qts_after(10, signal_click, &s);
  qts_after(20, signal_click, &s);
  test_capture_begin();
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  const char *err = test_capture_end();
  CHECK_CONTAINS(err, "cannot start a guest run on signal");
  CHECK_CONTAINS(err, "ERUNNING");
  CHECK_INT(s.clicks, ==, 3);
  CHECK_INT(s.entries, ==, 2);
  CHECK_INT(s.dones, ==, 2);
  /* The starter dies with its sender. */
  gloop_qt_widget_free(s.button);
  gloop_qt_app_free(app);
  return 0;
}

/* ---- Nested event loops ---------------------------------------------------- */

typedef struct nested_state {
  int loops_in_task;    /* nested loops the dialog task runs, back to back */
  int host_loop_done;   /* the host-context nested loop has returned */
  int other_ticks;      /* steps of a sibling task while nothing is nested */
} nested_state;

static int runs_nested_loops(void *arg) {
  nested_state *s = arg;
  /* Two nested loops in one step of the task (as a dialog opened twice
   * with exec() would): one warning. */
  for (int i = 0; i < s->loops_in_task; i++) qts_process_events(30);
  return 0;
}

static int sleeps_a_little(void *arg) {
  nested_state *s = arg;
  for (int i = 0; i < 3; i++) {
    int rc = gloop_sleep(0.005);
    if (rc < 0) return rc;
    s->other_ticks++;
  }
  return 0;
}

static void host_nested_loop(void *data) {
  nested_state *s = data;
  qts_process_events(30); /* host context: the run is not on the stack */
  s->host_loop_done = 1;
}

static int main_nests(void *arg) {
  nested_state *s = arg;
  gloop_nursery *n;
  int rc = gloop_nursery_open(&n);
  if (rc < 0) return rc;
  /* Only ordinary waits first: no warning. */
  rc = gloop_nursery_start(n, sleeps_a_little, s, "sleeper", NULL);
  if (rc == 0) rc = gloop_sleep(0.05);
  /* A nested loop from host context while the run is live: no warning. */
  if (rc == 0) qts_after(0, host_nested_loop, s);
  while (rc == 0 && !s->host_loop_done) rc = gloop_sleep(0.005);
  if (rc == 0) rc = gloop_nursery_start(n, runs_nested_loops, s, "dialog-task", NULL);
  int close_rc = gloop_nursery_close(n);
  return rc < 0 ? rc : close_rc;
}

static int count_in(const char *hay, const char *needle) {
  int count = 0;
  for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) count++;
  return count;
}

/* A task that starts a nested Qt event loop gets one warning on stderr that
 * names it; ordinary waits and nested loops in host context get none. */
QT_CASE(nested_loop_warning) {
  gloop_qt_app *app = qt_app_make();
  nested_state s = {2, 0, 0};
  test_capture_begin();
  CHECK_OK(gloop_qt_start(main_nests, &s, NULL, NULL, NULL));
  qts_after(5, quit_when_idle, NULL);
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  const char *err = test_capture_end();
  CHECK_INT(s.host_loop_done, ==, 1);
  CHECK_INT(s.other_ticks, ==, 3);
  CHECK_INT(count_in(err, "nested Qt event loop"), ==, 1);
  CHECK_CONTAINS(err, "guestloop: warning: task 'dialog-task' started a nested Qt event loop");
  CHECK_NOT_CONTAINS(err, "'sleeper'");
  CHECK_NOT_CONTAINS(err, "main task failed");
  gloop_qt_app_free(app);
  return 0;
}

/* ---- gloop_qt_spawn ---------------------------------------------------------- */

typedef struct spawn_state {
  int from_host_ran;     /* the task spawned from a Qt timer ran, as a task */
  int from_task_ran;     /* the task spawned from a task ran */
  int sleeper_status;    /* what the long sleeper saw at quit */
  int in_done_rc;        /* gloop_qt_spawn() from the done callback */
  int thread_rc;         /* gloop_qt_spawn() from another thread */
  char host_name[32];
} spawn_state;

static spawn_state sp;

static int spawned_from_host(void *arg) {
  (void)arg;
  gloop_task *me = gloop_current_task();
  if (me != NULL) snprintf(sp.host_name, sizeof sp.host_name, "%s", gloop_task_name(me));
  sp.from_host_ran = me != NULL;
  return 0;
}

static int spawned_from_task(void *arg) {
  (void)arg;
  sp.from_task_ran = 1;
  return 0;
}

static int spawned_sleeper(void *arg) {
  (void)arg;
  sp.sleeper_status = gloop_sleep_forever();
  return sp.sleeper_status;
}

static void *spawn_from_thread(void *arg) {
  (void)arg;
  sp.thread_rc = gloop_qt_spawn(spawned_from_task, NULL, "from-thread");
  return NULL;
}

static void spawn_from_timer(void *data) {
  (void)data;
  CHECK_OK(gloop_qt_spawn(spawned_from_host, NULL, "from-a-slot"));
  /* The task starts in a later tick, never inside the call. */
  CHECK_INT(sp.from_host_ran, ==, 0);
  CHECK_OK(gloop_qt_spawn(spawned_sleeper, NULL, NULL));
  pthread_t t;
  CHECK(pthread_create(&t, NULL, spawn_from_thread, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
}

static int main_spawns(void *arg) {
  (void)arg;
  int rc = gloop_qt_spawn(spawned_from_task, NULL, "from-a-task");
  if (rc < 0) return rc;
  qts_after(0, spawn_from_timer, NULL);
  while (!(sp.from_host_ran && sp.from_task_ran) && (rc = gloop_sleep(0.005)) == 0) {}
  if (rc < 0) return rc;
  gloop_qt_app_quit(qt_app); /* cancels this task, and then the sleeper */
  return gloop_sleep_forever();
}

static int spawn_outcome = 1;
static void spawn_done(const gloop_outcome *o, void *data) {
  (void)data;
  spawn_outcome = o->status;
  sp.in_done_rc = gloop_qt_spawn(spawned_from_task, NULL, "too-late");
}

static int spawned_fails(void *arg) {
  (void)arg;
  return gloop_fail(GLOOP_EPIPE, "the spawned task broke");
}

static int main_waits(void *arg) {
  (void)arg;
  int rc = gloop_qt_spawn(spawned_fails, NULL, "breaks");
  return rc < 0 ? rc : gloop_sleep_forever();
}

static void failure_status_done(const gloop_outcome *o, void *data) {
  *(int *)data = o->status;
}

static void failure_done(const gloop_outcome *o, void *data) {
  int *status = data;
  *status = o->status;
  CHECK_CONTAINS(o->message, "the spawned task broke");
}

/* gloop_qt_spawn(): refused with no application, no run, NULL fn and off the
 * GUI thread; from a slot and from a task it starts tasks of the live run,
 * which quitting cancels like the main task; a failing one becomes the
 * run's outcome; from the done callback it is refused. */
QT_CASE(spawn) {
  CHECK_ERR(gloop_qt_spawn(spawned_from_task, NULL, "x"), GLOOP_EINVAL); /* no application */
  gloop_qt_app *app = qt_app_make();
  CHECK_ERR(gloop_qt_spawn(spawned_from_task, NULL, "x"), GLOOP_ENORUN);
  CHECK_ERR(gloop_qt_spawn(NULL, NULL, "x"), GLOOP_EINVAL);

  memset(&sp, 0, sizeof sp);
  sp.sleeper_status = 1;
  CHECK_OK(gloop_qt_start(main_spawns, NULL, spawn_done, NULL, NULL));
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  CHECK_INT(sp.from_host_ran, ==, 1);
  CHECK_INT(sp.from_task_ran, ==, 1);
  CHECK(strcmp(sp.host_name, "from-a-slot") == 0);
  CHECK_ERR(sp.sleeper_status, GLOOP_ECANCELED);
  CHECK_ERR(sp.thread_rc, GLOOP_EWRONGTHREAD);
  CHECK_ERR(sp.in_done_rc, GLOOP_ENORUN);
  CHECK(spawn_outcome == 0 || spawn_outcome == GLOOP_ECANCELED);
  CHECK_ERR(gloop_qt_spawn(spawned_from_task, NULL, "x"), GLOOP_ENORUN); /* after the run */

  /* A failing spawned task cancels the main task and is the outcome. */
  int status = 1;
  CHECK_OK(gloop_qt_start(main_waits, NULL, failure_done, &status, NULL));
  qts_after(5, quit_when_idle, NULL);
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  CHECK_ERR(status, GLOOP_EPIPE);
  gloop_qt_app_free(app);
  return 0;
}

/* ---- gloop_qt_spawn_owned ------------------------------------------------------ */

typedef struct owned_state {
  gloop_qt_widget *doomed;    /* deleted while its task sleeps */
  gloop_qt_widget *early;     /* deleted before its task starts */
  gloop_qt_widget *outlives;  /* deleted after its task has ended */
  int doomed_status;          /* what the doomed task's sleep returned */
  int early_ran;
  int outlives_done;
  int main_saw_cancel;        /* the main task was not cancelled with it */
} owned_state;

static owned_state os;

static int owned_sleeper(void *arg) {
  (void)arg;
  os.doomed_status = gloop_sleep_forever();
  return os.doomed_status;
}

static int owned_early(void *arg) {
  (void)arg;
  os.early_ran = 1;
  return 0;
}

static int owned_quick(void *arg) {
  (void)arg;
  os.outlives_done = 1;
  return 0;
}

static void owned_host(void *data) {
  (void)data;
  CHECK_OK(gloop_qt_spawn_owned(gloop_qt_widget_object(os.early), owned_early, NULL, "early"));
  gloop_qt_widget_free(os.early); /* before the task's first step */
}

static int main_owns(void *arg) {
  (void)arg;
  int rc = gloop_qt_spawn_owned(gloop_qt_widget_object(os.doomed), owned_sleeper, NULL, "doomed");
  if (rc == 0)
    rc = gloop_qt_spawn_owned(gloop_qt_widget_object(os.outlives), owned_quick, NULL, "quick");
  if (rc == 0) qts_after(0, owned_host, NULL);
  if (rc == 0) rc = gloop_sleep(0.05);
  /* Deleting the object cancels only its task. */
  if (rc == 0) gloop_qt_widget_free(os.doomed);
  while (rc == 0 && os.doomed_status == 1) rc = gloop_sleep(0.005);
  /* The quick task has ended: deleting its object now does nothing. */
  if (rc == 0) gloop_qt_widget_free(os.outlives);
  if (rc == 0) rc = gloop_sleep(0.02);
  os.main_saw_cancel = rc == GLOOP_ECANCELED;
  return rc;
}

/* gloop_qt_spawn_owned(): the object's destruction cancels its task (not as
 * a failure, and no other task); an object gone before the start means fn
 * never runs; after the task ended the destruction is harmless; bad owners
 * are refused. */
QT_CASE(spawn_owned) {
  gloop_qt_widget *label;
  gloop_qt_app *app = qt_app_make();
  CHECK_OK(gloop_qt_label_new("owner", &label));
  CHECK_ERR(gloop_qt_spawn_owned(gloop_qt_widget_object(label), owned_quick, NULL, "x"), GLOOP_ENORUN);
  CHECK_ERR(gloop_qt_spawn_owned(NULL, owned_quick, NULL, "x"), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_spawn_owned(gloop_qt_widget_object(label), NULL, NULL, "x"), GLOOP_EINVAL);
  gloop_qt_object *dead = gloop_qt_widget_object(label);
  gloop_qt_widget_free(label);
  CHECK_ERR(gloop_qt_spawn_owned(dead, owned_quick, NULL, "x"), GLOOP_EDESTROYED);

  memset(&os, 0, sizeof os);
  os.doomed_status = 1;
  CHECK_OK(gloop_qt_label_new("doomed", &os.doomed));
  CHECK_OK(gloop_qt_label_new("early", &os.early));
  CHECK_OK(gloop_qt_label_new("outlives", &os.outlives));
  int status = 1;
  CHECK_OK(gloop_qt_start(main_owns, NULL, failure_status_done, &status, NULL));
  qts_after(5, quit_when_idle, NULL);
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  CHECK_ERR(status, 0);
  CHECK_ERR(os.doomed_status, GLOOP_ECANCELED);
  CHECK_INT(os.early_ran, ==, 0);
  CHECK_INT(os.outlives_done, ==, 1);
  CHECK_INT(os.main_saw_cancel, ==, 0);
  gloop_qt_app_free(app);
  return 0;
}
