// harness.hpp - the C++ face of the one test harness: cases defined with CPP_TEST(name), checks that print both sides, main() by the harness's runner (the C++, C++ Qt and example suites).
#ifndef GLOOP_HARNESS_HPP
#define GLOOP_HARNESS_HPP

#include <cstdarg>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

extern "C" {
#include "harness.h"
}

namespace cpp_test {

/* A case is added by defining it: CPP_TEST(name) registers it with a static
 * constructor, and CMake reads the same lines to register one ctest test per
 * case. The harness runs them (one in-process, or all, each forked), with
 * its watchdog, skip code and report. */
inline std::vector<gloop_test_case> &registry() {
  static std::vector<gloop_test_case> cases;
  return cases;
}
struct registrar {
  registrar(const char *name, int (*fn)(void)) { registry().push_back({name, fn}); }
};

[[noreturn]] inline void fail(const char *file, int line, const std::string &what) {
  test_fail_(file, line, "%s", what.c_str());
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

/* printf into a std::string. */
inline std::string format(const char *fmt, ...) TEST_PRINTF(1, 2);
inline std::string format(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char small[512];
  int n = std::vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return std::string();
  if (static_cast<size_t>(n) < sizeof small) return std::string(small, static_cast<size_t>(n));
  std::string big(static_cast<size_t>(n) + 1, '\0');
  va_start(ap, fmt);
  std::vsnprintf(&big[0], big.size(), fmt, ap);
  va_end(ap);
  big.resize(static_cast<size_t>(n));
  return big;
}

/* Real (not loop) time, for the few checks that need it. */
inline double real_now() { return test_real_now(); }

inline int main(int argc, char **argv) {
  return gloop_test_main(argc, argv, registry().data(), registry().size());
}

}  // namespace cpp_test

#define CPP_TEST(name)                                                          \
  static void cpp_test_##name();                                                \
  static int cpp_case_##name() {                                                \
    cpp_test_##name();                                                          \
    return 0;                                                                   \
  }                                                                             \
  static cpp_test::registrar cpp_test_reg_##name(#name, cpp_case_##name);      \
  static void cpp_test_##name()

#define CHECK(cond) \
  ((cond) ? (void)0 : cpp_test::fail(__FILE__, __LINE__, "CHECK(" #cond ") failed"))
#define CHECK_EQ(a, b) cpp_test::check_eq(__FILE__, __LINE__, #a, #b, (a), (b))
#define CHECK_CONTAINS(hay, needle) \
  cpp_test::check_contains(__FILE__, __LINE__, #hay, (hay), (needle))
#define FAIL(msg) cpp_test::fail(__FILE__, __LINE__, (msg))

/* A check that lets the case go on (test_expect_fail_()): EXPECT(cond,
 * printf-style explanation...). The runner fails the case when it returns. */
#define EXPECT(cond, ...)                                                              \
  do {                                                                                 \
    if (!(cond))                                                                       \
      test_expect_fail_(__FILE__, __LINE__, "EXPECT(%s) failed: %s", #cond,            \
                        cpp_test::format(__VA_ARGS__).c_str());                        \
  } while (0)

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
