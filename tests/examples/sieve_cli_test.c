/* sieve_cli_test.c - runs the sieve program as a user would: --help, rejected option values, and a short animation whose --report is checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness/harness.h"

#define NUM 1600
#define COMPOSITES 1348 /* 1600 cells less 1 and the 251 primes */
#define LAST_BASE 809   /* the first number above 801 never crossed out */

#define TEXT_DONE                                                                        \
  u8"\U0001F973 Congratulations! You found all the prime numbers and solved mathematics. " \
  u8"\U0001F973"

/* Checks go on after a failure, so that one run reports all that is wrong. */
#define CHECK(cond, ...) TEST_EXPECT_(cond, __VA_ARGS__)

/* What one run printed, and how it ended: the exit code, or -1 if it did
 * not exit normally (killed by a signal). */
struct output {
  char *text;
  size_t len;
  int exit_code;
};

/* Runs `binary args` through the shell and collects its stdout (and stderr
 * too, with merge_stderr). The binary's path is single-quoted; the test
 * never passes a path containing a quote. */
static int run(const char *binary, const char *args, int merge_stderr, struct output *out)
{
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' %s%s", binary, args, merge_stderr ? " 2>&1" : "");
  FILE *p = popen(cmd, "r");
  if (p == NULL) {
    TEST_EXPECT_FAIL("cannot run %s", cmd);
    return -1;
  }
  size_t cap = 1 << 16;
  out->text = malloc(cap);
  out->len = 0;
  size_t n;
  while (out->text != NULL && (n = fread(out->text + out->len, 1, cap - out->len - 1, p)) > 0) {
    out->len += n;
    if (cap - out->len < 4096) {
      char *bigger = realloc(out->text, cap * 2);
      if (bigger == NULL) {
        free(out->text);
        out->text = NULL;
        break;
      }
      out->text = bigger;
      cap *= 2;
    }
  }
  int status = pclose(p);
  if (out->text == NULL) {
    TEST_EXPECT_FAIL("out of memory reading the output of %s", cmd);
    return -1;
  }
  out->text[out->len] = '\0';
  out->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return 0;
}

static void check_help(const char *binary)
{
  struct output out;
  if (run(binary, "--help", 0, &out) < 0)
    return;
  CHECK(out.exit_code == 0, "--help exited with %d", out.exit_code);
  CHECK(strstr(out.text, "usage:") != NULL, "--help printed no usage line:\n%s", out.text);
  const char *options[] = {"--tick", "--seed", "--quit-when-done", "--report", "--help"};
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
    CHECK(strstr(out.text, options[i]) != NULL, "--help does not mention %s", options[i]);
  free(out.text);
}

/* Every one of these must be refused with exit status 2 and a message that
 * names the program, before any animation starts. */
static void check_bad_options(const char *binary)
{
  static const char *const cases[] = {
      "--tick abc",       "--tick 0",          "--tick -1",
      "--tick nan",       "--tick inf",        "--tick 61",
      "--tick 0.1s",      "--tick=",           "--tick",
      "--seed -1",        "--seed 12x",        "--seed 99999999999999999999999",
      "--seed",           "--seed=",           "--bogus",
      "stray-argument",   "--quit-when-done --tick 1e-400",
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct output out;
    if (run(binary, cases[i], 1, &out) < 0)
      continue;
    CHECK(out.exit_code == 2, "'%s' exited with %d", cases[i], out.exit_code);
    CHECK(strstr(out.text, "sieve: ") != NULL, "'%s' gave no message: '%s'", cases[i], out.text);
    printf("refused '%s': %s", cases[i], out.text);
    free(out.text);
  }
}

struct report {
  int outcome_ok;
  unsigned long long seed;
  double tick;
  int finished;
  double done_after;
  int status_done;
  int marker_count;
  int marker_base[NUM + 1];
  unsigned marker_colour[NUM + 1];
  int cell_seen[NUM + 1];
  int cell_bold[NUM + 1];
  unsigned cell_colour[NUM + 1];
  int cell_text_ok[NUM + 1];
  int bold_count;
  int plain_count;
  int end;
};

static int parse_report(char *text, struct report *r)
{
  memset(r, 0, sizeof *r);
  r->bold_count = r->plain_count = -1;
  for (char *line = text; line != NULL && *line != '\0';) {
    char *next = strchr(line, '\n');
    if (next != NULL)
      *next++ = '\0';
    int n, base;
    unsigned colour;
    char kind[8], cell_text[32];
    if (strncmp(line, "outcome ", 8) == 0) {
      r->outcome_ok = strcmp(line + 8, "OK") == 0;
    } else if (sscanf(line, "seed %llu", &r->seed) == 1) {
    } else if (sscanf(line, "tick %lf", &r->tick) == 1) {
    } else if (sscanf(line, "finished %d", &r->finished) == 1) {
    } else if (sscanf(line, "done-after %lf", &r->done_after) == 1) {
    } else if (strncmp(line, "status ", 7) == 0) {
      r->status_done = strcmp(line + 7, TEXT_DONE) == 0;
    } else if (sscanf(line, "marker %d %x", &base, &colour) == 2) {
      if (r->marker_count >= NUM)
        return -1;
      r->marker_base[r->marker_count] = base;
      r->marker_colour[r->marker_count++] = colour;
    } else if (sscanf(line, "cell %d %7s %x %31s", &n, kind, &colour, cell_text) == 4) {
      if (n < 1 || n > NUM || r->cell_seen[n])
        return -1;
      r->cell_seen[n] = 1;
      r->cell_bold[n] = strcmp(kind, "bold") == 0;
      r->cell_colour[n] = colour;
      r->cell_text_ok[n] = atoi(cell_text) == n && strspn(cell_text, "0123456789") == strlen(cell_text);
    } else if (sscanf(line, "bold-count %d", &r->bold_count) == 1) {
    } else if (sscanf(line, "plain-count %d", &r->plain_count) == 1) {
    } else if (strcmp(line, "end") == 0) {
      r->end = 1;
    } else {
      printf("unexpected report line: '%s'\n", line);
      return -1;
    }
    line = next;
  }
  return 0;
}

static int channel_ok(unsigned v)
{
  return v >= 64 && v <= 192;
}

static int colour_ok(unsigned rgb)
{
  return channel_ok(rgb >> 16 & 0xff) && channel_ok(rgb >> 8 & 0xff) && channel_ok(rgb & 0xff);
}

/* Runs one short animation with --quit-when-done --report and checks the
 * report against the rules of the sieve. Fills *r for later comparison. */
static int check_run(const char *binary, double tick, unsigned long long seed, struct report *r)
{
  char args[128];
  snprintf(args, sizeof args, "--tick %g --seed %llu --quit-when-done --report", tick, seed);
  struct output out;
  if (run(binary, args, 0, &out) < 0)
    return -1;
  CHECK(out.exit_code == 0, "'%s' exited with %d", args, out.exit_code);
  int parsed = parse_report(out.text, r);
  free(out.text);
  CHECK(parsed == 0, "the report of '%s' could not be parsed", args);
  if (parsed != 0)
    return -1;

  CHECK(r->end, "the report has no end line");
  CHECK(r->outcome_ok, "the run did not end with success");
  CHECK(r->seed == seed, "the report names seed %llu", r->seed);
  CHECK(r->tick == tick, "the report names tick %g", r->tick);
  CHECK(r->finished == 1, "the final text was not shown");
  CHECK(r->status_done, "the status line does not hold the final text");
  /* The final text waits for the marker of 2, which sleeps one tick for
   * each of its 799 multiples. */
  CHECK(r->done_after >= 799 * tick, "done after %.3f s, before 799 ticks", r->done_after);
  printf("seed %llu: done after %.3f s with %d markers\n", seed, r->done_after, r->marker_count);

  /* Markers: strictly increasing bases from 2 to 809, every prime up to 809
   * among them, each with a colour in range. */
  static int is_composite[NUM + 1];
  for (int n = 2; n <= NUM; n++)
    for (int m = 2 * n; m <= NUM; m += n)
      is_composite[m] = 1;
  int spawned[NUM + 1] = {0};
  for (int i = 0; i < r->marker_count; i++) {
    int b = r->marker_base[i];
    CHECK(b >= 2 && b <= LAST_BASE, "marker base %d out of range", b);
    CHECK(i == 0 || b > r->marker_base[i - 1], "marker %d does not follow %d", b, r->marker_base[i - 1]);
    CHECK(colour_ok(r->marker_colour[i]), "marker %d has colour %06x", b, r->marker_colour[i]);
    if (b >= 2 && b <= NUM)
      spawned[b] = 1;
  }
  CHECK(r->marker_count > 0 && r->marker_base[r->marker_count - 1] == LAST_BASE, "the last marker is not %d",
        LAST_BASE);
  for (int p = 2; p <= LAST_BASE; p++)
    CHECK(is_composite[p] || spawned[p], "prime %d got no marker", p);

  /* Cells: all 1600 present and still showing their number; bold exactly
   * for the composites; plain ones keep one common default colour; a bold
   * one has the colour of a marker whose base divides it. */
  int bold = 0;
  unsigned plain_colour = r->cell_colour[1];
  for (int n = 1; n <= NUM; n++) {
    CHECK(r->cell_seen[n], "no line for cell %d", n);
    CHECK(r->cell_text_ok[n], "cell %d does not show its number", n);
    CHECK(r->cell_bold[n] == is_composite[n], "cell %d: bold %d, composite %d", n, r->cell_bold[n],
          is_composite[n]);
    if (!r->cell_bold[n]) {
      CHECK(r->cell_colour[n] == plain_colour, "plain cell %d has colour %06x", n, r->cell_colour[n]);
      continue;
    }
    bold++;
    int owner = 0;
    for (int i = 0; i < r->marker_count && !owner; i++)
      owner = r->marker_colour[i] == r->cell_colour[n] && n % r->marker_base[i] == 0 && n > r->marker_base[i];
    CHECK(owner, "cell %d has colour %06x, which no marker of a divisor has", n, r->cell_colour[n]);
  }
  CHECK(bold == COMPOSITES, "%d bold cells", bold);
  CHECK(r->bold_count == COMPOSITES, "the report counts %d bold cells", r->bold_count);
  CHECK(r->plain_count == NUM - COMPOSITES, "the report counts %d plain cells", r->plain_count);
  return 0;
}

/* The one case: `sieve_cli_test cli PATH-TO-SIEVE`. */
TEST_CASE(cli)
{
  int nargs = 0;
  char **args = gloop_test_args(&nargs);
  if (nargs != 1)
    TEST_FAIL("usage: cli PATH-TO-SIEVE");
  const char *binary = args[0];
  static struct report first, again, other;

  check_help(binary);
  check_bad_options(binary);

  /* The same seed gives the same colours, marker by marker in spawn order;
   * another seed gives others. */
  if (check_run(binary, 0.002, 7, &first) == 0 && check_run(binary, 0.001, 7, &again) == 0 &&
      check_run(binary, 0.001, 8, &other) == 0) {
    int common = first.marker_count < again.marker_count ? first.marker_count : again.marker_count;
    int same = 0;
    for (int i = 0; i < common; i++)
      same += first.marker_colour[i] == again.marker_colour[i];
    CHECK(common > 0 && same == common, "seed 7 twice: %d of %d marker colours agree", same, common);
    CHECK(first.marker_colour[0] != other.marker_colour[0], "seeds 7 and 8 give the same first colour %06x",
          first.marker_colour[0]);
  }
  return 0;
}

static const gloop_test_case cases[] = {GLOOP_TEST_ENTRY(cli)};

int main(int argc, char **argv) { return GLOOP_TEST_MAIN(argc, argv, cases); }
