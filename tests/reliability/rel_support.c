/* rel_support.c - the reliability tests' counting allocator and resource probes. */
#include "rel.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guestloop/guestloop.h"

/* ---- Counting allocator --------------------------------------------------------- */

/* The header keeps the payload aligned like malloc's own result. */
#define REL_HDR 16

void *rel_realloc(void *ud, void *ptr, size_t size) {
  rel_alloc *a = ud;
  size_t old = 0;
  char *base = NULL;
  if (ptr) {
    base = (char *)ptr - REL_HDR;
    memcpy(&old, base, sizeof old);
  }
  if (size == 0) {
    if (ptr) {
      atomic_fetch_sub(&a->live_bytes, (long)old);
      atomic_fetch_sub(&a->live_blocks, 1);
      free(base);
    }
    return NULL;
  }
  if (size > SIZE_MAX - REL_HDR) return NULL;
  char *p = realloc(base, size + REL_HDR);
  if (p == NULL) return NULL;
  memcpy(p, &size, sizeof size);
  atomic_fetch_add(&a->live_bytes, (long)size - (long)old);
  if (!ptr) {
    atomic_fetch_add(&a->live_blocks, 1);
    atomic_fetch_add(&a->total_blocks, 1);
  }
  return p + REL_HDR;
}

void rel_alloc_reset(rel_alloc *a) {
  atomic_store(&a->live_bytes, 0);
  atomic_store(&a->live_blocks, 0);
  atomic_store(&a->total_blocks, 0);
}

/* ---- Probes ------------------------------------------------------------------------ */

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  if (d == NULL) TEST_FAIL("cannot open %s: %s", path, strerror(errno));
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* The directory stream itself holds one fd while it is read. */
int rel_count_fds(void) { return count_dir("/proc/self/fd") - 1; }

int rel_count_threads(void) { return count_dir("/proc/self/task"); }

static int maps_of_size(size_t size, int print) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (f == NULL) TEST_FAIL("cannot open /proc/self/maps: %s", strerror(errno));
  char line[512];
  unsigned long prev_lo = 0, prev_hi = 0;
  char prev_perms[8] = "";
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3) continue;
    /* A guarded stack is a read-write mapping right above its inaccessible
     * guard gap of 64 KiB plus a page (guestloop.h, guard_pages); sanitizer
     * runtimes make plain mappings of all sizes, but not in that shape. */
    size_t gap = 64 * 1024 + page;
    int guarded = prev_hi == lo && prev_hi - prev_lo == gap && strcmp(prev_perms, "---p") == 0;
    int match = hi - lo == size && strcmp(perms, "rw-p") == 0 && guarded;
    prev_lo = lo;
    prev_hi = hi;
    memcpy(prev_perms, perms, sizeof prev_perms);
    if (match) {
      n++;
      if (print) fprintf(stderr, "  mapping: %s", line);
    }
  }
  fclose(f);
  return n;
}

int rel_count_maps_of_size(size_t size) { return maps_of_size(size, 0); }
void rel_print_maps_of_size(size_t size) { maps_of_size(size, 1); }

long rel_rss_pages(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL) TEST_FAIL("cannot open /proc/self/statm: %s", strerror(errno));
  long size = 0, rss = 0;
  if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = -1;
  fclose(f);
  return rss;
}

long rel_heap_in_use(void) {
  if (test_under_asan() || test_under_tsan()) return -1;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 mi = mallinfo2();
  return (long)mi.uordblks;
#else
  return -1;
#endif
}

int rel_under_emulator(void) {
  const char *e = getenv("GLOOP_TEST_EMULATED");
  return e != NULL && *e != '\0' && *e != '0';
}
