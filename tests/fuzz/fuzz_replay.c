/* fuzz_replay.c - a plain main() for the fuzzer's body: runs every input file given (or every file in a given directory), so the corpus is a normal test with any compiler. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/time_scale.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current = "";

/* A hang is a failure that must name its input. */
static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "fuzz_replay: an input did not finish within 20 s (x time scale): ";
  ssize_t w = write(2, msg, sizeof msg - 1);
  w = write(2, current, strlen(current));
  w = write(2, "\n", 1);
  (void)w;
  _exit(3);
}

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "fuzz_replay: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  current = path;
  alarm((unsigned)(20 * gloop_test_time_scale_read()));
  LLVMFuzzerTestOneInput(buf, n);
  alarm(0);
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

int main(int argc, char **argv) {
  signal(SIGALRM, on_alarm);
  if (argc < 2) {
    fprintf(stderr, "usage: %s <file or directory>...\n", argv[0]);
    return 2;
  }
  int total = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "fuzz_replay: %s: %s\n", argv[i], strerror(errno));
      return 2;
    }
    int n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
    if (n < 0) return 2;
    total += n;
  }
  if (total == 0) {
    fprintf(stderr, "fuzz_replay: no inputs found\n");
    return 2;
  }
  printf("fuzz_replay: %d input(s) ran, every invariant held\n", total);
  return 0;
}
