/* subprocess-list.h - the cases that judge rel_child in a child process, one GLOOP_TEST(name) line each; the rel_subproc runner and CMake both read this list. */
GLOOP_TEST(sigint_self)
GLOOP_TEST(sigint_external)
GLOOP_TEST(sigint_default)
GLOOP_TEST(sigint_second)
GLOOP_TEST(sigint_restored)
GLOOP_TEST(overflow)
