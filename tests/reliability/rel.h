/* rel.h - helpers of the reliability tests on top of the one harness: a counting allocator and resource probes. */
#ifndef GLOOP_REL_H
#define GLOOP_REL_H

#include <stddef.h>
#include <stdint.h>

#include "guestloop/guestloop.h"

#include "harness/harness.h"
#include "harness/host_toy.h"

/* The suite runs on the one harness (harness/harness.h): its runner, its
 * failures and watchdog (test_label(), test_watchdog()) and its real-time
 * helpers; guest runs are hosted by the harness's toy host (host_toy.h).
 * REL_CHECK* are the suite's names for the harness's checks. */
#define REL_CHECK(cond, ...) TEST_CHECK_(cond, __VA_ARGS__)
/* Checks a library return code against the expected one, naming both. */
#define REL_CHECK_ERR(got, want) TEST_CHECK_ERR_(got, want)
#define REL_CHECK_OK(got) TEST_CHECK_ERR_(got, 0)

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
/* Whether the test runs under user-mode emulation (a cross build's ctest
 * sets GLOOP_TEST_EMULATED): RSS is then the emulator's, not ours. */
int rel_under_emulator(void);

#endif
