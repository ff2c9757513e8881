/* rel.h - shared helpers of the reliability tests: checks, a counting allocator, a tiny host loop, resource probes and a watchdog. */
#ifndef GLOOP_REL_H
#define GLOOP_REL_H

#include <stddef.h>
#include <stdint.h>

#include "guestloop/guestloop.h"

#if defined(__GNUC__)
#define REL_NORETURN __attribute__((noreturn))
#define REL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define REL_NORETURN
#define REL_PRINTF(a, b)
#endif

/* The exit code ctest treats as "skipped". */
#define REL_SKIP_CODE 77

/* ---- Checks ---------------------------------------------------------------
 *
 * A failed check prints file:line, the current label (what the test was
 * doing, see rel_label()) and the message, then ends the process with
 * _exit(1) from whichever thread or task it runs in. Each test program runs
 * one case per process, so nothing needs unwinding. */

REL_NORETURN void rel_fail_(const char *file, int line, const char *fmt, ...) REL_PRINTF(3, 4);
#define REL_FAIL(...) rel_fail_(__FILE__, __LINE__, __VA_ARGS__)
#define REL_CHECK(cond, ...)                                                    \
  do {                                                                          \
    if (!(cond)) rel_fail_(__FILE__, __LINE__, __VA_ARGS__);                    \
  } while (0)
/* Checks a library return code against the expected one, naming both. */
#define REL_CHECK_ERR(got, want)                                                \
  do {                                                                          \
    int rel_g_ = (int)(got), rel_w_ = (int)(want);                              \
    if (rel_g_ != rel_w_)                                                       \
      rel_fail_(__FILE__, __LINE__, "%s: expected %s (%d), got %s (%d)", #got,  \
                gloop_err_name(rel_w_), rel_w_, gloop_err_name(rel_g_), rel_g_); \
  } while (0)
#define REL_CHECK_OK(got) REL_CHECK_ERR(got, 0)

/* Sets the label printed by failures and by the watchdog (printf-style,
 * truncated to 255 bytes). Only the main test thread should set it. */
void rel_label(const char *fmt, ...) REL_PRINTF(1, 2);
const char *rel_label_get(void);

/* ---- Watchdog ----------------------------------------------------------------
 *
 * A hang is a failure too, and it must name the case that hung: the
 * watchdog is SIGALRM, whose handler writes the label and ends the process
 * with exit code 3. `seconds` is scaled by rel_time_scale(); rel_watchdog(0)
 * disarms it. */
void rel_watchdog(unsigned seconds);

/* ---- Counting allocator -------------------------------------------------------
 *
 * A gloop_realloc_fn that keeps a 16-byte header with the block size, so it
 * can tell exactly how many bytes and blocks are live. Thread-safe. Give
 * &rel_alloc_state (or your own rel_alloc) as realloc_ud. */
typedef struct rel_alloc {
  _Atomic long live_bytes;
  _Atomic long live_blocks;
  _Atomic long total_blocks; /* allocations ever made */
} rel_alloc;
void *rel_realloc(void *ud, void *ptr, size_t size);
void rel_alloc_reset(rel_alloc *a);

/* ---- The tiny host loop ----------------------------------------------------------
 *
 * One process-wide FIFO of posted callbacks guarded by a mutex. The thread
 * that calls rel_host_init() is the host thread. rel_host_post is the
 * threadsafe post handed to the guest run; rel_host_done records the
 * outcome. After every callback the host loop calls the "between" hook, if
 * set: that is where tests make host-side calls between ticks. */
typedef struct rel_host_outcome {
  int done_calls;
  int status;
  char message[256];
  int done_in_task;     /* done_cb ran inside a task (a contract violation) */
  int done_off_host;    /* done_cb ran on another thread (a contract violation) */
} rel_host_outcome;

void rel_host_init(void);
void rel_host_post(gloop_callback_fn fn, void *fn_arg, void *host_data);
void rel_host_done(const gloop_outcome *outcome, void *host_data);
/* Starts a guest run hosted by the toy loop (opts may be NULL). */
int rel_host_start(gloop_task_fn entry, void *arg, const gloop_options *opts);
/* The hook runs on the host thread after each guest callback. NULL = none. */
void rel_host_set_between(void (*fn)(void *arg), void *arg);
/* Runs one queued callback, waiting for one up to `wait` real seconds.
 * Returns 1 if one ran. */
int rel_host_step(double wait);
/* Runs callbacks until done_cb fired; returns 0, or -1 if that took more
 * than `timeout` real seconds. Afterwards drains what is still queued. */
int rel_host_run_until_done(double timeout);
/* Runs every callback queued now (and those they queue) without waiting. */
unsigned long rel_host_drain(void);
/* Callbacks queued right now. */
unsigned long rel_host_queued(void);
/* Guest callbacks run since rel_host_init(). */
unsigned long rel_host_callbacks(void);
rel_host_outcome rel_host_get_outcome(void);

/* ---- Resource probes ----------------------------------------------------------- */

/* Open file descriptors of this process. */
int rel_count_fds(void);
/* Threads of this process. */
int rel_count_threads(void);
/* Read-write private mappings of exactly `size` bytes directly above a
 * one-page guard: with an unusual task stack size (and guard pages on) this
 * counts the task stacks that are mapped. */
int rel_count_maps_of_size(size_t size);
/* Prints those mappings to stderr (for a failure report). */
void rel_print_maps_of_size(size_t size);
/* Resident set size in pages, from /proc/self/statm. */
long rel_rss_pages(void);
/* Bytes of the C heap in use (mallinfo2), or -1 when the count means
 * nothing because a sanitizer replaced the allocator. */
long rel_heap_in_use(void);
/* 1 under AddressSanitizer or ThreadSanitizer (slower, own allocator). */
int rel_under_asan(void);
int rel_under_tsan(void);

double rel_real_now(void);
/* The factor every real-time limit is multiplied by (GLOOP_TEST_TIME_SCALE
 * from the environment, else the build's default; see tests/CMakeLists.txt),
 * and a plain-build limit of `seconds` scaled by it. rel_watchdog(),
 * rel_host_run_until_done() and the subprocess waits apply it themselves. */
double rel_time_scale(void);
/* Whether the test runs under user-mode emulation (a cross build's ctest
 * sets GLOOP_TEST_EMULATED): RSS is then the emulator's, not ours. */
int rel_under_emulator(void);
double rel_limit(double seconds);
void rel_real_sleep(double seconds);

/* A small deterministic PRNG (xorshift64*). */
typedef struct rel_rng {
  uint64_t s;
} rel_rng;
void rel_rng_seed(rel_rng *r, uint64_t seed);
uint32_t rel_rng_next(rel_rng *r);
/* Uniform in [0, n). n > 0. */
uint32_t rel_rng_below(rel_rng *r, uint32_t n);

#endif
