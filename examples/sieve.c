/* sieve.c - the Sieve of Eratosthenes as an animation: one task per candidate number crosses out its multiples, one step per tick. */

/*
 * What this example shows
 * -----------------------
 * A window with a status line above a 40 x 40 grid of labels numbered 1 to
 * 1600. The animation starts by itself:
 *
 *   - Once per tick (0.1 s by default) a spawner task picks the smallest
 *     number above the previous pick that is not crossed out yet, and starts
 *     a "marker" task for it.
 *   - Each marker task chooses one random colour and walks the multiples of
 *     its number, one per tick. A multiple that nobody has crossed out yet is
 *     crossed out: its label turns bold and takes the marker's colour.
 *   - A status task updates the status line every tick, alternating between
 *     two messages with the clock's whole second, and shows a final message
 *     once every marker has finished.
 *
 * All of these tasks are children of one nursery opened by the main task, so
 * they end together: when the window is closed, the Qt shim cancels the run,
 * every sleeping task wakes with GLOOP_ECANCELED, the nursery waits for them
 * all, and the program exits with status 0.
 *
 * The tasks do not share a clock grid. Each one sleeps one tick relative to
 * its own wake-up, so their phases drift apart and which marker reaches a
 * number first is a race, exactly as in the Python original. The race only
 * decides colours and whether a composite number (say 16) gets a marker of
 * its own; the final picture always has exactly the 1348 composite numbers
 * from 4 to 1600 crossed out, and 1 and the 251 primes untouched.
 *
 * Options (run with --help): --tick, --seed, --quit-when-done, --report.
 * Qt's own options, such as -platform offscreen, are accepted as well.
 */

#include <guestloop/guestloop.h>
#include <guestloop/guestloop-qt.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROWS 40
#define COLS 40
#define NUM (ROWS * COLS)
#define DEFAULT_TICK 0.1
#define MAX_TICK 60.0
#define STATUS_POINT_SIZE 14

/* Colour channels of the markers are drawn uniformly from this range, so
 * every colour is neither too dark nor too light to read. */
#define CHANNEL_MIN 64
#define CHANNEL_MAX 192

/* The status messages, spelled with their exact code points: U+2699 U+FE0F
 * is the gear emoji, U+1F469 U+200D U+1F4BB the woman technologist and
 * U+1F973 the partying face. A u8 literal is always encoded as UTF-8, which
 * is what the Qt shim expects. */
#define TEXT_CALCULATING u8"\u2699\uFE0F ...Calculating prime numbers... \u2699\uFE0F"
#define TEXT_HACKING u8"\U0001F469\u200D\U0001F4BB ...Hacking the universe... \U0001F469\u200D\U0001F4BB"
#define TEXT_DONE                                                                        \
  u8"\U0001F973 Congratulations! You found all the prime numbers and solved mathematics. " \
  u8"\U0001F973"

struct sieve;

/* The argument of one marker task. A base is spawned at most once (the
 * spawner only moves forward), so one slot per possible base suffices and
 * the slots never need freeing. */
struct marker {
  struct sieve *sieve;
  int base;
  uint32_t colour; /* 0xRRGGBB, chosen when the task starts */
};

struct sieve {
  /* Options. */
  double tick;
  uint64_t seed;
  int quit_when_done;
  int report;

  /* Widgets. cells[n] is the label showing n, for n in 1..NUM. */
  gloop_qt_app *app;
  gloop_qt_widget *window;
  gloop_qt_widget *status;
  gloop_qt_widget *cells[NUM + 1];

  /* The algorithm's state. Tasks all run on the GUI thread and only one
   * runs at a time, switching only where they sleep, so plain variables are
   * safe to share between them. */
  unsigned char crossed[NUM + 1]; /* crossed[n] != 0: n has been crossed out */
  int running;                    /* marker tasks started and not yet ended */
  int done;                       /* every marker has ended */
  uint64_t rng;                   /* state of the colour generator */
  struct marker markers[NUM + 1]; /* indexed by base */
  int spawned[NUM];               /* the bases, in spawn order */
  int spawn_count;

  /* For the report: when the run began, and when `done` was set. */
  double started_at;
  double done_at;
  int finished; /* the final text has been shown */
  int run_status;
};

/* ------------------------------------------------------------------------ */
/* Colours                                                                  */
/* ------------------------------------------------------------------------ */

/* A small pseudo-random generator (SplitMix64). It has its own state instead
 * of using rand(), so --seed reproduces the colours on every platform. */
static uint64_t next_random(uint64_t *state)
{
  uint64_t z = (*state += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

/* A uniform integer in lo..hi inclusive. Draws that fall in the incomplete
 * last block of the 64-bit range are thrown away, so no value is favoured. */
static unsigned random_between(uint64_t *state, unsigned lo, unsigned hi)
{
  uint64_t span = (uint64_t)hi - lo + 1;
  uint64_t limit = UINT64_MAX - UINT64_MAX % span;
  uint64_t r;
  do
    r = next_random(state);
  while (r >= limit);
  return lo + (unsigned)(r % span);
}

static uint32_t random_colour(struct sieve *s)
{
  uint32_t r = random_between(&s->rng, CHANNEL_MIN, CHANNEL_MAX);
  uint32_t g = random_between(&s->rng, CHANNEL_MIN, CHANNEL_MAX);
  uint32_t b = random_between(&s->rng, CHANNEL_MIN, CHANNEL_MAX);
  return r << 16 | g << 8 | b;
}

/* ------------------------------------------------------------------------ */
/* Tasks                                                                    */
/* ------------------------------------------------------------------------ */

/* A marker task: crosses out the multiples of its base, one per tick. */
static int mark_multiples(void *arg)
{
  struct marker *m = arg;
  struct sieve *s = m->sieve;
  int rc = 0;

  /* One colour for the whole life of the task. The tasks start in spawn
   * order, so with --seed the n-th marker always gets the same colour. */
  m->colour = random_colour(s);

  for (int n = 2 * m->base; n <= NUM; n += m->base) {
    /* Another marker may have got here first; then this one leaves the cell
     * alone, so a crossed-out cell never changes colour again. */
    if (!s->crossed[n]) {
      s->crossed[n] = 1;
      if ((rc = gloop_qt_label_set_bold(s->cells[n], 1)) < 0)
        break;
      if ((rc = gloop_qt_label_set_color(s->cells[n], m->colour)) < 0)
        break;
    }
    /* One tick per multiple, whether it was crossed out here or not. */
    if ((rc = gloop_sleep(s->tick)) < 0)
      break;
  }

  /* Every way out of the loop comes through here, also cancellation, so the
   * count of running markers stays right. */
  s->running--;
  return rc;
}

/* The status task: a message that flips with the clock's whole second while
 * the markers work, then the final message. */
static int show_status(void *arg)
{
  struct sieve *s = arg;
  int rc;

  while (!s->done) {
    if ((rc = gloop_sleep(s->tick)) < 0)
      return rc;
    /* The status flips when the run's clock passes a whole second (looking
     * one tick ahead, as the original does). The clock's origin is arbitrary,
     * so the phase of the alternation differs from run to run. */
    long long second = (long long)floor(gloop_now() + s->tick);
    const char *text = second % 2 != 0 ? TEXT_CALCULATING : TEXT_HACKING;
    if ((rc = gloop_qt_label_set_text(s->status, text)) < 0)
      return rc;
  }
  if ((rc = gloop_qt_label_set_text(s->status, TEXT_DONE)) < 0)
    return rc;
  s->finished = 1;
  return 0;
}

/* Starts one marker task per tick, for the next number not crossed out. */
static int spawn_markers(struct sieve *s, gloop_nursery *nursery)
{
  int base = 1;
  int rc;

  /* The original compares the zero-based index of the last base, base - 1,
   * with NUM / 2, and only then searches for the next one. So the last base
   * started is the first survivor above 801, which is 809: a marker with no
   * multiples left to visit, that ends at once. */
  while (base - 1 <= NUM / 2) {
    if ((rc = gloop_sleep(s->tick)) < 0)
      return rc;

    /* The smallest number above the previous base not crossed out *now*.
     * Primes are never crossed out, so none is skipped. A composite whose
     * markers have not reached it yet gets a marker of its own. */
    int next = base + 1;
    while (next <= NUM && s->crossed[next])
      next++;
    if (next > NUM)
      break;
    base = next;

    struct marker *m = &s->markers[base];
    m->sieve = s;
    m->base = base;
    char name[32];
    snprintf(name, sizeof name, "mark-%d", base);
    /* Count the marker as running from the moment it is started, not from
     * its first step: the wait below must never see a started marker as
     * finished. */
    s->running++;
    rc = gloop_nursery_start(nursery, mark_multiples, m, name, NULL);
    if (rc < 0) {
      s->running--;
      return rc;
    }
    s->spawned[s->spawn_count++] = base;
  }
  return 0;
}

/* The main task of the run. */
static int sieve_main(void *arg)
{
  struct sieve *s = arg;
  gloop_nursery *nursery;
  int rc;

  s->started_at = gloop_now();
  if ((rc = gloop_nursery_open(&nursery)) < 0)
    return rc;

  rc = gloop_nursery_start(nursery, show_status, s, "status", NULL);
  if (rc == 0)
    rc = spawn_markers(s, nursery);
  /* Wait, one tick at a time, until the last marker has ended. That is the
   * marker for 2, whose 799 multiples take about 80 s at the default tick,
   * long after the last cell turned bold. */
  while (rc == 0 && s->running > 0)
    rc = gloop_sleep(s->tick);
  if (rc == 0) {
    s->done = 1;
    s->done_at = gloop_now();
  } else {
    /* Cancelled or failed: stop the siblings too, so the close below does
     * not wait for the animation to run its course. */
    gloop_nursery_cancel(nursery);
  }

  /* Closing waits for the children; here that is only the status task,
   * which shows the final text within one tick. */
  int close_rc = gloop_nursery_close(nursery);
  return rc < 0 ? rc : close_rc;
}

/* Called once on the GUI thread after every task of the run has ended. */
static void on_run_done(const gloop_outcome *outcome, void *data)
{
  struct sieve *s = data;

  s->run_status = outcome->status;
  /* GLOOP_ECANCELED means the window was closed mid-animation: sieve_main
   * passes the cancellation of its sleep up. That is the normal way out. */
  if (outcome->status < 0 && outcome->status != GLOOP_ECANCELED)
    fprintf(stderr, "sieve: the guest run failed: %s (%s)\n", outcome->message,
            gloop_err_name(outcome->status));
  /* Like the original, the window otherwise stays open after the animation,
   * until the user closes it. */
  if (s->quit_when_done)
    gloop_qt_app_quit(s->app);
}

/* ------------------------------------------------------------------------ */
/* Window                                                                   */
/* ------------------------------------------------------------------------ */

/* A QMainWindow whose central widget holds a vertical box: the status label
 * (14 pt, empty at first) above a container with a grid of ROWS x COLS
 * labels, each centred in its cell. No title and no size are set. */
static int build_window(struct sieve *s)
{
  gloop_qt_layout *box, *grid;
  gloop_qt_widget *container;
  int rc;

  if ((rc = gloop_qt_window_new(&s->window)) < 0)
    return rc;
  if ((rc = gloop_qt_vbox_new(gloop_qt_window_central(s->window), &box)) < 0)
    return rc;

  if ((rc = gloop_qt_label_new("", &s->status)) < 0)
    return rc;
  if ((rc = gloop_qt_label_set_point_size(s->status, STATUS_POINT_SIZE)) < 0)
    return rc;
  if ((rc = gloop_qt_vbox_add(box, s->status, GLOOP_QT_ALIGN_CENTER)) < 0)
    return rc;

  if ((rc = gloop_qt_container_new(NULL, &container)) < 0)
    return rc;
  if ((rc = gloop_qt_grid_new(container, &grid)) < 0)
    return rc;
  for (int row = 0; row < ROWS; row++) {
    for (int col = 0; col < COLS; col++) {
      int n = row * COLS + col + 1;
      char text[16];
      snprintf(text, sizeof text, "%d", n);
      if ((rc = gloop_qt_label_new(text, &s->cells[n])) < 0)
        return rc;
      if ((rc = gloop_qt_grid_add(grid, s->cells[n], row, col, GLOOP_QT_ALIGN_CENTER)) < 0)
        return rc;
    }
  }
  return gloop_qt_vbox_add(box, container, GLOOP_QT_ALIGN_CENTER);
}

/* ------------------------------------------------------------------------ */
/* Report                                                                   */
/* ------------------------------------------------------------------------ */

/* Prints the final state as read back from the widgets, one fact per line,
 * for scripts and tests:
 *   outcome NAME, seed N, tick T, finished 0|1, done-after SECONDS,
 *   status TEXT, marker BASE RRGGBB (in spawn order),
 *   cell N bold|plain RRGGBB TEXT (for every cell), bold-count N,
 *   plain-count N, end. */
static int print_report(struct sieve *s)
{
  char text[512];
  int bold_count = 0;

  printf("outcome %s\n", s->run_status == 0 ? "OK" : gloop_err_name(s->run_status));
  printf("seed %llu\n", (unsigned long long)s->seed);
  printf("tick %.17g\n", s->tick);
  printf("finished %d\n", s->finished);
  printf("done-after %.6f\n", s->done ? s->done_at - s->started_at : -1.0);
  if (gloop_qt_label_text(s->status, text, sizeof text) < 0)
    return -1;
  printf("status %s\n", text);
  for (int i = 0; i < s->spawn_count; i++) {
    const struct marker *m = &s->markers[s->spawned[i]];
    printf("marker %d %06lx\n", m->base, (unsigned long)m->colour);
  }
  for (int n = 1; n <= NUM; n++) {
    int bold = gloop_qt_label_bold(s->cells[n]);
    long colour = gloop_qt_label_color(s->cells[n]);
    if (bold < 0 || colour < 0 || gloop_qt_label_text(s->cells[n], text, sizeof text) < 0)
      return -1;
    bold_count += bold != 0;
    printf("cell %d %s %06lx %s\n", n, bold ? "bold" : "plain", colour, text);
  }
  printf("bold-count %d\n", bold_count);
  printf("plain-count %d\n", NUM - bold_count);
  printf("end\n");
  return fflush(stdout) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                             */
/* ------------------------------------------------------------------------ */

static void print_usage(FILE *to)
{
  fprintf(to,
          "usage: sieve [--tick SECONDS] [--seed N] [--quit-when-done] [--report] [Qt options]\n"
          "\n"
          "Animates the Sieve of Eratosthenes on the numbers 1 to %d.\n"
          "\n"
          "  --tick SECONDS    time per animation step, > 0 and <= %g (default %g)\n"
          "  --seed N          seed for the marker colours, 0 to 2^64-1 (default: random)\n"
          "  --quit-when-done  exit with status 0 once the final message is shown\n"
          "  --report          at exit, print the final state of the grid to stdout\n"
          "  --help            show this help and exit\n",
          NUM, MAX_TICK, DEFAULT_TICK);
}

static int parse_tick(const char *text, double *out)
{
  char *end;
  errno = 0;
  double v = strtod(text, &end);
  if (end == text || *end != '\0' || errno != 0 || !(v > 0.0 && v <= MAX_TICK))
    return -1;
  *out = v;
  return 0;
}

static int parse_seed(const char *text, uint64_t *out)
{
  char *end;
  /* strtoull() would quietly turn "-1" into the largest value. */
  if (text[0] < '0' || text[0] > '9')
    return -1;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (*end != '\0' || errno != 0)
    return -1;
  *out = (uint64_t)v;
  return 0;
}

/* Returns the value of option `name` if argv[*i] is that option, given as
 * "--name VALUE" or "--name=VALUE", and moves *i past it. Sets *missing when
 * the option is there but its value is not. */
static const char *option_value(int argc, char **argv, int *i, const char *name, int *missing)
{
  size_t len = strlen(name);
  const char *arg = argv[*i];
  if (strncmp(arg, name, len) != 0)
    return NULL;
  if (arg[len] == '=')
    return arg + len + 1;
  if (arg[len] != '\0')
    return NULL;
  if (*i + 1 >= argc) {
    *missing = 1;
    return NULL;
  }
  return argv[++*i];
}

/* Parses and removes this program's options from argv, leaving the rest
 * (Qt's options) in place. Returns -1 after --help, 0 to go on, or 2 after
 * printing why an option is wrong. */
static int parse_options(int *argc, char **argv, struct sieve *s)
{
  int kept = 1;
  int have_seed = 0;

  for (int i = 1; i < *argc; i++) {
    const char *value;
    int missing = 0;

    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      print_usage(stdout);
      return -1;
    } else if (strcmp(argv[i], "--quit-when-done") == 0) {
      s->quit_when_done = 1;
    } else if (strcmp(argv[i], "--report") == 0) {
      s->report = 1;
    } else if ((value = option_value(*argc, argv, &i, "--tick", &missing)) != NULL || missing) {
      if (missing || parse_tick(value, &s->tick) < 0) {
        fprintf(stderr, "sieve: --tick needs a number of seconds > 0 and <= %g, got '%s'\n",
                MAX_TICK, missing ? "" : value);
        return 2;
      }
    } else if ((value = option_value(*argc, argv, &i, "--seed", &missing)) != NULL || missing) {
      if (missing || parse_seed(value, &s->seed) < 0) {
        fprintf(stderr, "sieve: --seed needs a whole number from 0 to %llu, got '%s'\n",
                (unsigned long long)UINT64_MAX, missing ? "" : value);
        return 2;
      }
      have_seed = 1;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argv[kept] = NULL;
  *argc = kept;

  if (!have_seed) {
    /* No seed given: take one from the wall clock, so each run differs. */
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) == 0) {
      ts.tv_sec = time(NULL);
      ts.tv_nsec = 0;
    }
    s->seed = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
  }
  s->rng = s->seed;
  return 0;
}

int main(int argc, char **argv)
{
  /* Static: the state holds a few thousand widget pointers and markers. */
  static struct sieve s = {.tick = DEFAULT_TICK};
  int rc;

  /* Our options first, so that --help and bad values need no display. */
  if ((rc = parse_options(&argc, argv, &s)) != 0)
    return rc < 0 ? 0 : rc;

  if ((rc = gloop_qt_app_new(&argc, argv, &s.app)) < 0) {
    fprintf(stderr, "sieve: cannot create the application: %s\n", gloop_strerror(rc));
    return 1;
  }
  /* Qt has now removed the options it knows; anything left is a mistake. */
  if (argc > 1) {
    fprintf(stderr, "sieve: unknown argument '%s' (try --help)\n", argv[1]);
    gloop_qt_app_free(s.app);
    return 2;
  }

  if ((rc = build_window(&s)) < 0) {
    fprintf(stderr, "sieve: cannot build the window: %s\n", gloop_strerror(rc));
    gloop_qt_widget_free(s.window);
    gloop_qt_app_free(s.app);
    return 1;
  }

  /* The run starts with the event loop: gloop_qt_start() posts the first
   * tick, and sieve_main takes its first step as soon as Qt runs. */
  gloop_options opts;
  gloop_options_init(&opts);
  opts.main_name = "sieve";
  rc = gloop_qt_start(sieve_main, &s, on_run_done, &s, &opts);
  if (rc < 0) {
    fprintf(stderr, "sieve: cannot start the guest run: %s\n", gloop_strerror(rc));
    gloop_qt_widget_free(s.window);
    gloop_qt_app_free(s.app);
    return 1;
  }

  gloop_qt_widget_show(s.window);
  int exit_code = gloop_qt_app_exec(s.app);

  if (s.report && print_report(&s) < 0) {
    fprintf(stderr, "sieve: cannot write the report\n");
    exit_code = 1;
  }
  gloop_qt_widget_free(s.window);
  gloop_qt_app_free(s.app);

  if (s.run_status < 0 && s.run_status != GLOOP_ECANCELED)
    return 1;
  return exit_code;
}
