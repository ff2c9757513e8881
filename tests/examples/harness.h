// harness.h - shared helpers of the in-process example tests: checks, stderr capture, event-loop waits and a stall probe.

// Each example test links the unmodified example's C source, compiled with
// its main() renamed to example_main(), and calls it. The test's own code
// gets in through Q_COREAPP_STARTUP_FUNCTION, which Qt runs while the
// example creates its QApplication; from there the test queues its scenario,
// which runs once the example enters the event loop. So the test sees the
// real program, built by the real code, and drives it like a user would.
#ifndef GUESTLOOP_TESTS_EXAMPLES_HARNESS_H
#define GUESTLOOP_TESTS_EXAMPLES_HARNESS_H

#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QMainWindow>
#include <QString>
#include <QTimer>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>
#include <fcntl.h>
#include <unistd.h>

#include "harness/time_scale.h"

extern "C" int example_main(int argc, char **argv);

namespace harness {

// Sanitizer, valgrind and emulated builds run several times slower, most of
// it inside Qt's painting with an intercepted allocator. There the upper time
// limits stretch by kSlowdown, the suite's time scale (harness/time_scale.h),
// and stalls are reported but not held against a limit: they would measure
// the tool, not the program.
inline const int kSlowdown = static_cast<int>(gloop_test_time_scale_read());
inline const bool kEnforceStalls = kSlowdown == 1;

// Number of failed checks so far. Checks never abort: a failing scenario
// goes on, so that one run reports everything that is wrong.
inline int &failures()
{
  static int count = 0;
  return count;
}

inline void fail(const char *file, int line, const std::string &what)
{
  ++failures();
  std::printf("FAIL %s:%d: %s\n", file, line, what.c_str());
  std::fflush(stdout);
}

#define H_CHECK(cond, ...)                                                                   \
  do {                                                                                     \
    if (!(cond))                                                                           \
      ::harness::fail(__FILE__, __LINE__,                                                  \
                      std::string(#cond) + " -- " + QString::asprintf(__VA_ARGS__).toStdString()); \
  } while (0)

inline void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
inline void note(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::putchar('\n');
  std::fflush(stdout);
}

// Everything the program under test writes to stderr goes to a temporary
// file, so the test can demand "no error output". Qt's own diagnostics are
// routed to stdout by the message handler below instead, because the
// offscreen platform prints harmless notices that are not the example's.
class StderrCapture {
public:
  bool begin()
  {
    std::fflush(stderr);
    file_ = std::tmpfile();
    saved_ = dup(STDERR_FILENO);
    if (file_ == nullptr || saved_ < 0 || dup2(fileno(file_), STDERR_FILENO) < 0) {
      std::printf("FAIL cannot capture stderr: %s\n", std::strerror(errno));
      return false;
    }
    return true;
  }
  // Restores stderr and returns what was written to it.
  std::string end()
  {
    std::string text;
    std::fflush(stderr);
    if (saved_ >= 0) {
      dup2(saved_, STDERR_FILENO);
      close(saved_);
      saved_ = -1;
    }
    if (file_ != nullptr) {
      std::rewind(file_);
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, file_)) > 0)
        text.append(buf, n);
      std::fclose(file_);
      file_ = nullptr;
    }
    return text;
  }

private:
  FILE *file_ = nullptr;
  int saved_ = -1;
};

// Qt messages: echoed to stdout with a prefix. Critical and fatal messages,
// and any warning about threads (a widget touched from the wrong thread),
// count as failures.
inline void qt_message_handler(QtMsgType type, const QMessageLogContext &, const QString &msg)
{
  std::printf("qt: %s\n", msg.toLocal8Bit().constData());
  std::fflush(stdout);
  if (type == QtCriticalMsg || type == QtFatalMsg ||
      (type == QtWarningMsg && msg.contains(QLatin1String("thread"), Qt::CaseInsensitive)))
    fail(__FILE__, __LINE__, "Qt reported: " + msg.toStdString());
  if (type == QtFatalMsg)
    std::abort();
}

// The stall probe. A 2 ms precise timer on the GUI thread calls poll(); the
// gap between two polls bounds how long that thread was kept from handling
// events. If anything on it (a guest tick, a widget update, the test's own
// sampling) ran or blocked for X ms without returning to the event loop, the
// next poll comes X ms late.
//
// On a busy machine the gap also holds time in which the thread was ready
// but the kernel ran something else, which says nothing about the program.
// Linux counts that time per thread (the second field of
// /proc/thread-self/schedstat, in ns), so the probe subtracts it: the "own"
// gap is the time the thread spent running or blocked, which is what the
// program is responsible for. Both are reported; the checks use the own gap.
// Where schedstat is missing the own gap equals the wall-clock gap.
struct StallProbe {
  QElapsedTimer clock;
  int schedstat_fd = -1;
  double last = -1;          // ms on `clock` at the previous poll; -1 = none
  double last_runqueue = 0;  // ms spent waiting for a CPU, at that poll
  double max_gap = 0;        // the longest own gap, in ms
  double max_gap_end = 0;    // when it ended, in ms on `clock`
  double max_wall_gap = 0;   // the longest wall-clock gap, in ms
  long polls = 0;

  // Must be called on the thread to watch (the GUI thread).
  void start()
  {
    clock.start();
    if (schedstat_fd < 0)
      schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    last = -1;
    max_gap = max_gap_end = max_wall_gap = 0;
    polls = 0;
  }
  double runqueue_ms() const
  {
    char buf[128];
    if (schedstat_fd < 0)
      return 0;
    ssize_t n = pread(schedstat_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
      return 0;
    buf[n] = '\0';
    unsigned long long running_ns = 0, waiting_ns = 0;
    if (std::sscanf(buf, "%llu %llu", &running_ns, &waiting_ns) != 2)
      return 0;
    return waiting_ns / 1e6;
  }
  void poll()
  {
    double now = clock.nsecsElapsed() / 1e6;
    double runqueue = runqueue_ms();
    if (last >= 0) {
      double wall = now - last;
      double own = wall - (runqueue - last_runqueue);
      if (wall > max_wall_gap)
        max_wall_gap = wall;
      if (own > max_gap) {
        max_gap = own;
        max_gap_end = now;
      }
    }
    last = now;
    last_runqueue = runqueue;
    ++polls;
  }
  // A wait that did not poll (the loop was left) must not count as a stall.
  void pause() { last = -1; }
};

inline StallProbe &probe()
{
  static StallProbe p;
  return p;
}

// Reports what the probe saw and checks the longest own gap.
inline void check_stall_probe(double limit_ms)
{
  const StallProbe &p = probe();
  note("longest stall of the GUI thread: %.1f ms (%.1f ms of wall-clock time), ending %.0f ms after "
       "the start; %ld polls",
       p.max_gap, p.max_wall_gap, p.max_gap_end, p.polls);
  if (!kEnforceStalls) {
    note("stall limit of %.0f ms not enforced in a sanitizer build", limit_ms);
    return;
  }
  H_CHECK(p.max_gap <= limit_ms, "the GUI thread stalled for %.1f ms", p.max_gap);
}

// Runs the event loop until pred() holds or timeout_ms passes; returns
// whether pred() held. Polls every 2 ms with a precise timer.
inline bool wait_for(const std::function<bool()> &pred, int timeout_ms)
{
  QElapsedTimer elapsed;
  elapsed.start();
  if (pred())
    return true;
  QEventLoop loop;
  QTimer poll;
  poll.setTimerType(Qt::PreciseTimer);
  bool ok = false;
  QObject::connect(&poll, &QTimer::timeout, [&] {
    probe().poll();
    if (pred()) {
      ok = true;
      loop.quit();
    } else if (elapsed.elapsed() >= timeout_ms) {
      loop.quit();
    }
  });
  probe().poll();
  poll.start(2);
  loop.exec();
  probe().pause();
  return ok;
}

// Runs the event loop for ms milliseconds.
inline void wait_ms(int ms)
{
  wait_for([] { return false; }, ms);
}

inline QMainWindow *find_main_window()
{
  for (QWidget *w : QApplication::topLevelWidgets())
    if (auto *mw = qobject_cast<QMainWindow *>(w))
      return mw;
  return nullptr;
}

// CPU time of the whole process (all threads), in seconds.
inline double process_cpu_seconds()
{
  struct timespec ts;
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
    return 0.0;
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Runs example_main(args) with stderr captured, then checks the exit status
// and that stderr stayed empty; after_exit, if given, adds checks of its own
// once example_main has returned. Returns the exit status of the test.
inline int run_example(std::vector<std::string> args, int expected_exit = 0,
                       const std::function<void()> &after_exit = nullptr)
{
  qInstallMessageHandler(qt_message_handler);
  std::vector<char *> argv;
  for (std::string &a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  StderrCapture capture;
  if (!capture.begin())
    return 1;
  int rc = example_main(static_cast<int>(args.size()), argv.data());
  std::string err = capture.end();
  if (after_exit)
    after_exit();

  H_CHECK(rc == expected_exit, "the example exited with %d, expected %d", rc, expected_exit);
  if (!err.empty()) {
    std::printf("stderr of the example:\n%s", err.c_str());
    H_CHECK(err.empty(), "the example wrote %zu bytes to stderr", err.size());
  }
  if (failures() > 0) {
    std::printf("%d check(s) failed\n", failures());
    return 1;
  }
  std::printf("all checks passed\n");
  return 0;
}

// ---- Scenarios -------------------------------------------------------------
// What every example test does around its scenarios: pick one by name, queue
// it for when the example's loop starts with a watchdog armed, close the
// window at the end, and check that the program then ended promptly.

// The scenario named by argv[1] if it is one of `names`; otherwise prints the
// usage and returns the empty string.
inline std::string pick_scenario(int argc, char **argv, std::initializer_list<const char *> names)
{
  std::string usage;
  for (const char *name : names) {
    if (argc == 2 && std::strcmp(argv[1], name) == 0)
      return name;
    usage += usage.empty() ? name : std::string(" | ") + name;
  }
  std::fprintf(stderr, "usage: %s %s\n", argv[0], usage.c_str());
  return std::string();
}

// Called inside the example's QApplication constructor (from a
// Q_COREAPP_STARTUP_FUNCTION): runs `scenario` once the example enters its
// event loop, and fails the test if it has not finished after `seconds`
// (scaled by the suite's time scale).
inline void queue_scenario(void (*scenario)(), int seconds)
{
  QMetaObject::invokeMethod(QCoreApplication::instance(), scenario, Qt::QueuedConnection);
  QTimer::singleShot(seconds * 1000 * kSlowdown, QCoreApplication::instance(), [seconds] {
    fail(__FILE__, __LINE__,
         "watchdog: the scenario did not finish within " + std::to_string(seconds * kSlowdown) + " s");
    QCoreApplication::exit(3);
  });
}

// Started when a scenario closes the example's window.
inline QElapsedTimer &close_clock()
{
  static QElapsedTimer clock;
  return clock;
}

// Closes the window (or, if the scenario never found one, quits) and starts
// close_clock().
inline void close_window(QWidget *window)
{
  close_clock().start();
  if (window != nullptr)
    window->close();
  else
    QCoreApplication::quit();
}

// For run_example's after_exit: the program ended at most max_ms after the
// window was closed.
inline void check_prompt_exit(qint64 max_ms)
{
  H_CHECK(close_clock().isValid(), "the window was never closed");
  qint64 ms = close_clock().elapsed();
  note("the program ended %lld ms after the window was closed", (long long)ms);
  H_CHECK(ms <= max_ms, "the program took %lld ms to end after the window closed", (long long)ms);
}

} // namespace harness

#endif
