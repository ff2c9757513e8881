/* fault.c - process-wide fault injection for tests (guestloop/testing.h). */
#include "guestloop/testing.h"
#include "internal.h"

static _Atomic long target = -1; /* index of the first failing acquisition, -1 = off */
static _Atomic long counted;
static _Atomic int armed_kinds;
static _Atomic int persistent_mode;

void gloop_fault_inject(long n, int kinds, int persistent) {
  atomic_store(&target, -1);
  atomic_store(&counted, 0);
  atomic_store(&armed_kinds, kinds & GLOOP_FAULT_ALL);
  atomic_store(&persistent_mode, persistent != 0);
  atomic_store(&target, n < 0 ? -1 : n);
}

long gloop_fault_count(void) { return atomic_load(&counted); }

int gloop__fault(int kind) {
  long t = atomic_load_explicit(&target, memory_order_relaxed);
  if (t < 0 || !(atomic_load(&armed_kinds) & kind)) return 0;
  long i = atomic_fetch_add(&counted, 1);
  return i == t || (i > t && atomic_load(&persistent_mode));
}
