/* test_life.c - Qt cases for the run's life cycle: quitting or exit() while tasks run, and Qt ending before the run. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "qt_test.h"

enum { WORKERS = 4 };

/* Shared by the quit cases: a window, WORKERS tasks that sleep until
 * cancelled and then spend CLEANUP_S in shielded cleanup, and timestamps. */
#define CLEANUP_S 0.05

typedef struct life_state {
  gloop_qt_widget *window;
  int started;
  int cleanups;
  int main_cancelled;     /* the main task saw GLOOP_ECANCELED after its nursery */
  int quit_from_task;     /* the main task quits the application itself */
  int exit_from_task;     /* ... with QCoreApplication::exit(this code) */
  int quit_rc_in_run;     /* gloop_in_run() right after the quit request */
  int visible_after_quit;
  int visible_at_done;
  int cleanups_at_done;
  int done_calls;
  double quit_at;
  double done_at;
} life_state;

static int worker(void *arg) {
  life_state *s = arg;
  s->started++;
  int rc = gloop_sleep_forever();
  /* Cleanup that itself waits: it must be allowed to finish before the
   * application goes away. */
  gloop_scope *shield;
  if (gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &shield) == 0) {
    CHECK_OK(gloop_sleep(CLEANUP_S));
    CHECK_OK(gloop_scope_close(shield));
  }
  s->cleanups++;
  return rc == GLOOP_ECANCELED ? 0 : rc;
}

static int main_with_workers(void *arg) {
  life_state *s = arg;
  gloop_nursery *n;
  int rc = gloop_nursery_open(&n);
  if (rc < 0) return rc;
  for (int i = 0; i < WORKERS; i++) CHECK_OK(gloop_nursery_start(n, worker, s, NULL, NULL));
  if (s->quit_from_task) {
    CHECK_OK(gloop_sleep(0.03));
    s->quit_at = test_real_now();
    if (s->exit_from_task != 0)
      qts_exit(s->exit_from_task);
    else
      gloop_qt_app_quit(qt_app);
    s->quit_rc_in_run = gloop_in_run();
  }
  rc = gloop_nursery_close(n);
  if (rc < 0) return rc;
  /* The run is cancelled: the next checkpoint says so. */
  rc = gloop_checkpoint();
  s->main_cancelled = rc == GLOOP_ECANCELED;
  return rc;
}

static void life_done(const gloop_outcome *o, void *data) {
  life_state *s = data;
  CHECK_ERR(o->status, GLOOP_ECANCELED);
  s->done_calls++;
  s->done_at = test_real_now();
  s->cleanups_at_done = s->cleanups;
  s->visible_at_done = qts_visible(s->window);
}

static void make_window(life_state *s) {
  CHECK_OK(gloop_qt_window_new(&s->window));
  CHECK_OK(gloop_qt_widget_resize(s->window, 200, 100));
  CHECK_OK(gloop_qt_widget_show(s->window));
}

static void quit_now(void *data) {
  life_state *s = data;
  if (s->started < WORKERS) {
    qts_after(5, quit_now, s);
    return;
  }
  s->quit_at = test_real_now();
  gloop_qt_app_quit(qt_app);
  /* The quit was held back: the run and the window are still there. */
  s->quit_rc_in_run = gloop_in_run();
  s->visible_after_quit = qts_visible(s->window);
}

QT_CASE(quit_while_running) {
  gloop_qt_app *app = qt_app_make();
  life_state s;
  memset(&s, 0, sizeof s);
  make_window(&s);
  CHECK_OK(gloop_qt_start(main_with_workers, &s, life_done, &s, NULL));
  qts_after(100, quit_now, &s);
  test_capture_begin();
  int code = gloop_qt_app_exec(app);
  double returned_at = test_real_now();
  const char *err = test_capture_end();
  CHECK_INT(code, ==, 0);
  CHECK_INT(s.quit_rc_in_run, ==, 1);
  CHECK_INT(s.visible_after_quit, ==, 1);
  CHECK_INT(s.done_calls, ==, 1);
  CHECK_INT(s.cleanups_at_done, ==, WORKERS);
  CHECK_INT(s.main_cancelled, ==, 1);
  /* The application stayed up through the cleanup, and exited after done. */
  CHECK_INT(s.visible_at_done, ==, 1);
  CHECK_DBL(s.done_at - s.quit_at, >=, CLEANUP_S * 0.9);
  CHECK_DBL(returned_at, >=, s.done_at);
  CHECK_INT(qts_visible(s.window), ==, 0);
  CHECK_NOT_CONTAINS(err, "abandoned");
  CHECK(!gloop_in_run());
  gloop_qt_widget_free(s.window);
  gloop_qt_app_free(app);
  return 0;
}

static void close_window(void *data) {
  life_state *s = data;
  if (s->started < WORKERS) {
    qts_after(5, close_window, s);
    return;
  }
  s->quit_at = test_real_now();
  CHECK_OK(gloop_qt_widget_close(s->window));
}

QT_CASE(quit_last_window) {
  gloop_qt_app *app = qt_app_make();
  life_state s;
  memset(&s, 0, sizeof s);
  make_window(&s);
  /* No done callback: the default one must stay quiet about the
   * cancellation the quit itself caused. */
  CHECK_OK(gloop_qt_start(main_with_workers, &s, NULL, NULL, NULL));
  qts_after(100, close_window, &s);
  test_capture_begin();
  int code = gloop_qt_app_exec(app);
  double returned_at = test_real_now();
  const char *err = test_capture_end();
  CHECK_INT(code, ==, 0);
  CHECK_INT(s.cleanups, ==, WORKERS);
  CHECK_INT(s.main_cancelled, ==, 1);
  CHECK_DBL(returned_at - s.quit_at, >=, CLEANUP_S * 0.9);
  CHECK_NOT_CONTAINS(err, "main task failed");
  CHECK_NOT_CONTAINS(err, "abandoned");
  CHECK(!gloop_in_run());
  gloop_qt_widget_free(s.window);
  gloop_qt_app_free(app);
  return 0;
}

QT_CASE(quit_from_task) {
  gloop_qt_app *app = qt_app_make();
  life_state s;
  memset(&s, 0, sizeof s);
  s.quit_from_task = 1;
  make_window(&s);
  CHECK_OK(gloop_qt_start(main_with_workers, &s, life_done, &s, NULL));
  int code = gloop_qt_app_exec(app);
  CHECK_INT(code, ==, 0);
  CHECK_INT(s.quit_rc_in_run, ==, 1);
  CHECK_INT(s.done_calls, ==, 1);
  CHECK_INT(s.cleanups_at_done, ==, WORKERS);
  CHECK_INT(s.visible_at_done, ==, 1);
  CHECK_DBL(s.done_at - s.quit_at, >=, CLEANUP_S * 0.9);
  gloop_qt_widget_free(s.window);
  gloop_qt_app_free(app);
  return 0;
}

/* ---- QCoreApplication::exit(code) while a run is live ----------------------
 *
 * exit() ends Qt's loop without a Quit event, so nothing can hold it back.
 * The shim still winds the run down as on quit(): the run is cancelled and
 * finishes in a local loop while exec() is returning; exec() then returns
 * exit()'s code. */

/* One task already inside shielded cleanup when exit() comes, which must be
 * allowed to finish it. */
static int shielded_task(void *arg) {
  life_state *s = arg;
  gloop_scope *shield;
  CHECK_OK(gloop_scope_open(INFINITY, GLOOP_SCOPE_SHIELD, &shield));
  s->started++;
  CHECK_OK(gloop_sleep(2 * CLEANUP_S));
  CHECK_OK(gloop_scope_close(shield));
  s->cleanups++;
  return 0;
}

static int main_exit(void *arg) {
  life_state *s = arg;
  gloop_nursery *n;
  int rc = gloop_nursery_open(&n);
  if (rc < 0) return rc;
  for (int i = 0; i < WORKERS; i++) CHECK_OK(gloop_nursery_start(n, worker, s, NULL, NULL));
  CHECK_OK(gloop_nursery_start(n, shielded_task, s, NULL, NULL));
  rc = gloop_nursery_close(n);
  if (rc < 0) return rc;
  rc = gloop_checkpoint();
  s->main_cancelled = rc == GLOOP_ECANCELED;
  return rc;
}

/* exit(3) once every task waits; with exit_again, exit(4) follows 10 ms
 * later, while the cleanups are still under way. */
static int exit_again;

static void exit_four(void *data) {
  (void)data;
  qts_exit(4);
}

static void exit_when_started(void *data) {
  life_state *s = data;
  if (s->started < WORKERS + 1) {
    qts_after(5, exit_when_started, s);
    return;
  }
  s->quit_at = test_real_now();
  qts_exit(3);
  /* exit() returns at once; the run is still live, and the window up. */
  s->quit_rc_in_run = gloop_in_run();
  s->visible_after_quit = qts_visible(s->window);
  if (exit_again) qts_after(10, exit_four, s);
}

QT_CASE(qt_exit_while_running) {
  gloop_qt_app *app = qt_app_make();
  life_state s;
  memset(&s, 0, sizeof s);
  make_window(&s);
  CHECK_OK(gloop_qt_start(main_exit, &s, life_done, &s, NULL));
  qts_after(100, exit_when_started, &s);
  test_capture_begin();
  int code = gloop_qt_app_exec(app);
  double returned_at = test_real_now();
  const char *err = test_capture_end();
  CHECK_INT(code, ==, 3);
  CHECK_INT(s.quit_rc_in_run, ==, 1);
  CHECK_INT(s.visible_after_quit, ==, 1);
  CHECK_INT(s.done_calls, ==, 1);
  /* Every cleanup ran, the one under way at exit() included, before done. */
  CHECK_INT(s.cleanups_at_done, ==, WORKERS + 1);
  CHECK_INT(s.main_cancelled, ==, 1);
  CHECK_INT(s.visible_at_done, ==, 1);
  CHECK_DBL(s.done_at - s.quit_at, >=, CLEANUP_S * 0.9);
  CHECK_DBL(returned_at, >=, s.done_at);
  CHECK_NOT_CONTAINS(err, "abandoned");
  CHECK(!gloop_in_run());
  /* Nothing of the run is left. */
  CHECK_INT(qt_live_allocs(), ==, 0);
  gloop_qt_widget_free(s.window);
  gloop_qt_app_free(app);
  return 0;
}

/* exit() from a task: Qt's loop returns once the tick has ended, and the
 * run winds down as after any other exit(). */
QT_CASE(qt_exit_from_task) {
  gloop_qt_app *app = qt_app_make();
  life_state s;
  memset(&s, 0, sizeof s);
  s.quit_from_task = 1;
  s.exit_from_task = 5;
  make_window(&s);
  CHECK_OK(gloop_qt_start(main_with_workers, &s, life_done, &s, NULL));
  test_capture_begin();
  int code = gloop_qt_app_exec(app);
  const char *err = test_capture_end();
  CHECK_INT(code, ==, 5);
  CHECK_INT(s.quit_rc_in_run, ==, 1);
  CHECK_INT(s.done_calls, ==, 1);
  CHECK_INT(s.cleanups_at_done, ==, WORKERS);
  CHECK_INT(s.main_cancelled, ==, 1);
  CHECK_NOT_CONTAINS(err, "abandoned");
  CHECK(!gloop_in_run());
  gloop_qt_widget_free(s.window);
  gloop_qt_app_free(app);
  return 0;
}

/* A second exit() while the run winds down ends the local loop too: that is
 * the one way of quitting that abandons the run (besides freeing the
 * application under it). exec() still returns the first code. */
QT_CASE(qt_exit_twice_abandons) {
  gloop_qt_app *app = qt_app_make();
  life_state s;
  memset(&s, 0, sizeof s);
  make_window(&s);
  exit_again = 1;
  CHECK_OK(gloop_qt_start(main_exit, &s, life_done, &s, NULL));
  qts_after(100, exit_when_started, &s);
  test_capture_begin();
  int code = gloop_qt_app_exec(app);
  const char *err = test_capture_end();
  CHECK_INT(code, ==, 3);
  CHECK_CONTAINS(err, "guestloop: the host loop ended before the guest run finished; run abandoned");
  CHECK(!gloop_in_run());
  CHECK_INT(s.done_calls, ==, 0);
  CHECK_INT(s.cleanups, <, WORKERS + 1);
  CHECK_INT(qt_live_allocs(), ==, 0);
  gloop_qt_widget_free(s.window);
  gloop_qt_app_free(app);
  return 0;
}

/* Tasks parked in every kind of wait the shim owns state for: a click, a
 * signal of the application, a message box, and a plain sleep. */
typedef struct abandon_state {
  gloop_qt_widget *button; /* NULL: no click waiter */
  int waiting;
  int resumed;
  int done_calls;
} abandon_state;

static int wait_click_task(void *arg) {
  abandon_state *s = arg;
  s->waiting++;
  gloop_qt_wait_clicked(s->button);
  s->resumed++;
  return 0;
}

static int wait_app_signal_task(void *arg) {
  abandon_state *s = arg;
  s->waiting++;
  gloop_qt_wait_signal((gloop_qt_object *)(void *)qt_app, "applicationNameChanged()");
  s->resumed++;
  return 0;
}

static int box_task(void *arg) {
  abandon_state *s = arg;
  int result;
  s->waiting++;
  gloop_qt_message_box(NULL, "Abandon", "This box goes with the run.", 0, &result);
  s->resumed++;
  return 0;
}

static int sleep_task(void *arg) {
  abandon_state *s = arg;
  s->waiting++;
  gloop_sleep(60);
  s->resumed++;
  return 0;
}

static int main_parks(void *arg) {
  abandon_state *s = arg;
  gloop_nursery *n;
  int rc = gloop_nursery_open(&n);
  if (rc < 0) return rc;
  if (s->button != NULL) CHECK_OK(gloop_nursery_start(n, wait_click_task, s, NULL, NULL));
  CHECK_OK(gloop_nursery_start(n, wait_app_signal_task, s, NULL, NULL));
  CHECK_OK(gloop_nursery_start(n, box_task, s, NULL, NULL));
  CHECK_OK(gloop_nursery_start(n, sleep_task, s, NULL, NULL));
  rc = gloop_nursery_close(n);
  s->resumed++;
  return rc;
}

static void abandon_done(const gloop_outcome *o, void *data) {
  (void)o;
  abandon_state *s = data;
  s->done_calls++;
}

/* Exits once every task is parked in its wait. */
static void exit_now(void *data) {
  abandon_state *s = data;
  if (s->waiting < 4) {
    qts_after(5, exit_now, s);
    return;
  }
  CHECK(gloop_qt_active_message_box() != NULL);
  qts_exit(3);
}

static int quick_entry(void *arg) {
  int *ran = arg;
  (*ran)++;
  return gloop_sleep(0.001);
}

static void quit_in_done(const gloop_outcome *o, void *data) {
  (void)data;
  CHECK_ERR(o->status, 0);
  gloop_qt_app_quit(qt_app);
}

QT_CASE(qt_exit_parked_waits) {
  gloop_qt_app *app = qt_app_make();
  gloop_qt_widget *window, *central;
  gloop_qt_layout *box;
  abandon_state s;
  memset(&s, 0, sizeof s);
  CHECK_OK(gloop_qt_window_new(&window));
  central = gloop_qt_window_central(window);
  CHECK(central != NULL);
  CHECK_OK(gloop_qt_vbox_new(central, &box));
  CHECK_OK(gloop_qt_button_new("Never clicked", &s.button));
  CHECK_OK(gloop_qt_vbox_add(box, s.button, GLOOP_QT_ALIGN_DEFAULT));
  CHECK_OK(gloop_qt_widget_show(window));
  int top_levels = qts_top_level_count();

  gloop_options opts;
  qt_counting_options(&opts);
  CHECK_OK(gloop_qt_start(main_parks, &s, abandon_done, &s, &opts));
  qts_after(100, exit_now, &s);
  test_capture_begin();
  int code = gloop_qt_app_exec(app);
  const char *err = test_capture_end();
  CHECK_INT(code, ==, 3);
  /* Every wait ended with the cancellation and the run finished. */
  CHECK_NOT_CONTAINS(err, "abandoned");
  CHECK(!gloop_in_run());
  CHECK_INT(s.done_calls, ==, 1);
  CHECK_INT(s.resumed, ==, 5);
  /* Nothing of the run is left: no loop memory, no waiter connected to the
   * button, no message box. */
  CHECK_INT(qt_live_allocs(), ==, 0);
  CHECK_INT(qts_signal_connected(gloop_qt_widget_object(s.button), "clicked(bool)"), ==, 0);
  CHECK(gloop_qt_active_message_box() == NULL);
  CHECK_INT(qts_top_level_count(), ==, top_levels);

  /* The shim recovers: a new run works in the same application. */
  int ran = 0;
  CHECK_OK(gloop_qt_start(quick_entry, &ran, quit_in_done, NULL, NULL));
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  CHECK_INT(ran, ==, 1);
  gloop_qt_widget_free(window);
  gloop_qt_app_free(app);
  return 0;
}

QT_CASE(qt_app_freed_first) {
  gloop_qt_app *app = qt_app_make();
  abandon_state s;
  memset(&s, 0, sizeof s);
  gloop_options opts;
  qt_counting_options(&opts);
  CHECK_OK(gloop_qt_start(main_parks, &s, abandon_done, &s, &opts));
  /* Let the run get going without ever entering exec(), until every task
   * is parked in its wait. */
  while (s.waiting < 3) qts_process_events(5);
  CHECK(gloop_qt_active_message_box() != NULL);
  test_capture_begin();
  gloop_qt_app_free(app);
  const char *err = test_capture_end();
  CHECK_CONTAINS(err, "guestloop: the host loop ended before the guest run finished; run abandoned");
  CHECK(!gloop_in_run());
  CHECK_INT(s.done_calls, ==, 0);
  CHECK_INT(s.resumed, ==, 0);
  CHECK_INT(qt_live_allocs(), ==, 0);
  /* Without an application the shim refuses politely. */
  CHECK_ERR(gloop_qt_start(quick_entry, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  return 0;
}

/* ---- Spawned, owned and dialog waits at an abandon ----------------------------- */

typedef struct spawn_abandon_state {
  gloop_qt_widget *owner;
  gloop_qt_widget *dialog;
  int waiting;
  int resumed;
} spawn_abandon_state;

static int parks_forever(void *arg) {
  spawn_abandon_state *s = arg;
  s->waiting++;
  gloop_sleep_forever();
  s->resumed++;
  return 0;
}

static int main_spawns_and_parks(void *arg) {
  spawn_abandon_state *s = arg;
  int rc = gloop_qt_spawn_owned(gloop_qt_widget_object(s->owner), parks_forever, s, "owned");
  if (rc == 0) rc = gloop_qt_spawn(parks_forever, s, "plain");
  if (rc < 0) return rc;
  s->waiting++;
  rc = gloop_qt_dialog_open(s->dialog, GLOOP_QT_MODAL_WINDOW, NULL);
  s->resumed++;
  return rc;
}

/* The application is freed while spawned tasks (one tied to an object) and
 * a dialog wait are parked: the run is abandoned, and neither the loop's
 * memory nor the shim's records outlive the application (ASan's leak check
 * covers the C++ side). */
QT_CASE(spawn_abandoned) {
  gloop_qt_app *app = qt_app_make();
  spawn_abandon_state s;
  memset(&s, 0, sizeof s);
  CHECK_OK(gloop_qt_label_new("owner", &s.owner));
  s.dialog = qts_dialog_new();
  gloop_options opts;
  qt_counting_options(&opts);
  CHECK_OK(gloop_qt_start(main_spawns_and_parks, &s, NULL, NULL, &opts));
  while (s.waiting < 3) qts_process_events(5);
  test_capture_begin();
  gloop_qt_widget_free(s.dialog);
  gloop_qt_widget_free(s.owner);
  gloop_qt_app_free(app);
  const char *err = test_capture_end();
  CHECK_CONTAINS(err, "run abandoned");
  CHECK(!gloop_in_run());
  CHECK_INT(s.resumed, ==, 0);
  CHECK_INT(qt_live_allocs(), ==, 0);
  return 0;
}

/* ---- Quitting while a worker job polls for cancellation -------------------------- */

/* The main task waits in gloop_to_thread() for a job that would run for 30 s
 * but looks at gloop_thread_check_cancelled() every 10 ms. Quitting the
 * application cancels the run, the job returns at its next look, and exec()
 * returns promptly: the bound is 100 ms; the check allows 500 ms
 * (scaled for slow builds) so that a loaded machine does not fail it, and
 * the time taken is printed. Without the cancellation reaching the job,
 * exec() would return only after the job's 30 s. */
static atomic_int qj_started;
static double qj_quit_at, qj_job_end;

static void *qj_job(void *arg) {
  (void)arg;
  atomic_store(&qj_started, 1);
  for (int i = 0; i < 3000 && gloop_thread_check_cancelled() == 0; i++) usleep(10000);
  qj_job_end = test_real_now();
  return NULL;
}

static int qj_main(void *arg) {
  (void)arg;
  return gloop_to_thread(qj_job, NULL, 0, NULL);
}

static void qj_quit_when_started(void *arg) {
  (void)arg;
  if (!atomic_load(&qj_started)) {
    qts_after(5, qj_quit_when_started, NULL);
    return;
  }
  qj_quit_at = test_real_now();
  gloop_qt_app_quit(qt_app);
}

QT_CASE(quit_while_job_polls) {
  gloop_qt_app *app = qt_app_make();
  atomic_store(&qj_started, 0);
  CHECK_OK(gloop_qt_start(qj_main, NULL, NULL, NULL, NULL));
  qts_after(20, qj_quit_when_started, NULL);
  test_capture_begin();
  int code = gloop_qt_app_exec(app);
  double took = test_real_now() - qj_quit_at;
  test_capture_end();
  printf("exec() returned %.1f ms after the quit (the job ended %.1f ms after it)\n", took * 1000,
         (qj_job_end - qj_quit_at) * 1000);
  CHECK_INT(code, ==, 0);
  CHECK_DBL(took, <, test_limit(0.5));
  CHECK(!gloop_in_run());
  gloop_qt_app_free(app);
  return 0;
}
