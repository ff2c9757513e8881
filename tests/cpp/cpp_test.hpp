// cpp_test.hpp - the tiny harness of the C++ wrapper tests: case registry, checks that print both sides, a watchdog and main().
#ifndef GLOOP_CPP_TEST_HPP
#define GLOOP_CPP_TEST_HPP

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <unistd.h>

#include "harness/time_scale.h"

namespace cpp_test {

using case_fn = void (*)();

struct entry {
  const char *name;
  case_fn fn;
  entry *next;
};

/* The registry is a list built by static constructors, so a case is added
 * by defining it; CMake reads the same CPP_TEST(name) lines to register one
 * ctest test per case. */
inline entry *&registry() {
  static entry *head = nullptr;
  return head;
}

struct registrar {
  entry e;
  registrar(const char *name, case_fn fn) : e{name, fn, registry()} { registry() = &e; }
};

inline const char *&current() {
  static const char *name = "?";
  return name;
}

/* A failed check ends the process at once with _exit(): the failing code may
 * run on a task's stack, and unwinding or atexit handlers from there would
 * only bury the message. Every case runs in a process of its own. */
[[noreturn]] inline void fail(const char *file, int line, const std::string &what) {
  std::fflush(stdout);
  std::fprintf(stderr, "%s:%d: FAIL in case %s: %s\n", file, line, current(), what.c_str());
  std::fflush(stderr);
  _exit(1);
}

template <class A, class B>
void check_eq(const char *file, int line, const char *ea, const char *eb, const A &a, const B &b) {
  if (a == b) return;
  std::ostringstream s;
  s << ea << " == " << eb << " failed: " << a << " vs " << b;
  fail(file, line, s.str());
}

inline void check_contains(const char *file, int line, const char *ea, const std::string &hay,
                           const std::string &needle) {
  if (hay.find(needle) != std::string::npos) return;
  fail(file, line, std::string(ea) + " = \"" + hay + "\" does not contain \"" + needle + "\"");
}

/* Real (not loop) time, for the few checks that need it. */
inline double real_now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

inline int main(int argc, char **argv, unsigned watchdog_seconds) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CASE | --list\n", argv[0]);
    return 2;
  }
  if (std::strcmp(argv[1], "--list") == 0) {
    for (entry *e = registry(); e != nullptr; e = e->next) std::printf("%s\n", e->name);
    return 0;
  }
  for (entry *e = registry(); e != nullptr; e = e->next) {
    if (std::strcmp(e->name, argv[1]) != 0) continue;
    current() = e->name;
    /* A hang ends with SIGALRM's default action well before ctest's own
     * TIMEOUT, so the log still names the case that hung. Both are scaled
     * by the suite's time scale. */
    watchdog_seconds = static_cast<unsigned>(watchdog_seconds * gloop_test_time_scale_read());
    std::fprintf(stderr, "case %s (watchdog %u s)\n", e->name, watchdog_seconds);
    alarm(watchdog_seconds);
    e->fn();
    std::printf("ok %s\n", e->name);
    return 0;
  }
  std::fprintf(stderr, "no such case: %s\n", argv[1]);
  return 2;
}

}  // namespace cpp_test

#define CPP_TEST(name)                                                 \
  static void cpp_test_##name();                                       \
  static cpp_test::registrar cpp_test_reg_##name(#name, cpp_test_##name); \
  static void cpp_test_##name()

#define CHECK(cond) \
  ((cond) ? (void)0 : cpp_test::fail(__FILE__, __LINE__, "CHECK(" #cond ") failed"))
#define CHECK_EQ(a, b) cpp_test::check_eq(__FILE__, __LINE__, #a, #b, (a), (b))
#define CHECK_CONTAINS(hay, needle) \
  cpp_test::check_contains(__FILE__, __LINE__, #hay, (hay), (needle))
#define FAIL(msg) cpp_test::fail(__FILE__, __LINE__, (msg))

/* Runs `stmt` and checks that it throws gloop::error with code `want`; the
 * caught error is available to `then` as `e`. */
#define CHECK_THROWS_CODE(stmt, want)                                                  \
  do {                                                                                 \
    bool cpp_test_threw_ = false;                                                      \
    try {                                                                              \
      stmt;                                                                            \
    } catch (const gloop::error &cpp_test_e_) {                                        \
      cpp_test_threw_ = true;                                                          \
      if (cpp_test_e_.code() != (want))                                                \
        cpp_test::fail(__FILE__, __LINE__,                                             \
                       std::string(#stmt " threw ") + cpp_test_e_.name() + " (" +      \
                           cpp_test_e_.what() + "), wanted " + gloop_err_name(want));  \
    }                                                                                  \
    if (!cpp_test_threw_)                                                              \
      cpp_test::fail(__FILE__, __LINE__, std::string(#stmt " did not throw ") +        \
                                             gloop_err_name(want));                    \
  } while (0)

#endif
