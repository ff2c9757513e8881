/* fuzz_replay.c - the fuzzer's body under the harness's runner: its one case, replay, runs every input file given (or every file in a given directory), so the corpus is a normal test with any compiler. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "fuzz_replay: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  /* A hang is a failure that must name its input. */
  test_label("input %s", path);
  test_watchdog(20);
  LLVMFuzzerTestOneInput(buf, n);
  test_watchdog(0);
  return 1;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs the directory's regular files in name order, so a run is repeatable. */
static int run_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) return -1;
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      names = realloc(names, cap * sizeof *names);
      if (names == NULL) abort();
    }
    size_t len = strlen(dir) + strlen(e->d_name) + 2;
    names[n] = malloc(len);
    if (names[n] == NULL) abort();
    snprintf(names[n], len, "%s/%s", dir, e->d_name);
    n++;
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp);
  int count = 0;
  for (size_t i = 0; i < n; i++) {
    struct stat st;
    if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
      if (run_file(names[i]) < 0) return -1;
      count++;
    }
    free(names[i]);
  }
  free(names);
  return count;
}

/* The one case: its arguments are the files and directories to replay. */
TEST_CASE(replay) {
  int nargs;
  char **args = gloop_test_args(&nargs);
  int total = 0;
  for (int i = 0; i < nargs; i++) {
    struct stat st;
    if (stat(args[i], &st) != 0) TEST_FAIL("%s: %s", args[i], strerror(errno));
    int n = S_ISDIR(st.st_mode) ? run_dir(args[i]) : run_file(args[i]);
    if (n < 0) TEST_FAIL("%s: cannot read it", args[i]);
    total += n;
  }
  test_label("%s", "");
  if (total == 0) TEST_FAIL("no inputs found (usage: replay <file or directory>...)");
  printf("fuzz_replay: %d input(s) ran, every invariant held\n", total);
  return 0;
}

#define GLOOP_TEST_LIST "fuzz/fuzz-list.h"
#include "harness/runner_main.h"
