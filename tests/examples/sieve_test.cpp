// sieve_test.cpp - drives the sieve example in-process: start-up window, the animation's invariants sampled while it runs, the final grid, GUI stalls and closing mid-run.

// Cases (run one with `sieve_test <case>`; see harness/harness.h):
//   run            --tick 0.002 --seed 20240601 --quit-when-done: the whole
//                  animation, then the final state and the exit status.
//   close_mid_run  default tick: the first seconds, then the window is closed.
#include "example.h"

#include <QGridLayout>
#include <QLabel>
#include <QSet>
#include <QVBoxLayout>

#include <numeric>

using namespace example;

namespace {

constexpr int kRows = 40;
constexpr int kCols = 40;
constexpr int kNum = kRows * kCols;
constexpr int kComposites = 1348; // 1600 cells less 1 and the 251 primes
constexpr double kRunTick = 0.002;
const qint64 kMaxStallMs = 200;
const qint64 kMaxExitMs = 1000 * kSlowdown;

const QString kCalculating = QString::fromUtf8(u8"\u2699\uFE0F ...Calculating prime numbers... \u2699\uFE0F");
const QString kHacking =
    QString::fromUtf8(u8"\U0001F469\u200D\U0001F4BB ...Hacking the universe... \U0001F469\u200D\U0001F4BB");
const QString kDone = QString::fromUtf8(
    u8"\U0001F973 Congratulations! You found all the prime numbers and solved mathematics. \U0001F973");

bool g_whole_run; // the run case: the example quits by itself
QElapsedTimer g_clock;       // started when the scenario starts

bool is_composite[kNum + 1];

void compute_composites()
{
  for (int n = 2; n <= kNum; n++)
    for (int m = 2 * n; m <= kNum; m += n)
      is_composite[m] = true;
}

// What the sampler has seen so far.
struct Seen {
  QMainWindow *window = nullptr;
  QLabel *status = nullptr;
  QLabel *cells[kNum + 1] = {};
  int default_point_size = 0;
  QRgb default_colour = 0;
  QRgb colour[kNum + 1] = {}; // colour of a bold cell when first seen bold
  bool bold[kNum + 1] = {};
  int bold_count = 0;
  QString last_status;
  int status_changes = 0;
  QSet<QString> statuses;
  qint64 done_seen_ms = -1;
  int samples = 0;
  bool broken = false; // structure wrong: stop sampling
};

Seen g_seen;

// E1: a title-less QMainWindow whose central widget holds a vertical box
// with the empty 14 pt status label above a container with a 40 x 40 grid of
// centred labels reading 1..1600 row by row; nothing else; nothing marked.
bool check_window()
{
  Seen &s = g_seen;
  s.window = main_window();
  if (s.window == nullptr)
    return false;
  QVBoxLayout *box = central_box(s.window, 2);
  if (box == nullptr)
    return false;
  QWidget *central = s.window->centralWidget();
  s.status = qobject_cast<QLabel *>(box->itemAt(0)->widget());
  QWidget *container = box->itemAt(1)->widget();
  auto *grid = container != nullptr ? qobject_cast<QGridLayout *>(container->layout()) : nullptr;
  EXPECT(s.status != nullptr && grid != nullptr, "the box does not hold a label, then a grid");
  if (s.status == nullptr || grid == nullptr)
    return false;
  EXPECT(box->itemAt(0)->alignment() == Qt::AlignCenter, "the status label is not centred");
  EXPECT(box->itemAt(1)->alignment() == Qt::AlignCenter, "the grid is not centred");
  EXPECT(s.status->text().isEmpty(), "the status starts as '%s'", qPrintable(s.status->text()));
  EXPECT(s.status->font().pointSize() == 14, "the status font is %d pt", s.status->font().pointSize());
  EXPECT(!s.status->font().bold(), "the status font is bold");
  EXPECT(grid->rowCount() == kRows && grid->columnCount() == kCols, "the grid is %d x %d",
         grid->rowCount(), grid->columnCount());
  EXPECT(grid->count() == kNum, "the grid holds %d items", grid->count());

  for (int r = 0; r < kRows; r++) {
    for (int c = 0; c < kCols; c++) {
      int n = r * kCols + c + 1;
      QLayoutItem *item = grid->itemAtPosition(r, c);
      auto *label = item != nullptr ? qobject_cast<QLabel *>(item->widget()) : nullptr;
      EXPECT(label != nullptr, "no label at row %d, column %d", r, c);
      if (label == nullptr)
        return false;
      s.cells[n] = label;
      EXPECT(item->alignment() == Qt::AlignCenter, "cell %d is not centred", n);
      EXPECT(label->text() == QString::number(n), "cell %d reads '%s'", n, qPrintable(label->text()));
      EXPECT(!label->font().bold(), "cell %d starts bold", n);
    }
  }
  s.default_point_size = s.cells[1]->font().pointSize();
  s.default_colour = s.cells[1]->palette().color(QPalette::WindowText).rgb();
  for (int n = 2; n <= kNum; n++)
    EXPECT(s.cells[n]->palette().color(QPalette::WindowText).rgb() == s.default_colour,
           "cell %d starts with another colour", n);
  EXPECT(central->findChildren<QLabel *>().size() == kNum + 1, "the window holds %d labels",
         int(central->findChildren<QLabel *>().size()));
  EXPECT(central->findChildren<QWidget *>().size() == kNum + 2, "the window holds %d widgets",
         int(central->findChildren<QWidget *>().size()));
  return true;
}

bool channel_ok(int v)
{
  return v >= 64 && v <= 192;
}

// Takes one snapshot of every cell and of the status, and checks what must
// hold at every instant (E5, E6, E8): texts never change; a cell turns bold
// at most once, only if composite, with a colour whose channels lie in
// 64..192 and a font of the default size, and never changes afterwards; the
// status shows only the three known texts, the final one last.
void sample()
{
  Seen &s = g_seen;
  if (s.broken || s.status == nullptr)
    return;
  ++s.samples;
  for (int n = 1; n <= kNum; n++) {
    QLabel *label = s.cells[n];
    bool bold = label->font().bold();
    QRgb colour = label->palette().color(QPalette::WindowText).rgb();
    if (label->text() != QString::number(n)) {
      TEST_EXPECT_FAIL("cell %d now reads '%s'", n, qPrintable(label->text()));
      s.broken = true;
      return;
    }
    if (s.bold[n]) {
      if (!bold || colour != s.colour[n]) {
        TEST_EXPECT_FAIL("cell %d changed after it was marked (bold %d, colour %06x -> %06x)", n, bold,
                         s.colour[n] & 0xffffff, colour & 0xffffff);
        s.broken = true;
        return;
      }
      continue;
    }
    if (!bold) {
      if (colour != s.default_colour) {
        TEST_EXPECT_FAIL("cell %d changed colour but is not bold", n);
        s.broken = true;
        return;
      }
      continue;
    }
    s.bold[n] = true;
    s.colour[n] = colour;
    ++s.bold_count;
    bool ok = is_composite[n] && channel_ok(qRed(colour)) && channel_ok(qGreen(colour)) &&
              channel_ok(qBlue(colour)) && label->font().pointSize() == s.default_point_size;
    if (!ok) {
      TEST_EXPECT_FAIL("cell %d marked wrongly (composite %d, colour %06x, %d pt)", n, is_composite[n],
                       colour & 0xffffff, label->font().pointSize());
      s.broken = true;
      return;
    }
  }

  QString text = s.status->text();
  if (text != s.last_status) {
    if (s.last_status == kDone || !(text == kCalculating || text == kHacking || text == kDone)) {
      TEST_EXPECT_FAIL("status went from '%s' to '%s'", qPrintable(s.last_status), qPrintable(text));
      s.broken = true;
      return;
    }
    if (!s.last_status.isEmpty())
      ++s.status_changes;
    s.last_status = text;
    s.statuses.insert(text);
    note("%lld ms: status '%s', %d cells bold", (long long)g_clock.elapsed(),
         text == kDone ? "done" : text == kCalculating ? "calculating" : "hacking", s.bold_count);
    if (text == kDone)
      s.done_seen_ms = g_clock.elapsed();
  }
}

// E7, E8, E9: exactly the composites are bold, and the cells of each colour
// are multiples of a common base >= 2.
void check_final_grid()
{
  Seen &s = g_seen;
  sample();
  int bold = 0, composites = 0;
  QHash<QRgb, int> gcd_of_colour;
  for (int n = 1; n <= kNum; n++) {
    composites += is_composite[n];
    bold += s.bold[n];
    EXPECT(s.bold[n] == is_composite[n], "cell %d: bold %d, composite %d", n, s.bold[n], is_composite[n]);
    if (s.bold[n])
      gcd_of_colour[s.colour[n]] = std::gcd(gcd_of_colour.value(s.colour[n], 0), n);
  }
  EXPECT(composites == kComposites, "counted %d composites", composites);
  EXPECT(bold == kComposites, "%d cells are bold, expected %d", bold, kComposites);
  for (auto it = gcd_of_colour.cbegin(); it != gcd_of_colour.cend(); ++it)
    EXPECT(it.value() >= 2, "the cells coloured %06x have no common factor", it.key() & 0xffffff);
  note("%d bold cells in %d colours; %d samples", bold, int(gcd_of_colour.size()), s.samples);
}

void check_stalls()
{
  check_stall_probe(kMaxStallMs);
  // The probe must really have run all along, or a silent probe would pass.
  qint64 expected = g_clock.elapsed() / 2;
  if (kEnforceStalls)
    EXPECT(probe().polls >= expected / 4, "only %ld probes in %lld ms", probe().polls,
           (long long)g_clock.elapsed());
}

// The run scenario ends when the example quits by itself (--quit-when-done).
void on_about_to_quit()
{
  Seen &s = g_seen;
  check_final_grid();
  EXPECT(s.last_status == kDone, "the status reads '%s' at the end", qPrintable(s.last_status));
  // The final text waits for the longest marker, the one for 2, which sleeps
  // one tick per multiple: 799 ticks at least, whatever the machine.
  qint64 min_ms = qint64(799 * kRunTick * 1000);
  EXPECT(s.done_seen_ms >= min_ms, "the final text came after %lld ms, before %lld ms",
         (long long)s.done_seen_ms, (long long)min_ms);
  note("final text after %lld ms; %d status changes", (long long)s.done_seen_ms, s.status_changes);
  check_stalls();
}

void close_mid_run()
{
  Seen &s = g_seen;
  sample();
  // E4: over 2.6 s the clock passes at least two whole seconds, so both
  // status texts have shown, and the text flips about once a second.
  EXPECT(s.statuses.contains(kCalculating) && s.statuses.contains(kHacking),
         "not both status texts seen (%d distinct)", int(s.statuses.size()));
  EXPECT(s.status_changes >= 1 && s.status_changes <= 4, "%d status changes in 2.6 s", s.status_changes);
  // E5: markers are busy; upstream marks about 36 cells in the first second.
  EXPECT(s.bold_count >= 36 && s.bold_count < kComposites, "%d cells bold after 2.6 s", s.bold_count);
  note("after %lld ms: %d cells bold, %d status changes", (long long)g_clock.elapsed(), s.bold_count,
       s.status_changes);
  check_stalls();
  close_window(s.window);
}

void start_scenario()
{
  g_clock.start();
  probe().start();
  if (!check_window()) {
    g_seen.broken = true;
    QCoreApplication::quit();
    return;
  }
  sample();

  // The stall probe: a 2 ms precise timer on the GUI thread. The sampler: a
  // full snapshot every 25 ms.
  auto *app = QCoreApplication::instance();
  auto *prober = new QTimer(app);
  prober->setTimerType(Qt::PreciseTimer);
  QObject::connect(prober, &QTimer::timeout, [] { probe().poll(); });
  prober->start(2);
  auto *sampler = new QTimer(app);
  QObject::connect(sampler, &QTimer::timeout, sample);
  sampler->start(25);

  if (g_whole_run) {
    QObject::connect(app, &QCoreApplication::aboutToQuit, on_about_to_quit);
  } else {
    // E2, E3: the animation starts by itself; the status and cell 4 show up
    // within a few ticks.
    QTimer::singleShot(300 * kSlowdown, app, [] {
      sample();
      EXPECT(g_seen.last_status == kCalculating || g_seen.last_status == kHacking,
             "the status reads '%s' after %d ms", qPrintable(g_seen.last_status), 300 * kSlowdown);
      EXPECT(g_seen.bold[4], "cell 4 is not marked after %d ms", 300 * kSlowdown);
    });
    QTimer::singleShot(2600, app, close_mid_run);
  }
}

} // namespace

// The sieve's whole animation takes many seconds under a sanitizer: both
// cases' limit is 60 s (scaled), not the harness's default 30 s.
CPP_TEST(run)
{
  test_watchdog(60);
  g_whole_run = true;
  compute_composites();
  run({"guestloop-sieve", "--tick", "0.002", "--seed", "20240601", "--quit-when-done"}, start_scenario);
}

CPP_TEST(close_mid_run)
{
  test_watchdog(60);
  compute_composites();
  run({"guestloop-sieve"}, start_scenario, [] { check_prompt_exit(kMaxExitMs); });
}

int main(int argc, char **argv) { return cpp_test::main(argc, argv); }
