// worker_test.cpp - drives the worker example in-process: the window, a full count with progress and its result box, Cancel within one chunk, and closing mid-job.

// Cases: run, cancel, close_mid_job (run one with `worker_test <case>`; see
// harness/harness.h).

#include "example.h"

#include <QLabel>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>

using namespace example;

namespace {

// pi(2 000 000): the number of primes below two million (a published value).
constexpr unsigned long kSmallLimit = 2000000;
constexpr int kSmallPrimes = 148933;
// A limit whose count takes many seconds, so that a job is surely still
// running when the test cancels it or closes the window. One chunk of it
// takes longer than the exit limit below unless the worker notices the
// cancellation inside the chunk.
constexpr unsigned long kBigLimit = 400000000;
// Closing the window mid-job must end the program this fast.
const qint64 kMaxExitMs = 1000 * kSlowdown;

struct Widgets {
  QMainWindow *window = nullptr;
  QProgressBar *bar = nullptr;
  QLabel *label = nullptr;
  QPushButton *start = nullptr;
  QPushButton *cancel = nullptr;
};

// Finds the widgets by their object names and checks the idle window.
bool find_widgets(Widgets &w)
{
  w.bar = w.window->findChild<QProgressBar *>(QStringLiteral("progress"));
  w.label = w.window->findChild<QLabel *>(QStringLiteral("result"));
  w.start = w.window->findChild<QPushButton *>(QStringLiteral("start"));
  w.cancel = w.window->findChild<QPushButton *>(QStringLiteral("cancel"));
  EXPECT(w.bar && w.label && w.start && w.cancel, "missing widgets: bar %p label %p start %p cancel %p",
         (void *)w.bar, (void *)w.label, (void *)w.start, (void *)w.cancel);
  if (!(w.bar && w.label && w.start && w.cancel))
    return false;
  EXPECT(w.bar->minimum() == 0 && w.bar->maximum() == 100 && w.bar->value() == 0,
         "the bar is %d..%d at %d, expected 0..100 at 0", w.bar->minimum(), w.bar->maximum(), w.bar->value());
  EXPECT(w.start->text() == QStringLiteral("Start") && w.cancel->text() == QStringLiteral("Cancel"),
         "buttons read '%s' and '%s'", qPrintable(w.start->text()), qPrintable(w.cancel->text()));
  EXPECT(w.start->isEnabled() && !w.cancel->isEnabled(), "idle: Start enabled %d, Cancel enabled %d",
         w.start->isEnabled(), w.cancel->isEnabled());
  return true;
}

QMessageBox *find_box()
{
  for (QWidget *top : QApplication::topLevelWidgets())
    if (auto *box = qobject_cast<QMessageBox *>(top))
      if (box->isVisible())
        return box;
  return nullptr;
}

// Clicks Start and waits until the job has made some progress (Cancel is
// then enabled and the bar above zero).
bool start_and_progress(const Widgets &w, int at_least)
{
  w.start->click();
  EXPECT(!w.start->isEnabled(), "Start stayed enabled after the click");
  bool ok = wait_for([&] { return w.bar->value() >= at_least; }, 20000 * kSlowdown);
  EXPECT(ok, "the bar did not reach %d (it reads %d)", at_least, w.bar->value());
  EXPECT(w.cancel->isEnabled(), "Cancel is not enabled while the job runs");
  return ok;
}

// A whole count of the primes below two million: the bar moves through
// intermediate values to 100, the label and a message box give the right
// count, and OK on the box brings the idle buttons back. A second Start
// click meanwhile does not start a second job.
void scenario_run(const Widgets &w)
{
  w.start->click();
  w.start->click(); // disabled: ignored
  int seen_between = 0, last = 0;
  bool boxed = wait_for(
      [&] {
        int v = w.bar->value();
        EXPECT(v >= last, "the bar went back from %d to %d", last, v);
        if (v > 0 && v < 100)
          ++seen_between;
        last = v;
        return find_box() != nullptr;
      },
      30000 * kSlowdown);
  EXPECT(boxed, "no result box within %d s (the bar reads %d)", 30 * kSlowdown, w.bar->value());
  EXPECT(seen_between > 0, "the bar never showed a value between 0 and 100");
  EXPECT(w.bar->value() == 100, "the bar ends at %d", w.bar->value());
  const QString expected = QStringLiteral("There are %1 primes below %2.").arg(kSmallPrimes).arg(kSmallLimit);
  EXPECT(w.label->text() == expected, "label reads '%s'", qPrintable(w.label->text()));
  QMessageBox *box = find_box();
  if (box == nullptr)
    return;
  EXPECT(box->text() == expected, "the box reads '%s'", qPrintable(box->text()));
  EXPECT(!w.start->isEnabled(), "Start is enabled while the result box is open");
  auto *ok = box->findChild<QAbstractButton *>(QStringLiteral("ok"));
  EXPECT(ok != nullptr, "the box has no OK button");
  if (ok != nullptr)
    ok->click();
  bool idle = wait_for([&] { return w.start->isEnabled(); }, 5000 * kSlowdown);
  EXPECT(idle, "Start did not come back after OK");
  EXPECT(!w.cancel->isEnabled(), "Cancel is still enabled after the job");
}

// Cancel mid-job: the job stops within the chunk it is in (the bar moves
// at most one more step), the label says so, no box opens, the worker stops
// burning CPU, and a new Start works afterwards.
void scenario_cancel(const Widgets &w)
{
  // Time one whole chunk (the third), then cancel as the fourth, a longer
  // one, has just begun. A worker that did not look at
  // gloop_thread_check_cancelled() would finish that chunk first, so the
  // label would come at least one chunk's time after the click.
  if (!start_and_progress(w, 2))
    return;
  QElapsedTimer clock;
  clock.start();
  wait_for([&] { return w.bar->value() >= 3; }, 20000 * kSlowdown);
  qint64 chunk_ms = clock.elapsed();
  int at_click = w.bar->value();
  clock.restart();
  w.cancel->click();
  bool done = wait_for([&] { return w.label->text().startsWith(QStringLiteral("Cancelled after")); },
                       10000 * kSlowdown);
  qint64 latency_ms = clock.elapsed();
  EXPECT(done, "no 'Cancelled' within %d s: label reads '%s'", 10 * kSlowdown, qPrintable(w.label->text()));
  int at_end = w.bar->value();
  note("a chunk took %lld ms; cancelled at %d%% and %lld ms later the bar stopped at %d%%",
       (long long)chunk_ms, at_click, (long long)latency_ms, at_end);
  EXPECT(latency_ms < chunk_ms / 2, "Cancel took %lld ms to stop the job, a chunk takes %lld ms",
         (long long)latency_ms, (long long)chunk_ms);
  EXPECT(at_end <= at_click + 1, "the job went on from %d to %d chunks after Cancel", at_click, at_end);
  EXPECT(w.label->text() == QStringLiteral("Cancelled after %1%.").arg(at_end), "label reads '%s'",
         qPrintable(w.label->text()));
  EXPECT(w.start->isEnabled() && !w.cancel->isEnabled(), "after Cancel: Start %d, Cancel %d",
         w.start->isEnabled(), w.cancel->isEnabled());
  EXPECT(find_box() == nullptr, "a result box opened after Cancel");

  // No worker keeps counting in the background: the process idles. (The
  // test's own 2 ms polling costs a few per cent of a core.)
  double cpu_before = test_cpu_seconds();
  QElapsedTimer idle;
  idle.start();
  wait_ms(500);
  double share = (test_cpu_seconds() - cpu_before) / (idle.elapsed() / 1000.0);
  note("CPU after Cancel: %.0f%% of one core", share * 100);
  EXPECT(share < 0.5, "the process used %.0f%% of a core after Cancel", share * 100);

  // A stale Cancel click (no job) is harmless, and Start works again.
  w.cancel->setEnabled(true);
  w.cancel->click();
  w.cancel->setEnabled(false);
  start_and_progress(w, at_end + 1);
  w.cancel->click();
  wait_for([&] { return w.start->isEnabled(); }, 10000 * kSlowdown);
}

// Closing the window mid-job: checked after example_main returns.
void scenario_close_mid_job(const Widgets &w)
{
  start_and_progress(w, 1);
}

// A whole job of `limit` takes many seconds under a sanitizer: the case's
// limit is 60 s (scaled), not the harness's default 30 s.
void run_worker(unsigned long limit, void (*scenario)())
{
  test_watchdog(60);
  run({"guestloop-worker", "--limit", std::to_string(limit)}, scenario,
      [] { check_prompt_exit(kMaxExitMs); });
}

} // namespace

CPP_TEST(run) { run_worker(kSmallLimit, [] { drive(find_widgets, scenario_run); }); }
CPP_TEST(cancel) { run_worker(kBigLimit, [] { drive(find_widgets, scenario_cancel); }); }
CPP_TEST(close_mid_job) { run_worker(kBigLimit, [] { drive(find_widgets, scenario_close_mid_job); }); }

int main(int argc, char **argv) { return cpp_test::main(argc, argv); }
