// example.h - what the example tests need beyond the one harness: running an example's main() in-process with a scenario queued, its stderr and Qt messages checked, event-loop waits and a stall probe.

// Each example test links the unmodified example's C source, compiled with
// its main() renamed to example_main(), and calls it. The scenario gets in
// through Q_COREAPP_STARTUP_FUNCTION, which Qt runs while the example
// creates its QApplication; from there it is queued, and runs once the
// example enters the event loop. So the test sees the real program, built by
// the real code, and drives it like a user would.
//
// Everything else is the one test harness's (harness/harness.hpp): each
// scenario is a CPP_TEST case, chosen by name and registered as a ctest test
// by gloop_add_listed_tests(); the watchdog, the report of a failed check,
// a hang or a crash, and the exit codes are those of every other suite.
// Checks are EXPECT(...): a failing scenario goes on, so that one run
// reports everything that is wrong, and the runner fails the case at the
// end. Include this header in one source file per program: it holds the
// startup function.
#ifndef GLOOP_TESTS_EXAMPLE_H
#define GLOOP_TESTS_EXAMPLE_H

#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QMainWindow>
#include <QString>
#include <QTimer>
#include <QVBoxLayout>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>
#include <fcntl.h>
#include <unistd.h>

#include "harness/harness.hpp"

extern "C" int example_main(int argc, char **argv);

namespace example {

// Sanitizer, valgrind and emulated builds run several times slower, most of
// it inside Qt's painting with an intercepted allocator. There the upper time
// limits stretch by kSlowdown, the suite's time scale (test_time_scale()),
// and stalls are reported but not held against a limit: they would measure
// the tool, not the program.
inline const int kSlowdown = static_cast<int>(test_time_scale());
inline const bool kEnforceStalls = kSlowdown == 1;

// A line of progress on stdout.
inline void note(const char *fmt, ...) TEST_PRINTF(1, 2);
inline void note(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::putchar('\n');
  std::fflush(stdout);
}

// Qt messages: echoed to stdout with a prefix. Critical and fatal messages,
// and any warning about threads (a widget touched from the wrong thread),
// count as failures. (The offscreen platform prints harmless notices that
// are not the example's, so Qt's messages do not go to the captured stderr.)
inline void qt_message_handler(QtMsgType type, const QMessageLogContext &, const QString &msg)
{
  std::printf("qt: %s\n", msg.toLocal8Bit().constData());
  std::fflush(stdout);
  if (type == QtCriticalMsg || type == QtFatalMsg ||
      (type == QtWarningMsg && msg.contains(QLatin1String("thread"), Qt::CaseInsensitive)))
    TEST_EXPECT_FAIL("Qt reported: %s", msg.toLocal8Bit().constData());
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
  EXPECT(p.max_gap <= limit_ms, "the GUI thread stalled for %.1f ms", p.max_gap);
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

// The example's QMainWindow, checked to exist and to be shown (nullptr if
// there is none).
inline QMainWindow *main_window()
{
  QMainWindow *window = nullptr;
  for (QWidget *w : QApplication::topLevelWidgets())
    if ((window = qobject_cast<QMainWindow *>(w)) != nullptr)
      break;
  EXPECT(window != nullptr, "no QMainWindow among the top-level widgets");
  if (window != nullptr)
    EXPECT(window->isVisible(), "the window is not shown");
  return window;
}

// The vertical box of `count` items that the window's central widget is
// laid out with (nullptr, after a failed check, if it is not that).
inline QVBoxLayout *central_box(QMainWindow *window, int count)
{
  EXPECT(window->windowTitle().isEmpty(), "window title is '%s'", qPrintable(window->windowTitle()));
  QWidget *central = window->centralWidget();
  auto *box = central != nullptr ? qobject_cast<QVBoxLayout *>(central->layout()) : nullptr;
  EXPECT(box != nullptr && box->count() == count, "the central widget has no vertical box of %d items",
         count);
  return box != nullptr && box->count() == count ? box : nullptr;
}

// ---- Running the example ---------------------------------------------------

// The scenario the next example_main() runs once it enters its event loop.
inline std::function<void()> &pending_scenario()
{
  static std::function<void()> scenario;
  return scenario;
}

// Runs example_main(args) with stderr captured and `scenario` queued for
// when its event loop starts (the harness's watchdog is the limit; a case
// with a longer scenario arms it itself), then checks the exit status and
// that stderr stayed empty; after_exit, if given, adds checks of its own once
// example_main has returned.
inline void run(std::vector<std::string> args, std::function<void()> scenario,
                const std::function<void()> &after_exit = nullptr, int expected_exit = 0)
{
  qInstallMessageHandler(qt_message_handler);
  std::vector<char *> argv;
  for (std::string &a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  pending_scenario() = std::move(scenario);
  test_capture_begin();
  int rc = example_main(static_cast<int>(args.size()), argv.data());
  std::string err = test_capture_end();
  if (after_exit)
    after_exit();

  EXPECT(rc == expected_exit, "the example exited with %d, expected %d", rc, expected_exit);
  EXPECT(err.empty(), "the example wrote %zu bytes to stderr (above)", err.size());
}

// Called inside the example's QApplication constructor.
inline void queue_pending_scenario()
{
  if (pending_scenario())
    QMetaObject::invokeMethod(QCoreApplication::instance(), pending_scenario(), Qt::QueuedConnection);
}
Q_COREAPP_STARTUP_FUNCTION(queue_pending_scenario)

// The harness's own outcome cases (harness_fail, _hang, _crash) run as a
// scenario inside the example, with its stderr captured, as every case here.
inline const bool selftest_host_set = [] {
  test_selftest_host = [](void (*body)(void)) { run({"example"}, body); };
  return true;
}();

// ---- Closing ----------------------------------------------------------------

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

// What every scenario of a window-driving test does around its own part:
// w.window is the example's main window, checked to be shown; find(w) finds
// the widgets in it, checks them and says whether the part can go on; the
// run's main task gets time to open and publish its nursery
// (a real user cannot click within the first frame either); then the part
// runs, the GUI thread's longest stall is checked against stall_limit_ms
// (if >= 0), and the window (w.window) is closed.
template <class Widgets>
void drive(bool (*find)(Widgets &), void (*part)(const Widgets &), double stall_limit_ms = -1)
{
  probe().start();
  Widgets w;
  w.window = main_window();
  if (w.window != nullptr && find(w)) {
    wait_ms(300);
    part(w);
  }
  if (stall_limit_ms >= 0)
    check_stall_probe(stall_limit_ms);
  close_window(w.window);
}

// For run()'s after_exit: the program ended at most max_ms after the
// window was closed.
inline void check_prompt_exit(qint64 max_ms)
{
  EXPECT(close_clock().isValid(), "the window was never closed");
  qint64 ms = close_clock().elapsed();
  note("the program ended %lld ms after the window was closed", (long long)ms);
  EXPECT(ms <= max_ms, "the program took %lld ms to end after the window closed", (long long)ms);
}

} // namespace example

#endif
