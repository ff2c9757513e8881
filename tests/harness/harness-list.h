/* harness-list.h - the harness's own cases (outcomes.c). */
GLOOP_TEST(outcomes)
