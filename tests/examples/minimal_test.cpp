// minimal_test.cpp - drives the minimal example in-process: window layout, click-to-answer timing, overlapping clicks and closing mid-wait.

// Cases: click, double_click, close_mid_wait, stall_probe (run one with
// `minimal_test <case>`; see harness/harness.h).

#include "example.h"

#include <chrono>
#include <thread>

#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

using namespace example;

namespace {

const QString kInitial = QStringLiteral("The answer is 42.");
const QString kButton = QStringLiteral("What is the question?");
const QString kAnswer = QStringLiteral("What do you get if you multiply six by nine?");

// The answer comes one second after a click; allow for timer latency on a
// loaded machine, but not for a missing or doubled sleep.
constexpr qint64 kMinAnswerMs = 900;
const qint64 kMaxAnswerMs = 1600 + 1000 * (kSlowdown - 1);
// The longest the GUI thread may go without handling events.
const qint64 kMaxStallMs = 200;
// Closing the window must end the program this fast, pending sleep or not.
const qint64 kMaxExitMs = 1000 * kSlowdown;

struct Widgets {
  QMainWindow *window = nullptr;
  QLabel *label = nullptr;
  QPushButton *button = nullptr;
};

// Finds the widgets and checks the start-up window: a QMainWindow without a
// title whose central widget has a vertical box with the label above the
// button, both centred, showing the initial texts.
bool find_widgets(Widgets &w)
{
  QVBoxLayout *box = central_box(w.window, 2);
  if (box == nullptr)
    return false;
  w.label = qobject_cast<QLabel *>(box->itemAt(0)->widget());
  w.button = qobject_cast<QPushButton *>(box->itemAt(1)->widget());
  EXPECT(w.label != nullptr && w.button != nullptr, "the box does not hold a label, then a button");
  if (w.label == nullptr || w.button == nullptr)
    return false;
  EXPECT(box->itemAt(0)->alignment() == Qt::AlignCenter, "the label is not centred");
  EXPECT(box->itemAt(1)->alignment() == Qt::AlignCenter, "the button is not centred");
  EXPECT(w.label->text() == kInitial, "label reads '%s'", qPrintable(w.label->text()));
  EXPECT(w.button->text() == kButton, "button reads '%s'", qPrintable(w.button->text()));
  EXPECT(w.label->geometry().bottom() < w.button->geometry().top(),
         "the label (y=%d) is not above the button (y=%d)", w.label->y(), w.button->y());
  EXPECT(w.window->centralWidget()->findChildren<QWidget *>().size() == 2, "the window holds %d widgets, not 2",
         int(w.window->centralWidget()->findChildren<QWidget *>().size()));
  return true;
}

bool shows_answer(const Widgets &w)
{
  return w.label->text() == kAnswer;
}

// Waits for the answer and checks that it came one second after `since_ms`
// on `clock`. Returns the time it appeared, or -1.
qint64 expect_answer(const Widgets &w, const QElapsedTimer &clock, qint64 since_ms, const char *what)
{
  bool ok = wait_for([&] { return shows_answer(w); }, 3000 * kSlowdown);
  qint64 at = clock.elapsed();
  EXPECT(ok, "%s: no answer within %d s (label reads '%s')", what, 3 * kSlowdown, qPrintable(w.label->text()));
  if (!ok)
    return -1;
  qint64 delay = at - since_ms;
  note("%s: answer %lld ms after the click", what, (long long)delay);
  EXPECT(delay >= kMinAnswerMs && delay <= kMaxAnswerMs, "%s: answer after %lld ms, expected %lld..%lld",
         what, (long long)delay, (long long)kMinAnswerMs, (long long)kMaxAnswerMs);
  return at;
}

// One click: the label keeps its text for a while, then answers about 1 s
// after the click; the GUI keeps serving events and the process stays idle
// meanwhile.
void scenario_click(const Widgets &w)
{
  QElapsedTimer clock;
  clock.start();
  double cpu_before = test_cpu_seconds();
  w.button->click();
  EXPECT(w.label->text() == kInitial, "the label changed at once");
  wait_ms(500);
  EXPECT(w.label->text() == kInitial, "the label changed within 0.5 s: '%s'", qPrintable(w.label->text()));
  qint64 at = expect_answer(w, clock, 0, "click");
  double cpu = test_cpu_seconds() - cpu_before;

  // The wait is a timer, not a busy loop: the whole process (the test's own
  // 2 ms polling included) stays far below one core.
  if (at > 0) {
    double share = cpu / (at / 1000.0);
    note("CPU during the wait: %.3f s over %.3f s (%.0f%% of one core)", cpu, at / 1000.0, share * 100);
    EXPECT(share < 0.25, "the process used %.0f%% of a core while a task slept", share * 100);
  }
  wait_ms(300);
  EXPECT(shows_answer(w), "the answer did not stay: '%s'", qPrintable(w.label->text()));
}

// Two clicks 250 ms apart: both tasks run to their end and each answers one
// second after its own click. Putting the old text back after the first
// answer makes the second task's answer visible. Then nothing else happens,
// and a click much later still works.
void scenario_double_click(const Widgets &w)
{
  QElapsedTimer clock;
  clock.start();
  w.button->click();
  wait_ms(250);
  qint64 second = clock.elapsed();
  EXPECT(second < 250 + 50 * kSlowdown, "the second click came %lld ms after the first, not within %d ms",
         (long long)second, 250 + 50 * kSlowdown);
  EXPECT(w.label->text() == kInitial, "the label changed before the second click");
  w.button->click();

  qint64 first_at = expect_answer(w, clock, 0, "first click");
  w.label->setText(kInitial);
  qint64 reset_at = clock.elapsed();
  // The second task sleeps until at least one second after its click; the
  // reset must come before that for its answer to be told apart.
  EXPECT(first_at < 0 || reset_at < second + 1000,
         "the first answer came too late (%lld ms) to observe the second task", (long long)first_at);
  expect_answer(w, clock, second, "second click");

  w.label->setText(kInitial);
  wait_ms(1500);
  EXPECT(w.label->text() == kInitial, "something changed the label after both tasks answered");

  QElapsedTimer later;
  later.start();
  w.button->click();
  expect_answer(w, later, 0, "a later click");
}

// Closing the window while a task sleeps ends the program cleanly.
void scenario_close_mid_wait(const Widgets &w)
{
  w.button->click();
  wait_ms(400);
  EXPECT(w.label->text() == kInitial, "the label changed within 0.4 s");
}

// Checks the checker: a deliberate 300 ms block of the GUI thread must show
// up as a stall at least that long, or the stall checks of the other
// scenarios would prove nothing.
void scenario_stall_probe()
{
  QTimer::singleShot(100, [] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); });
  wait_ms(600);
  note("a 300 ms block was measured as %.1f ms", probe().max_gap);
  EXPECT(probe().max_gap >= 290, "a 300 ms block of the GUI thread was measured as %.1f ms", probe().max_gap);
}

void run_minimal(void (*scenario)())
{
  run({"guestloop-minimal"}, scenario, [] { check_prompt_exit(kMaxExitMs); });
}

} // namespace

CPP_TEST(click) { run_minimal([] { drive(find_widgets, scenario_click, kMaxStallMs); }); }
CPP_TEST(double_click) { run_minimal([] { drive(find_widgets, scenario_double_click, kMaxStallMs); }); }
CPP_TEST(close_mid_wait) { run_minimal([] { drive(find_widgets, scenario_close_mid_wait, kMaxStallMs); }); }
CPP_TEST(stall_probe)
{
  run_minimal([] {
    probe().start();
    scenario_stall_probe();
    close_window(main_window());
  });
}

int main(int argc, char **argv) { return cpp_test::main(argc, argv); }
