/* test_wait.c - Qt cases for tasks awaiting Qt: clicks, named signals, destroyed senders, cancellation, message boxes. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "qt_test.h"

static void quit_in_done(const gloop_outcome *o, void *data) {
  (void)data;
  if (o->status != 0)
    qt_fail_(__FILE__, __LINE__, "main task failed: %s (%s)", o->message,
             gloop_err_name(o->status));
  gloop_qt_app_quit(qt_app);
}

/* Runs entry(arg) as a guest run to completion inside exec(). */
static void run_to_end(gloop_task_fn entry, void *arg) {
  CHECK_OK(gloop_qt_start(entry, arg, quit_in_done, NULL, NULL));
  CHECK_INT(gloop_qt_app_exec(qt_app), ==, 0);
  CHECK(!gloop_in_run());
}

/* ---- A click from a Qt timer --------------------------------------------- */

typedef struct click_state {
  gloop_qt_widget *button;
  int waiting;
  int rc;
  int resumed;
  int resumed_during_emit;
  int callbacks;
} click_state;

static int wait_one_click(void *arg) {
  click_state *s = arg;
  /* Set right before the wait, with no checkpoint in between: once the host
   * sees it, the task is waiting. */
  s->waiting = 1;
  s->rc = gloop_qt_wait_clicked(s->button);
  s->resumed = 1;
  return 0;
}

static void on_click(void *data) {
  click_state *s = data;
  s->callbacks++;
}

static void click_from_timer(void *data) {
  click_state *s = data;
  if (!s->waiting) {
    qts_after(5, click_from_timer, s);
    return;
  }
  CHECK_OK(gloop_qt_button_click(s->button));
  /* The emission only marked the task ready: it has not resumed inside
   * click(), it will in a later tick. */
  s->resumed_during_emit = s->resumed;
}

QT_CASE(wait_clicked) {
  qt_app_make();
  click_state s;
  memset(&s, 0, sizeof s);
  s.rc = 1;
  CHECK_OK(gloop_qt_button_new("Click me", &s.button));
  CHECK_OK(gloop_qt_button_on_clicked(s.button, on_click, &s));
  /* Outside a task there is nothing to suspend. */
  CHECK_ERR(gloop_qt_wait_clicked(s.button), GLOOP_ENOTTASK);
  qts_after(30, click_from_timer, &s);
  run_to_end(wait_one_click, &s);
  CHECK_ERR(s.rc, 0);
  CHECK_INT(s.resumed, ==, 1);
  CHECK_INT(s.resumed_during_emit, ==, 0);
  CHECK_INT(s.callbacks, ==, 1);
  gloop_qt_widget_free(s.button);
  gloop_qt_app_free(qt_app);
  return 0;
}

/* ---- Signals chosen by signature ----------------------------------------- */

typedef struct names_state {
  gloop_qt_widget *button;
  gloop_qt_widget *doomed;   /* freed by the host when want_destroy is set */
  int want_destroy;
  int waits_done;
  int stop;
} names_state;

/* Clicks the button every few milliseconds until told to stop; frees the
 * doomed widget when asked. */
static void keep_clicking(void *data) {
  names_state *s = data;
  if (s->stop) return;
  if (s->want_destroy && s->doomed != NULL) {
    gloop_qt_widget_free(s->doomed);
    s->doomed = NULL;
  }
  CHECK_OK(gloop_qt_button_click(s->button));
  qts_after(3, keep_clicking, s);
}

static int wait_by_names(void *arg) {
  names_state *s = arg;
  gloop_qt_object *b = gloop_qt_widget_object(s->button);
  static const char *const forms[] = {"clicked()", "clicked(bool)", "2clicked()",
                                      " clicked( bool ) ", "pressed()", "released()"};
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
    CHECK_ERR(gloop_qt_wait_signal(b, forms[i]), 0);
    s->waits_done++;
  }
  CHECK_ERR(gloop_qt_wait_signal(b, "nosuchsignal()"), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_wait_signal(b, "clicked(int)"), GLOOP_EINVAL);
  /* A slot is not a signal. */
  CHECK_ERR(gloop_qt_wait_signal(b, "click()"), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_wait_signal(NULL, "clicked()"), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_wait_signal(b, NULL), GLOOP_EINVAL);
  /* Waiting for destroyed() itself: the signal fires, so this is success,
   * not GLOOP_EDESTROYED. */
  s->want_destroy = 1;
  CHECK_ERR(gloop_qt_wait_signal(gloop_qt_widget_object(s->doomed), "destroyed()"), 0);
  s->waits_done++;
  s->stop = 1;
  return 0;
}

QT_CASE(wait_signal_names) {
  qt_app_make();
  names_state s;
  memset(&s, 0, sizeof s);
  CHECK_OK(gloop_qt_button_new("Signals", &s.button));
  CHECK_OK(gloop_qt_container_new(NULL, &s.doomed));
  qts_after(3, keep_clicking, &s);
  run_to_end(wait_by_names, &s);
  CHECK_INT(s.waits_done, ==, 7);
  CHECK(s.doomed == NULL);
  gloop_qt_widget_free(s.button);
  gloop_qt_app_free(qt_app);
  return 0;
}

/* ---- The sender deleted while awaited ------------------------------------ */

typedef struct destroy_state {
  gloop_qt_widget *host_freed;   /* deleted by a Qt timer (host context) */
  gloop_qt_widget *task_freed;   /* deleted by another task (deferred) */
  int host_waiting, task_waiting;
  int rc_host;
  int rc_task;
} destroy_state;

static int wait_host_freed(void *arg) {
  destroy_state *s = arg;
  s->host_waiting = 1;
  s->rc_host = gloop_qt_wait_clicked(s->host_freed);
  return 0;
}

static int wait_task_freed(void *arg) {
  destroy_state *s = arg;
  s->task_waiting = 1;
  s->rc_task = gloop_qt_wait_clicked(s->task_freed);
  return 0;
}

static int free_from_task(void *arg) {
  destroy_state *s = arg;
  while (!s->task_waiting) CHECK_OK(gloop_sleep(0.005));
  gloop_qt_widget_free(s->task_freed);
  return 0;
}

static int main_destroyed(void *arg) {
  gloop_nursery *n;
  CHECK_OK(gloop_nursery_open(&n));
  CHECK_OK(gloop_nursery_start(n, wait_host_freed, arg, NULL, NULL));
  CHECK_OK(gloop_nursery_start(n, wait_task_freed, arg, NULL, NULL));
  CHECK_OK(gloop_nursery_start(n, free_from_task, arg, NULL, NULL));
  return gloop_nursery_close(n);
}

static void free_from_host(void *data) {
  destroy_state *s = data;
  if (!s->host_waiting) {
    qts_after(5, free_from_host, s);
    return;
  }
  gloop_qt_widget_free(s->host_freed);
}

QT_CASE(wait_destroyed) {
  qt_app_make();
  destroy_state s = {NULL, NULL, 0, 0, 1, 1};
  CHECK_OK(gloop_qt_button_new("Freed by the host", &s.host_freed));
  CHECK_OK(gloop_qt_button_new("Freed by a task", &s.task_freed));
  qts_after(30, free_from_host, &s);
  run_to_end(main_destroyed, &s);
  CHECK_ERR(s.rc_host, GLOOP_EDESTROYED);
  CHECK_ERR(s.rc_task, GLOOP_EDESTROYED);
  gloop_qt_app_free(qt_app);
  return 0;
}

/* ---- Cancellation and deadlines ------------------------------------------ */

typedef struct cancel_state {
  gloop_qt_widget *button;
  gloop_scope *host_cancels;   /* cancelled from a Qt timer when set */
  int phase;
  int clicks_seen;
} cancel_state;

static int connected(cancel_state *s) {
  return qts_signal_connected(gloop_qt_widget_object(s->button), "clicked(bool)");
}

static int wait_with_cancels(void *arg) {
  cancel_state *s = arg;
  gloop_scope *scope;

  /* A deadline (move_on_after): the wait gives up with ECANCELED and leaves
   * no connection behind. */
  CHECK_OK(gloop_move_on_after(0.03, &scope));
  CHECK_ERR(gloop_qt_wait_clicked(s->button), GLOOP_ECANCELED);
  CHECK_INT(gloop_scope_cancelled_caught(scope), ==, 1);
  CHECK_OK(gloop_scope_close(scope));
  CHECK_INT(connected(s), ==, 0);

  /* fail_after: the scope reports the timeout. */
  CHECK_OK(gloop_fail_after(0.03, &scope));
  CHECK_ERR(gloop_qt_wait_signal(gloop_qt_widget_object(s->button), "clicked()"),
            GLOOP_ECANCELED);
  CHECK_ERR(gloop_scope_close(scope), GLOOP_ETIMEDOUT);
  CHECK_INT(connected(s), ==, 0);

  /* Cancelled from host code while waiting. */
  CHECK_OK(gloop_scope_open(INFINITY, 0, &scope));
  s->host_cancels = scope;
  CHECK_ERR(gloop_qt_wait_clicked(s->button), GLOOP_ECANCELED);
  s->host_cancels = NULL;
  CHECK_OK(gloop_scope_close(scope));
  CHECK_INT(connected(s), ==, 0);

  /* Clicks while nobody waits are simply not seen; the next wait works. */
  s->phase = 1;
  CHECK_OK(gloop_sleep(0.02));
  s->phase = 2;
  CHECK_ERR(gloop_qt_wait_clicked(s->button), 0);
  s->clicks_seen++;
  CHECK_INT(connected(s), ==, 0);
  s->phase = 3;
  return 0;
}

static void cancel_driver(void *data) {
  cancel_state *s = data;
  if (s->host_cancels != NULL) {
    CHECK_OK(gloop_scope_cancel(s->host_cancels));
    s->host_cancels = NULL;
  }
  if (s->phase == 1 || s->phase == 2) CHECK_OK(gloop_qt_button_click(s->button));
  if (s->phase != 3) qts_after(5, cancel_driver, s);
}

QT_CASE(wait_cancelled) {
  qt_app_make();
  cancel_state s;
  memset(&s, 0, sizeof s);
  CHECK_OK(gloop_qt_button_new("Cancel me", &s.button));
  qts_after(5, cancel_driver, &s);
  run_to_end(wait_with_cancels, &s);
  CHECK_INT(s.phase, ==, 3);
  CHECK_INT(s.clicks_seen, ==, 1);
  gloop_qt_widget_free(s.button);
  gloop_qt_app_free(qt_app);
  return 0;
}

/* ---- Message boxes ------------------------------------------------------- */

typedef struct box_state {
  gloop_qt_widget *window;
  int phase;            /* 1: yes/no box open, 2: OK box open, 3: done */
  int asker_done;
  int ticks;            /* the other task's progress */
  int ticks_at_answer;
  int rc1, result1, rc2, result2;
  int box_seen;
  int handled_phase;    /* the asker may not have resumed yet after an answer,
                         * so its box can still be the active one */
} box_state;

static int asker(void *arg) {
  box_state *s = arg;
  s->phase = 1;
  s->rc1 = gloop_qt_message_box(s->window, "Question", "Proceed?",
                                GLOOP_QT_BUTTON_YES | GLOOP_QT_BUTTON_NO, &s->result1);
  CHECK(gloop_qt_active_message_box() == NULL);
  s->phase = 2;
  s->rc2 = gloop_qt_message_box(s->window, "Note", "Closed by the window manager.", 0,
                                &s->result2);
  s->phase = 3;
  s->asker_done = 1;
  return 0;
}

static int ticker(void *arg) {
  box_state *s = arg;
  while (!s->asker_done) {
    CHECK_OK(gloop_sleep(0.005));
    s->ticks++;
  }
  return 0;
}

static int main_boxes(void *arg) {
  gloop_nursery *n;
  CHECK_OK(gloop_nursery_open(&n));
  CHECK_OK(gloop_nursery_start(n, asker, arg, "asker", NULL));
  CHECK_OK(gloop_nursery_start(n, ticker, arg, "ticker", NULL));
  return gloop_nursery_close(n);
}

static void answer_boxes(void *data) {
  box_state *s = data;
  gloop_qt_widget *box = gloop_qt_active_message_box();
  if (s->phase == s->handled_phase) box = NULL;
  if (s->phase == 1 && box != NULL && s->ticks >= 20) {
    s->handled_phase = 1;
    /* Answer the question with its "yes" button. */
    s->box_seen++;
    s->ticks_at_answer = s->ticks;
    gloop_qt_widget *yes = gloop_qt_widget_find(box, "yes");
    CHECK(yes != NULL);
    CHECK(gloop_qt_widget_find(box, "no") != NULL);
    CHECK(gloop_qt_widget_find(box, "ok") == NULL);
    CHECK_OK(gloop_qt_button_click(yes));
  } else if (s->phase == 2 && box != NULL) {
    /* Closing a box with a single button presses that button. */
    s->handled_phase = 2;
    s->box_seen++;
    CHECK_OK(gloop_qt_widget_close(box));
  }
  if (s->phase != 3) qts_after(10, answer_boxes, s);
}

QT_CASE(message_box) {
  qt_app_make();
  box_state s;
  memset(&s, 0, sizeof s);
  CHECK_OK(gloop_qt_window_new(&s.window));
  CHECK_OK(gloop_qt_widget_show(s.window));
  qts_after(10, answer_boxes, &s);
  run_to_end(main_boxes, &s);
  CHECK_ERR(s.rc1, 0);
  CHECK_INT(s.result1, ==, GLOOP_QT_BUTTON_YES);
  CHECK_ERR(s.rc2, 0);
  CHECK_INT(s.result2, ==, GLOOP_QT_BUTTON_OK);
  CHECK_INT(s.box_seen, ==, 2);
  /* The other task kept ticking while the box was open. */
  CHECK_INT(s.ticks_at_answer, >=, 20);
  CHECK(gloop_qt_active_message_box() == NULL);
  gloop_qt_widget_free(s.window);
  gloop_qt_app_free(qt_app);
  return 0;
}

typedef struct box_cancel_state {
  gloop_qt_widget *parent;   /* freed by the host while its box is open */
  int top_levels;
  int rc_deadline, rc_parent, rc_bad, rc_result;
  int result;
} box_cancel_state;

static int cancelled_boxes(void *arg) {
  box_cancel_state *s = arg;
  gloop_scope *scope;
  CHECK_OK(gloop_move_on_after(0.05, &scope));
  s->rc_deadline = gloop_qt_message_box(NULL, "Timeout", "Nobody answers this.",
                                        GLOOP_QT_BUTTON_OK | GLOOP_QT_BUTTON_CANCEL, &s->result);
  CHECK_OK(gloop_scope_close(scope));
  /* The cancelled box was closed and deleted. */
  CHECK(gloop_qt_active_message_box() == NULL);
  CHECK_INT(qts_top_level_count(), ==, s->top_levels);
  /* A box whose parent dies dies with it. */
  s->rc_parent = gloop_qt_message_box(s->parent, "Orphan", "My parent goes away.", 0, NULL);
  CHECK(gloop_qt_active_message_box() == NULL);
  s->rc_bad = gloop_qt_message_box(NULL, "Bad", "Unknown button bits.", 0x1, NULL);
  return 0;
}

static void free_parent(void *data) {
  box_cancel_state *s = data;
  if (gloop_qt_active_message_box() == NULL || s->rc_deadline == 1) {
    qts_after(5, free_parent, s);
    return;
  }
  gloop_qt_widget_free(s->parent);
  s->parent = NULL;
}

QT_CASE(message_box_cancelled) {
  qt_app_make();
  box_cancel_state s;
  memset(&s, 0, sizeof s);
  s.rc_deadline = 1;
  s.result = -1;
  CHECK_OK(gloop_qt_container_new(NULL, &s.parent));
  CHECK_OK(gloop_qt_widget_show(s.parent));
  s.top_levels = qts_top_level_count();
  CHECK_ERR(gloop_qt_message_box(NULL, "Host", "Not from a task.", 0, &s.rc_result),
            GLOOP_ENOTTASK);
  qts_after(5, free_parent, &s);
  run_to_end(cancelled_boxes, &s);
  CHECK_ERR(s.rc_deadline, GLOOP_ECANCELED);
  CHECK_INT(s.result, ==, 0);
  CHECK_ERR(s.rc_parent, GLOOP_EDESTROYED);
  CHECK_ERR(s.rc_bad, GLOOP_EINVAL);
  CHECK(s.parent == NULL);
  gloop_qt_app_free(qt_app);
  return 0;
}

/* ---- Any QDialog, and message boxes with icon and modality ------------------- */

typedef struct dialog_state {
  gloop_qt_widget *dialog;
  int seen_visible;     /* the dialog was shown when the timer looked */
  int seen_modality;    /* its windowModality() then */
  int seen_icon;        /* the message box's icon then */
  int done_code;        /* the code the timer finishes the dialog with */
  int host_rc;          /* gloop_qt_dialog_open() from host context */
} dialog_state;

static dialog_state ds;

static void finish_dialog(void *data) {
  (void)data;
  ds.seen_visible = qts_visible(ds.dialog);
  ds.seen_modality = qts_modality(ds.dialog);
  ds.host_rc = gloop_qt_dialog_open(ds.dialog, GLOOP_QT_MODAL_WINDOW, NULL);
  qts_dialog_done(ds.dialog, ds.done_code);
}

static void delete_dialog(void *data) {
  (void)data;
  gloop_qt_widget_free(ds.dialog);
}

static void answer_box(void *data) {
  (void)data;
  gloop_qt_widget *box = gloop_qt_active_message_box();
  if (box == NULL) {
    qts_after(5, answer_box, NULL);
    return;
  }
  ds.seen_icon = qts_box_icon(box);
  ds.seen_modality = qts_modality(box);
  CHECK_OK(gloop_qt_button_click(gloop_qt_widget_find(box, "yes")));
}

static int main_dialogs(void *arg) {
  (void)arg;
  int result = -1;
  ds.dialog = qts_dialog_new();

  /* Window-modal, finished with done(7). */
  ds.done_code = 7;
  qts_after(20, finish_dialog, NULL);
  CHECK_OK(gloop_qt_dialog_open(ds.dialog, GLOOP_QT_MODAL_WINDOW, &result));
  CHECK_INT(result, ==, 7);
  CHECK_INT(ds.seen_visible, ==, 1);
  CHECK_INT(ds.seen_modality, ==, 1);
  CHECK_ERR(ds.host_rc, GLOOP_ENOTTASK);
  CHECK_INT(qts_visible(ds.dialog), ==, 0);

  /* Application-modal, accepted; the same dialog opens again. */
  ds.done_code = 1;
  qts_after(20, finish_dialog, NULL);
  CHECK_OK(gloop_qt_dialog_open(ds.dialog, GLOOP_QT_MODAL_APPLICATION, &result));
  CHECK_INT(result, ==, 1);
  CHECK_INT(ds.seen_modality, ==, 2);

  /* Bad input. */
  CHECK_ERR(gloop_qt_dialog_open(NULL, GLOOP_QT_MODAL_WINDOW, &result), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_dialog_open(ds.dialog, 2, &result), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_dialog_open(ds.dialog, -1, &result), GLOOP_EINVAL);
  gloop_qt_widget *label;
  CHECK_OK(gloop_qt_label_new("not a dialog", &label));
  CHECK_ERR(gloop_qt_dialog_open(label, GLOOP_QT_MODAL_WINDOW, &result), GLOOP_EINVAL);
  gloop_qt_widget_free(label);
  CHECK_OK(gloop_qt_widget_show(ds.dialog));
  CHECK_ERR(gloop_qt_dialog_open(ds.dialog, GLOOP_QT_MODAL_WINDOW, &result), GLOOP_EBUSY);
  CHECK_OK(gloop_qt_widget_close(ds.dialog));

  /* Cancelled: the dialog is closed, and stays the caller's. */
  gloop_scope *scope;
  CHECK_OK(gloop_move_on_after(0.03, &scope));
  CHECK_ERR(gloop_qt_dialog_open(ds.dialog, GLOOP_QT_MODAL_WINDOW, &result), GLOOP_ECANCELED);
  gloop_scope_close(scope);
  CHECK_INT(qts_visible(ds.dialog), ==, 0);

  /* Deleted while waiting, and afterwards. */
  qts_after(20, delete_dialog, NULL);
  CHECK_ERR(gloop_qt_dialog_open(ds.dialog, GLOOP_QT_MODAL_WINDOW, &result), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_dialog_open(ds.dialog, GLOOP_QT_MODAL_WINDOW, &result), GLOOP_EDESTROYED);

  /* A message box with an icon, application-modal. */
  qts_after(5, answer_box, NULL);
  CHECK_OK(gloop_qt_message_box_ex(NULL, "t", "Sure?", GLOOP_QT_ICON_WARNING,
                                   GLOOP_QT_BUTTON_YES | GLOOP_QT_BUTTON_NO,
                                   GLOOP_QT_MODAL_APPLICATION, &result));
  CHECK_INT(result, ==, GLOOP_QT_BUTTON_YES);
  CHECK_INT(ds.seen_icon, ==, GLOOP_QT_ICON_WARNING);
  CHECK_INT(ds.seen_modality, ==, 2);
  CHECK_ERR(gloop_qt_message_box_ex(NULL, "t", "x", 5, 0, 0, &result), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_message_box_ex(NULL, "t", "x", -1, 0, 0, &result), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_message_box_ex(NULL, "t", "x", 0, 0, 2, &result), GLOOP_EINVAL);
  CHECK(gloop_qt_active_message_box() == NULL);
  return 0;
}

/* gloop_qt_dialog_open() and gloop_qt_message_box_ex(): modality, the
 * finished code, reuse, cancellation, deletion, bad input, host context. */
QT_CASE(dialog_open) {
  gloop_qt_app *app = qt_app_make();
  gloop_qt_widget *window;
  memset(&ds, 0, sizeof ds);
  /* A main window stays open, as in an application: closing the last
   * visible window (here a dialog) would quit. */
  CHECK_OK(gloop_qt_window_new(&window));
  CHECK_OK(gloop_qt_widget_show(window));
  CHECK_OK(gloop_qt_start(main_dialogs, NULL, quit_in_done, NULL, NULL));
  CHECK_INT(gloop_qt_app_exec(app), ==, 0);
  gloop_qt_widget_free(window);
  gloop_qt_app_free(app);
  return 0;
}
