// qt_support.cpp - raw-Qt helpers for the C tests and benchmark: one-shot timers, the responsiveness probe, exit.
#include "qt_support.h"

#include <time.h>

#include <QApplication>
#include <QDialog>
#include <QMessageBox>
#include <QByteArray>
#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QMetaMethod>
#include <QMetaObject>
#include <QObject>
#include <QTimer>
#include <QWidget>


namespace {

/* The probe's state; one probe at a time is all the tests need. */
struct Probe {
  QTimer *timer = nullptr;
  QElapsedTimer clock;
  qint64 last_ns = 0;
  qint64 max_gap_ns = 0;
  qint64 last_cpu_ns = 0;
  qint64 max_cpu_gap_ns = 0;
  int ticks = 0;
} probe;

qint64 thread_cpu_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return qint64(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void probe_mark() {
  qint64 now = probe.clock.nsecsElapsed(), cpu = thread_cpu_ns();
  if (now - probe.last_ns > probe.max_gap_ns) probe.max_gap_ns = now - probe.last_ns;
  if (cpu - probe.last_cpu_ns > probe.max_cpu_gap_ns) probe.max_cpu_gap_ns = cpu - probe.last_cpu_ns;
  probe.last_ns = now;
  probe.last_cpu_ns = cpu;
}

/* QObject::isSignalConnected() is protected; a using-declaration in a
 * derived class makes a pointer to it nameable, and calling through that
 * pointer on any QObject is well-formed. */
struct SignalPeek : QObject {
  using QObject::isSignalConnected;
};

}  // namespace

extern "C" {

void qts_after(int ms, qts_fn fn, void *data) {
  QTimer::singleShot(ms, Qt::PreciseTimer, QCoreApplication::instance(), [fn, data] { fn(data); });
}

void qts_probe_start(int interval_ms) {
  delete probe.timer;
  probe = Probe();
  probe.timer = new QTimer;
  probe.timer->setTimerType(Qt::PreciseTimer);
  probe.timer->setInterval(interval_ms);
  QObject::connect(probe.timer, &QTimer::timeout, [] {
    probe.ticks++;
    probe_mark();
  });
  probe.clock.start();
  probe.last_cpu_ns = thread_cpu_ns();
  probe.timer->start();
}

void qts_probe_stop(int *ticks, double *max_gap_ms, double *max_cpu_gap_ms) {
  if (probe.timer != nullptr) {
    probe_mark();
    delete probe.timer;
    probe.timer = nullptr;
  }
  *ticks = probe.ticks;
  *max_gap_ms = probe.max_gap_ns / 1e6;
  if (max_cpu_gap_ms != nullptr) *max_cpu_gap_ms = probe.max_cpu_gap_ns / 1e6;
}

void qts_exit(int code) { QCoreApplication::exit(code); }

void qts_process_events(int ms) {
  QEventLoop loop;
  QTimer::singleShot(ms, Qt::PreciseTimer, &loop, &QEventLoop::quit);
  loop.exec();
}

gloop_qt_widget *qts_dialog_new(void) { return reinterpret_cast<gloop_qt_widget *>(new QDialog); }

void qts_dialog_done(gloop_qt_widget *dialog, int code) {
  reinterpret_cast<QDialog *>(dialog)->done(code);
}

int qts_modality(gloop_qt_widget *w) {
  return static_cast<int>(reinterpret_cast<QWidget *>(w)->windowModality());
}

int qts_box_icon(gloop_qt_widget *box) {
  return static_cast<int>(reinterpret_cast<QMessageBox *>(box)->icon());
}

int qts_visible(gloop_qt_widget *w) { return reinterpret_cast<QWidget *>(w)->isVisible() ? 1 : 0; }

int qts_top_level_count(void) { return static_cast<int>(QApplication::topLevelWidgets().size()); }

int qts_signal_connected(gloop_qt_object *obj, const char *signal) {
  QObject *o = reinterpret_cast<QObject *>(obj);
  QByteArray sig = QMetaObject::normalizedSignature(signal);
  int index = o->metaObject()->indexOfSignal(sig.constData());
  if (index < 0) return -1;
  bool (QObject::*connected)(const QMetaMethod &) const = &SignalPeek::isSignalConnected;
  return (o->*connected)(o->metaObject()->method(index)) ? 1 : 0;
}


}  // extern "C"
