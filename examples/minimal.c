/* minimal.c - the smallest useful libguestloop program: a button that starts a task which sleeps, then updates a label. */

/*
 * What this example shows
 * -----------------------
 * A Qt window with a label ("The answer is 42.") above a push button ("What
 * is the question?"). Each click starts a task that sleeps for one second
 * and then changes the label. The sleep does not block the window: Qt keeps
 * painting and handling input while the task waits, because the task is a
 * coroutine of a guest run that lives inside Qt's own event loop.
 *
 * The shape of the program is the one most applications want:
 *
 *   1. Create the application and the widgets (host context: plain C code
 *      running on the GUI thread, outside any task).
 *   2. Start ONE long-lived guest run. Its main task opens a nursery, a place
 *      that owns child tasks, publishes it for the click handler, and then
 *      waits until it is cancelled.
 *   3. Each click starts a new child task in that nursery, straight from the
 *      button's callback.
 *   4. Closing the window makes the Qt shim cancel the run. The main task
 *      wakes up, the nursery cancels and waits for any click task still
 *      sleeping, the run ends, and the program exits with status 0.
 *
 * Two clicks within the same second start two independent tasks; each one
 * sets the text one second after its own click. (The Python original built on
 * trio starts a whole guest run per click and so rejects the second click
 * with an error; its asyncio twin runs both coroutines, which is what the
 * nursery gives us here.)
 */

#include <guestloop/guestloop.h>
#include <guestloop/guestloop-qt.h>

#include <stdio.h>
#include <string.h>

#define INITIAL_TEXT "The answer is 42."
#define BUTTON_TEXT "What is the question?"
#define ANSWER_TEXT "What do you get if you multiply six by nine?"

/* Everything the callbacks and tasks share. There is a single instance, and
 * every field is touched only on the GUI thread: host callbacks and tasks
 * both run there, one at a time, so no locking is needed. */
struct minimal {
  gloop_qt_app *app;
  gloop_qt_widget *window;
  gloop_qt_widget *label;
  gloop_qt_widget *button;
  /* The nursery of the main task while it is open, else NULL. The click
   * handler starts its tasks here, so they belong to the run and are
   * cancelled and waited for when the run winds down. */
  gloop_nursery *nursery;
  /* The run's outcome, filled in by the done callback. */
  int run_status;
};

/* A child task, one per click: wait one second, then answer. */
static int answer_later(void *arg)
{
  struct minimal *m = arg;

  /* gloop_sleep() suspends only this task. Other tasks, and the whole Qt
   * event loop, carry on meanwhile. It returns GLOOP_ECANCELED if the run is
   * being cancelled (the window was closed); the task then simply passes that
   * code up, the way a cancellation unwinds in Trio. */
  int rc = gloop_sleep(1.0);
  if (rc < 0)
    return rc;

  /* Tasks run on the GUI thread, so they may touch widgets directly. */
  return gloop_qt_label_set_text(m->label, ANSWER_TEXT);
}

/* The main task of the run: it keeps a nursery open for the click tasks
 * for as long as the application lives. */
static int main_task(void *arg)
{
  struct minimal *m = arg;
  gloop_nursery *nursery;

  int rc = gloop_nursery_open(&nursery);
  if (rc < 0)
    return rc;
  m->nursery = nursery;

  /* Wait here until the run is cancelled, which the Qt shim does when the
   * application quits. The return value is always GLOOP_ECANCELED, so there
   * is nothing to check. */
  gloop_sleep_forever();

  /* Unpublish the nursery before closing it: a click arriving now must not
   * start a task in a nursery that is going away. Closing waits until every
   * child has ended; they were cancelled along with us, so that is quick. */
  m->nursery = NULL;
  return gloop_nursery_close(nursery);
}

/* The button's callback. It runs on the GUI thread in host context (not in a
 * task), so it must not sleep; it only starts a task that will. */
static void on_clicked(void *data)
{
  struct minimal *m = data;

  if (m->nursery == NULL) {
    /* Before the main task's first step, or while the run shuts down. */
    fprintf(stderr, "minimal: the guest run is not accepting work now; click ignored\n");
    return;
  }
  int rc = gloop_nursery_start(m->nursery, answer_later, m, "answer-later", NULL);
  if (rc < 0)
    fprintf(stderr, "minimal: cannot start a task: %s\n", gloop_strerror(rc));
}

/* Called once on the GUI thread after every task of the run has ended. */
static void on_run_done(const gloop_outcome *outcome, void *data)
{
  struct minimal *m = data;

  m->run_status = outcome->status;
  /* Closing the window cancels the run. The click tasks that were still
   * sleeping then return GLOOP_ECANCELED, which the nursery does not count as
   * a failure, so the outcome is normally 0. A GLOOP_ECANCELED outcome would
   * mean the same thing and is not reported either. */
  if (outcome->status < 0 && outcome->status != GLOOP_ECANCELED)
    fprintf(stderr, "minimal: the guest run failed: %s (%s)\n", outcome->message,
            gloop_err_name(outcome->status));
}

/* Builds the window: a QMainWindow whose central widget holds a vertical box
 * with the label above the button, both centred. No title and no size are
 * set, so the window manager shows the program's name and the layout picks
 * the size. */
static int build_window(struct minimal *m)
{
  gloop_qt_layout *box;
  int rc;

  if ((rc = gloop_qt_window_new(&m->window)) < 0)
    return rc;
  if ((rc = gloop_qt_vbox_new(gloop_qt_window_central(m->window), &box)) < 0)
    return rc;
  if ((rc = gloop_qt_label_new(INITIAL_TEXT, &m->label)) < 0)
    return rc;
  /* Adding a widget to a layout makes the layout's widget its parent, so
   * freeing the window later frees the label and the button too. */
  if ((rc = gloop_qt_vbox_add(box, m->label, GLOOP_QT_ALIGN_CENTER)) < 0)
    return rc;
  if ((rc = gloop_qt_button_new(BUTTON_TEXT, &m->button)) < 0)
    return rc;
  if ((rc = gloop_qt_vbox_add(box, m->button, GLOOP_QT_ALIGN_CENTER)) < 0)
    return rc;
  return gloop_qt_button_on_clicked(m->button, on_clicked, m);
}

/* --help is looked for before the application exists, so that it needs no
 * display. Every other argument is left for Qt. */
static int wants_help(int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return 1;
  return 0;
}

int main(int argc, char **argv)
{
  static struct minimal m;
  int rc;

  if (wants_help(argc, argv)) {
    printf("usage: minimal [Qt options]\n"
           "\n"
           "Shows a label and a button; each click starts a task that sleeps for\n"
           "one second and then changes the label. Close the window to quit.\n"
           "\n"
           "  --help  show this help and exit\n");
    return 0;
  }

  /* The application must exist before any widget. Qt keeps argc and argv by
   * reference and removes the options it understands (such as -platform). */
  if ((rc = gloop_qt_app_new(&argc, argv, &m.app)) < 0) {
    fprintf(stderr, "minimal: cannot create the application: %s\n", gloop_strerror(rc));
    return 1;
  }
  /* Qt has now removed the options it knows; anything left is a mistake. */
  if (argc > 1) {
    fprintf(stderr, "minimal: unknown argument '%s' (try --help)\n", argv[1]);
    gloop_qt_app_free(m.app);
    return 2;
  }
  if ((rc = build_window(&m)) < 0) {
    fprintf(stderr, "minimal: cannot build the window: %s\n", gloop_strerror(rc));
    gloop_qt_widget_free(m.window);
    gloop_qt_app_free(m.app);
    return 1;
  }

  /* Start the guest run. This only sets it up and posts its first tick to
   * Qt; the main task takes its first step once the Qt loop runs. */
  rc = gloop_qt_start(main_task, &m, on_run_done, &m, NULL);
  if (rc < 0) {
    fprintf(stderr, "minimal: cannot start the guest run: %s\n", gloop_strerror(rc));
    gloop_qt_widget_free(m.window);
    gloop_qt_app_free(m.app);
    return 1;
  }

  gloop_qt_widget_show(m.window);

  /* Qt's event loop runs the window and, between its own events, the ticks
   * of the guest run. It returns once the window has been closed and the run
   * has ended (on_run_done has been called by then). */
  int exit_code = gloop_qt_app_exec(m.app);

  gloop_qt_widget_free(m.window);
  gloop_qt_app_free(m.app);

  if (m.run_status < 0 && m.run_status != GLOOP_ECANCELED)
    return 1;
  return exit_code;
}
