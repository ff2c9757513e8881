/* fuzz-list.h - the replay runner's one case, which runs the committed seed corpus; the runner and CMake both read this list. */
GLOOP_TEST(replay)
