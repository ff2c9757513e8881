/* rel_support.c - the reliability tests' checks, watchdog, counting allocator, host loop and resource probes. */
#include "rel.h"
#include "harness/time_scale.h"

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

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define REL_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define REL_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define REL_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__)
#define REL_TSAN 1
#endif

int rel_under_asan(void) {
#ifdef REL_ASAN
  return 1;
#else
  return 0;
#endif
}

int rel_under_tsan(void) {
#ifdef REL_TSAN
  return 1;
#else
  return 0;
#endif
}

/* ---- Labels, failures, watchdog ------------------------------------------------ */

static char label[256] = "(start)";

void rel_label(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(label, sizeof label, fmt, ap);
  va_end(ap);
}

const char *rel_label_get(void) { return label; }

void rel_fail_(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  fprintf(stderr, "%s:%d: FAIL [%s]: ", file, line, label);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  _exit(1);
}

static void write_all_fd2(const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* Async-signal-safe: only write() and _exit(). The label may be torn if the
 * main thread is rewriting it at that instant; it is still NUL-terminated
 * because the buffer's last byte is never written. */
static void on_alarm(int sig) {
  (void)sig;
  write_all_fd2("\nWATCHDOG: no progress, the test hung in [");
  write_all_fd2(label);
  write_all_fd2("]\n");
  _exit(3);
}

void rel_watchdog(unsigned seconds) {
  static int installed;
  if (!installed) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    installed = 1;
  }
  alarm(seconds == 0 ? 0 : (unsigned)rel_limit(seconds));
}

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

/* ---- Host loop -------------------------------------------------------------------- */

typedef struct host_item {
  gloop_callback_fn fn;
  void *arg;
  struct host_item *next;
} host_item;

/* `mu` guards the queue and the outcome, because posts come from the
 * guest's helper thread and from worker threads as well as the host. The
 * hook is touched only on the host thread. */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  host_item *head, *tail;
  unsigned long queued;
  unsigned long callbacks;
  rel_host_outcome out;
  pthread_t thread;
  void (*between)(void *);
  void *between_arg;
} host = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0, {0}, 0, NULL, NULL};

void rel_host_init(void) {
  pthread_mutex_lock(&host.mu);
  if (host.head != NULL) {
    pthread_mutex_unlock(&host.mu);
    REL_FAIL("rel_host_init: callbacks of an earlier run are still queued");
  }
  memset(&host.out, 0, sizeof host.out);
  host.callbacks = 0;
  host.thread = pthread_self();
  pthread_mutex_unlock(&host.mu);
  host.between = NULL;
  host.between_arg = NULL;
}

void rel_host_post(gloop_callback_fn fn, void *fn_arg, void *host_data) {
  (void)host_data;
  if (fn == NULL) REL_FAIL("the guest posted a NULL callback");
  host_item *it = malloc(sizeof *it);
  if (it == NULL) REL_FAIL("host loop: out of memory");
  it->fn = fn;
  it->arg = fn_arg;
  it->next = NULL;
  pthread_mutex_lock(&host.mu);
  if (host.tail)
    host.tail->next = it;
  else
    host.head = it;
  host.tail = it;
  host.queued++;
  pthread_cond_signal(&host.cv);
  pthread_mutex_unlock(&host.mu);
}

void rel_host_done(const gloop_outcome *outcome, void *host_data) {
  (void)host_data;
  int off_host = !pthread_equal(pthread_self(), host.thread);
  int in_task = gloop_current_task() != NULL;
  if (outcome == NULL) REL_FAIL("done_cb received a NULL outcome");
  pthread_mutex_lock(&host.mu);
  host.out.done_calls++;
  host.out.done_off_host += off_host;
  host.out.done_in_task += in_task;
  host.out.status = outcome->status;
  snprintf(host.out.message, sizeof host.out.message, "%s",
           outcome->message ? outcome->message : "(null)");
  pthread_mutex_unlock(&host.mu);
}

int rel_host_start(gloop_task_fn entry, void *arg, const gloop_options *opts) {
  return gloop_start_guest_run_ex(entry, arg, rel_host_post, rel_host_done, &host, opts);
}

void rel_host_set_between(void (*fn)(void *arg), void *arg) {
  host.between = fn;
  host.between_arg = arg;
}

static void deadline_after(struct timespec *ts, double wait) {
  clock_gettime(CLOCK_REALTIME, ts);
  time_t s = (time_t)wait;
  long ns = (long)((wait - (double)s) * 1e9);
  ts->tv_sec += s;
  ts->tv_nsec += ns;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

int rel_host_step(double wait) {
  pthread_mutex_lock(&host.mu);
  if (host.head == NULL && wait > 0) {
    struct timespec ts;
    deadline_after(&ts, wait);
    while (host.head == NULL) {
      int rc = pthread_cond_timedwait(&host.cv, &host.mu, &ts);
      if (rc == ETIMEDOUT) break;
    }
  }
  host_item *it = host.head;
  if (it == NULL) {
    pthread_mutex_unlock(&host.mu);
    return 0;
  }
  host.head = it->next;
  if (host.head == NULL) host.tail = NULL;
  host.queued--;
  host.callbacks++;
  pthread_mutex_unlock(&host.mu);
  it->fn(it->arg);
  free(it);
  if (host.between) host.between(host.between_arg);
  return 1;
}

static int done_seen(void) {
  pthread_mutex_lock(&host.mu);
  int d = host.out.done_calls > 0;
  pthread_mutex_unlock(&host.mu);
  return d;
}

int rel_host_run_until_done(double timeout) {
  double limit = rel_real_now() + rel_limit(timeout);
  while (!done_seen()) {
    double left = limit - rel_real_now();
    if (left <= 0) return -1;
    rel_host_step(left < 0.05 ? left : 0.05);
  }
  rel_host_drain();
  return 0;
}

unsigned long rel_host_drain(void) {
  unsigned long n = 0;
  while (rel_host_step(0)) n++;
  return n;
}

unsigned long rel_host_queued(void) {
  pthread_mutex_lock(&host.mu);
  unsigned long n = host.queued;
  pthread_mutex_unlock(&host.mu);
  return n;
}

unsigned long rel_host_callbacks(void) {
  pthread_mutex_lock(&host.mu);
  unsigned long n = host.callbacks;
  pthread_mutex_unlock(&host.mu);
  return n;
}

rel_host_outcome rel_host_get_outcome(void) {
  pthread_mutex_lock(&host.mu);
  rel_host_outcome o = host.out;
  pthread_mutex_unlock(&host.mu);
  return o;
}

/* ---- Probes ------------------------------------------------------------------------ */

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  if (d == NULL) REL_FAIL("cannot open %s: %s", path, strerror(errno));
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
  if (f == NULL) REL_FAIL("cannot open /proc/self/maps: %s", strerror(errno));
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
  if (f == NULL) REL_FAIL("cannot open /proc/self/statm: %s", strerror(errno));
  long size = 0, rss = 0;
  if (fscanf(f, "%ld %ld", &size, &rss) != 2) rss = -1;
  fclose(f);
  return rss;
}

long rel_heap_in_use(void) {
  if (rel_under_asan() || rel_under_tsan()) return -1;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 mi = mallinfo2();
  return (long)mi.uordblks;
#else
  return -1;
#endif
}

static double time_scale;
static pthread_once_t time_scale_once = PTHREAD_ONCE_INIT;
static void time_scale_init(void) { time_scale = gloop_test_time_scale_read(); }

double rel_time_scale(void) {
  pthread_once(&time_scale_once, time_scale_init);
  return time_scale;
}

double rel_limit(double seconds) { return seconds * rel_time_scale(); }

int rel_under_emulator(void) {
  const char *e = getenv("GLOOP_TEST_EMULATED");
  return e != NULL && *e != '\0' && *e != '0';
}

double rel_real_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void rel_real_sleep(double seconds) {
  struct timespec ts;
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* ---- PRNG ---------------------------------------------------------------------------- */

void rel_rng_seed(rel_rng *r, uint64_t seed) { r->s = seed ? seed : 0x9e3779b97f4a7c15ull; }

uint32_t rel_rng_next(rel_rng *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}

uint32_t rel_rng_below(rel_rng *r, uint32_t n) { return rel_rng_next(r) % n; }
