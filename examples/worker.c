/* worker.c - a CPU-bound job on a worker thread with a progress bar, a Cancel button that reaches it within one chunk, and a result box. */

/*
 * What this example shows
 * -----------------------
 * A window with a progress bar, a result label and two buttons, Start and
 * Cancel. Start counts the primes below N (by trial division, on purpose
 * slow) on a worker thread, so the window stays responsive. The count runs in
 * CHUNKS pieces; after each piece the task moves the bar. Cancel stops the
 * job within the piece it is in: the worker asks gloop_thread_check_cancelled()
 * every few thousand numbers and returns early once the task's cancel scope
 * has been cancelled. A message box reports the result. Closing the window
 * mid-job cancels the whole run, which reaches the worker the same way, so
 * the program exits at once instead of finishing the count.
 *
 * The pieces of the library it uses:
 *
 *   - one long-lived guest run whose main task keeps a nursery open for the
 *     jobs, as in minimal.c;
 *   - gloop_to_thread() to run each chunk on a worker of the run's pool, and
 *     gloop_thread_check_cancelled() inside the chunk;
 *   - a cancel scope around the job, handed to the Cancel button as a
 *     gloop_scope_ref: a small value that stays safe to use after the scope
 *     has closed (the call then returns GLOOP_ENOTFOUND instead of touching
 *     freed memory), so the button never needs to know whether the job is
 *     still running;
 *   - gloop_qt_message_box(), which opens the box without a nested event loop
 *     and lets the task wait for it.
 */

#include <guestloop/guestloop.h>
#include <guestloop/guestloop-qt.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIMIT 20000000UL
#define MIN_LIMIT 100UL
#define MAX_LIMIT 4000000000UL
/* The job runs in this many pieces; the bar counts them. */
#define CHUNKS 100
/* The worker asks whether it should stop after this many numbers. The call
 * is one atomic load, so this is about keeping the inner loop simple, not
 * about its cost. */
#define CHECK_EVERY 4096UL

#define IDLE_TEXT "Press Start to count the primes."

/* Everything the callbacks and tasks share. Every field is touched only on
 * the GUI thread (host callbacks and tasks both run there), except that a
 * worker reads `limit` indirectly through its struct chunk. */
struct worker {
  gloop_qt_app *app;
  gloop_qt_widget *window;
  gloop_qt_widget *bar;
  gloop_qt_widget *label;
  gloop_qt_widget *start;
  gloop_qt_widget *cancel;
  /* The main task's nursery while it is open, else NULL (see minimal.c). */
  gloop_nursery *nursery;
  /* The cancel scope of the running job, for the Cancel button. The null
   * ref ({0}) when no job runs; once the job's scope closes, cancelling
   * through a stale copy returns GLOOP_ENOTFOUND, never a crash. */
  gloop_scope_ref job;
  /* 1 from the Start click until the job task has finished, so that a second
   * click cannot start a second job before the first task's first step. */
  int busy;
  unsigned long limit;
  /* --start: begin a count as soon as the run is up (for scripts and the
   * screenshot). */
  int start_now;
  int run_status;
};

/* One piece of the count: the numbers lo <= n < hi. It lives on the job
 * task's stack while a worker runs it; the worker writes only `primes` and
 * `stopped`, and the task reads them after gloop_to_thread() returns. */
struct chunk {
  unsigned long lo, hi;
  unsigned long primes;
  int stopped;
};

static int is_prime(unsigned long n)
{
  if (n < 2)
    return 0;
  if (n % 2 == 0)
    return n == 2;
  for (unsigned long d = 3; d <= n / d; d += 2)
    if (n % d == 0)
      return 0;
  return 1;
}

/* Runs on a worker thread: counts one chunk, stopping early once the task
 * waiting for it has been cancelled. It must not touch any widget. */
static void *count_chunk(void *arg)
{
  struct chunk *c = arg;

  for (unsigned long n = c->lo; n < c->hi; n++) {
    if ((n - c->lo) % CHECK_EVERY == 0 && gloop_thread_check_cancelled() < 0) {
      c->stopped = 1;
      break;
    }
    c->primes += (unsigned long)is_prime(n);
  }
  return c;
}

static void set_idle_buttons(struct worker *w, int idle)
{
  gloop_qt_widget_set_enabled(w->start, idle);
  gloop_qt_widget_set_enabled(w->cancel, !idle);
}

/* Counts the primes below w->limit in CHUNKS pieces inside a cancel scope
 * that the Cancel button can reach. Returns GLOOP_ECANCELED when the run
 * itself is cancelled (the window closed): then it only unwinds. */
static int count_primes(struct worker *w, unsigned long *primes, int *done_chunks, int *cancelled)
{
  gloop_scope *scope;
  int rc = gloop_scope_open(INFINITY, 0, &scope);
  if (rc < 0)
    return rc;
  /* Publish the scope for the Cancel button as a ref, not as the pointer:
   * the pointer dies when the scope closes below, the ref does not. */
  rc = gloop_scope_get_ref(scope, &w->job);
  if (rc == 0)
    gloop_qt_widget_set_enabled(w->cancel, 1);

  *primes = 0;
  *done_chunks = 0;
  for (int i = 0; rc == 0 && i < CHUNKS; i++) {
    struct chunk c = {0};
    c.lo = w->limit / CHUNKS * (unsigned long)i;
    c.hi = i == CHUNKS - 1 ? w->limit : w->limit / CHUNKS * (unsigned long)(i + 1);
    /* Without GLOOP_THREAD_ABANDON_ON_CANCEL the task waits for the chunk
     * even when cancelled; the chunk notices and returns within
     * CHECK_EVERY numbers, so the wait is short and nothing is left running. */
    rc = gloop_to_thread(count_chunk, &c, 0, NULL);
    if (rc == 0) {
      *primes += c.primes;
      *done_chunks = i + 1;
      gloop_qt_progress_set_value(w->bar, i + 1);
    }
  }

  *cancelled = gloop_scope_cancelled_caught(scope);
  w->job = (gloop_scope_ref){0};
  int close_rc = gloop_scope_close(scope);
  /* Our own scope's cancellation (the button) is caught here; one from
   * outside (the run ending) passes on as GLOOP_ECANCELED. */
  if (rc == GLOOP_ECANCELED && *cancelled)
    rc = 0;
  return rc < 0 ? rc : close_rc;
}

/* A job task, one per Start click. */
static int job_task(void *arg)
{
  struct worker *w = arg;
  char text[160];
  unsigned long primes;
  int done_chunks, cancelled;

  gloop_qt_progress_set_value(w->bar, 0);
  snprintf(text, sizeof text, "Counting the primes below %lu...", w->limit);
  gloop_qt_label_set_text(w->label, text);

  int rc = count_primes(w, &primes, &done_chunks, &cancelled);
  if (rc < 0) {
    /* The run is being cancelled: leave the widgets alone and unwind. */
    w->busy = 0;
    return rc;
  }
  gloop_qt_widget_set_enabled(w->cancel, 0);

  if (cancelled) {
    snprintf(text, sizeof text, "Cancelled after %d%%.", done_chunks * 100 / CHUNKS);
    gloop_qt_label_set_text(w->label, text);
  } else {
    snprintf(text, sizeof text, "There are %lu primes below %lu.", primes, w->limit);
    gloop_qt_label_set_text(w->label, text);
    /* The box opens without a nested event loop: other tasks and the window
     * keep running while this task waits for OK. */
    int button;
    rc = gloop_qt_message_box(w->window, "Primes counted", text, GLOOP_QT_BUTTON_OK, &button);
  }
  set_idle_buttons(w, 1);
  w->busy = 0;
  return rc == GLOOP_ECANCELED ? rc : 0;
}

static void on_start(void *data);

/* The main task: keeps a nursery open for the jobs until the run is
 * cancelled (the window closed). */
static int main_task(void *arg)
{
  struct worker *w = arg;
  gloop_nursery *nursery;

  int rc = gloop_nursery_open(&nursery);
  if (rc < 0)
    return rc;
  w->nursery = nursery;
  /* A task may start children in its own nursery, so --start simply
   * presses Start from here. */
  if (w->start_now)
    on_start(w);
  gloop_sleep_forever();
  /* Closing the nursery cancels a running job; its chunk returns within
   * CHECK_EVERY numbers, so closing the window mid-job exits at once. */
  w->nursery = NULL;
  return gloop_nursery_close(nursery);
}

/* Start: host context, so it only starts the job task. */
static void on_start(void *data)
{
  struct worker *w = data;

  if (w->busy)
    return;
  if (w->nursery == NULL) {
    fprintf(stderr, "worker: the guest run is not accepting work now; click ignored\n");
    return;
  }
  int rc = gloop_nursery_start(w->nursery, job_task, w, "prime-count", NULL);
  if (rc < 0) {
    fprintf(stderr, "worker: cannot start the job: %s\n", gloop_strerror(rc));
    return;
  }
  w->busy = 1;
  set_idle_buttons(w, 0);
  /* Cancel is enabled by the job once its scope exists. */
  gloop_qt_widget_set_enabled(w->cancel, 0);
}

/* Cancel: host context. The ref is either null (no job), names the running
 * job's scope, or (a click racing the job's end) names a closed scope, which
 * the library reports as GLOOP_ENOTFOUND. None of these is an error here. */
static void on_cancel(void *data)
{
  struct worker *w = data;
  int rc = gloop_scope_ref_cancel(w->job);
  if (rc < 0 && rc != GLOOP_EINVAL && rc != GLOOP_ENOTFOUND)
    fprintf(stderr, "worker: cannot cancel the job: %s\n", gloop_strerror(rc));
}

static void on_run_done(const gloop_outcome *outcome, void *data)
{
  struct worker *w = data;

  w->run_status = outcome->status;
  if (outcome->status < 0 && outcome->status != GLOOP_ECANCELED)
    fprintf(stderr, "worker: the guest run failed: %s (%s)\n", outcome->message,
            gloop_err_name(outcome->status));
}

/* The window: bar, label, then Start and Cancel side by side. The widgets
 * carry object names so that tests and scripts can find them. */
static int build_window(struct worker *w)
{
  gloop_qt_layout *box, *row;
  gloop_qt_widget *buttons;
  int rc;

  if ((rc = gloop_qt_window_new(&w->window)) < 0)
    return rc;
  if ((rc = gloop_qt_widget_set_title(w->window, "Prime counter")) < 0)
    return rc;
  if ((rc = gloop_qt_vbox_new(gloop_qt_window_central(w->window), &box)) < 0)
    return rc;
  if ((rc = gloop_qt_progress_new(0, CHUNKS, &w->bar)) < 0 ||
      (rc = gloop_qt_widget_set_name(w->bar, "progress")) < 0 ||
      (rc = gloop_qt_vbox_add(box, w->bar, GLOOP_QT_ALIGN_DEFAULT)) < 0)
    return rc;
  if ((rc = gloop_qt_label_new(IDLE_TEXT, &w->label)) < 0 ||
      (rc = gloop_qt_widget_set_name(w->label, "result")) < 0 ||
      (rc = gloop_qt_vbox_add(box, w->label, GLOOP_QT_ALIGN_CENTER)) < 0)
    return rc;
  if ((rc = gloop_qt_container_new(NULL, &buttons)) < 0 ||
      (rc = gloop_qt_grid_new(buttons, &row)) < 0 ||
      (rc = gloop_qt_vbox_add(box, buttons, GLOOP_QT_ALIGN_DEFAULT)) < 0)
    return rc;
  if ((rc = gloop_qt_button_new("Start", &w->start)) < 0 ||
      (rc = gloop_qt_widget_set_name(w->start, "start")) < 0 ||
      (rc = gloop_qt_grid_add(row, w->start, 0, 0, GLOOP_QT_ALIGN_DEFAULT)) < 0 ||
      (rc = gloop_qt_button_on_clicked(w->start, on_start, w)) < 0)
    return rc;
  if ((rc = gloop_qt_button_new("Cancel", &w->cancel)) < 0 ||
      (rc = gloop_qt_widget_set_name(w->cancel, "cancel")) < 0 ||
      (rc = gloop_qt_grid_add(row, w->cancel, 0, 1, GLOOP_QT_ALIGN_DEFAULT)) < 0 ||
      (rc = gloop_qt_button_on_clicked(w->cancel, on_cancel, w)) < 0)
    return rc;
  set_idle_buttons(w, 1);
  return gloop_qt_widget_resize(w->window, 420, 160);
}

static void usage(void)
{
  printf("usage: worker [--limit N] [--start] [Qt options]\n"
         "\n"
         "Counts the primes below N on a worker thread in %d chunks, with a\n"
         "progress bar; Cancel stops the count within one chunk, and a message\n"
         "box reports the result. Close the window to quit, also mid-count.\n"
         "\n"
         "  --limit N  count the primes below N (%lu to %lu; default %lu)\n"
         "  --start    start counting at once, as if Start were pressed\n"
         "  --help     show this help and exit\n",
         CHUNKS, MIN_LIMIT, MAX_LIMIT, DEFAULT_LIMIT);
}

/* Parses the arguments that are ours (before the application exists, so
 * that --help needs no display) and removes them from argv; Qt's are left.
 * Returns -1 to go on, else the exit status. */
static int parse_args(int *argc, char **argv, struct worker *w)
{
  int out = 1;

  w->limit = DEFAULT_LIMIT;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage();
      return 0;
    }
    if (strcmp(argv[i], "--start") == 0) {
      w->start_now = 1;
      continue;
    }
    if (strcmp(argv[i], "--limit") == 0) {
      char *end;
      if (i + 1 >= *argc) {
        fprintf(stderr, "worker: --limit needs a number (try --help)\n");
        return 2;
      }
      const char *text = argv[++i];
      errno = 0;
      unsigned long long n = strtoull(text, &end, 10);
      if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || n < MIN_LIMIT ||
          n > MAX_LIMIT) {
        fprintf(stderr, "worker: --limit wants a whole number from %lu to %lu, not '%s' (try --help)\n",
                MIN_LIMIT, MAX_LIMIT, text);
        return 2;
      }
      w->limit = (unsigned long)n;
      continue;
    }
    argv[out++] = argv[i];
  }
  *argc = out;
  argv[out] = NULL;
  return -1;
}

int main(int argc, char **argv)
{
  static struct worker w;
  int rc;

  memset(&w, 0, sizeof w);
  if ((rc = parse_args(&argc, argv, &w)) >= 0)
    return rc;

  if ((rc = gloop_qt_app_new(&argc, argv, &w.app)) < 0) {
    fprintf(stderr, "worker: cannot create the application: %s\n", gloop_strerror(rc));
    return 1;
  }
  if (argc > 1) {
    fprintf(stderr, "worker: unknown argument '%s' (try --help)\n", argv[1]);
    gloop_qt_app_free(w.app);
    return 2;
  }
  if ((rc = build_window(&w)) < 0) {
    fprintf(stderr, "worker: cannot build the window: %s\n", gloop_strerror(rc));
    gloop_qt_widget_free(w.window);
    gloop_qt_app_free(w.app);
    return 1;
  }
  if ((rc = gloop_qt_start(main_task, &w, on_run_done, &w, NULL)) < 0) {
    fprintf(stderr, "worker: cannot start the guest run: %s\n", gloop_strerror(rc));
    gloop_qt_widget_free(w.window);
    gloop_qt_app_free(w.app);
    return 1;
  }
  gloop_qt_widget_show(w.window);

  int exit_code = gloop_qt_app_exec(w.app);

  gloop_qt_widget_free(w.window);
  gloop_qt_app_free(w.app);
  if (w.run_status < 0 && w.run_status != GLOOP_ECANCELED)
    return 1;
  return exit_code;
}
