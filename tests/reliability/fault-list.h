/* fault-list.h - the fault-injection scenarios, one GLOOP_TEST(name) line each (each names a row of the sweep's scenario table); the rel_faults runner and CMake both read this list. */
GLOOP_TEST(nursery)
GLOOP_TEST(timers)
GLOOP_TEST(sync)
GLOOP_TEST(cancel)
GLOOP_TEST(guest)
GLOOP_TEST(abandon)
GLOOP_TEST(threads)
GLOOP_TEST(fd)
