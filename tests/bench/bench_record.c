/* bench_record.c - reads the size of the core's task record from its internal header, for the memory table. */

/* The public header keeps gloop_task opaque, which is right for users but
 * leaves a benchmark no way to report the record's size. This file, and only
 * this file, includes the core's internal header; CMake compiles it with the
 * same context-backend define as the library, because the record embeds the
 * backend's context (a whole ucontext_t for the portable backend, one saved
 * stack pointer for the assembly ones). */
#include "bench.h"
#include "internal.h"

size_t gloop__bench_task_record_size(void) { return sizeof(struct gloop_task); }
