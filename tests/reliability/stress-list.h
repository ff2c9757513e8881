/* stress-list.h - the stress cases, one GLOOP_TEST(name) line each; the rel_stress runner and CMake both read this list. */
GLOOP_TEST(tasks_100k)
GLOOP_TEST(posts_across_runs)
GLOOP_TEST(abandon_cycles)
GLOOP_TEST(posts_8x100k)
