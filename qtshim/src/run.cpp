// run.cpp - AsyncHelper: starting a guest run inside Qt's loop and tying its end to the application's quit.
#include "internal.hpp"

#include <QCoreApplication>
#include <QEvent>
#include <QMetaMethod>
#include <QTimer>

namespace gloop_qt_detail {
namespace {

/* Swallows the application's Quit event while a run is live. Every polite way
 * of ending a Qt application funnels into one QEvent::Quit sent or posted to
 * the application object: QCoreApplication::quit() (and so
 * gloop_qt_app_quit()), the platform's termination request, and the
 * automatic quit after the last window closed. Swallowing it keeps the loop
 * (and the windows) alive while the shim cancels the run; the run's done
 * callback then issues the quit again. The filter is installed on the
 * application only while a run is live, because an application-wide filter
 * sees every event of every object. QCoreApplication::exit() bypasses the
 * event and cannot be stopped; that path ends in run_host_ending(). */
class QuitFilter final : public QObject {
 public:
  bool eventFilter(QObject *watched, QEvent *e) override;
};

/* The shim's record of the one guest run it may have live on the GUI thread. */
struct RunState {
  bool live = false;
  /* A quit was swallowed and the run cancelled because of it: the done
   * callback must re-issue the quit, and the default report stays quiet
   * about the GLOOP_ECANCELED this causes. */
  bool quit_requested = false;
  gloop_done_fn done = nullptr;
  void *data = nullptr;
  QuitFilter *filter = nullptr;
};
RunState run;

bool QuitFilter::eventFilter(QObject *watched, QEvent *e) {
  if (e->type() != QEvent::Quit || watched != QCoreApplication::instance() || !run.live)
    return false;
  e->ignore();
  if (!run.quit_requested) {
    run.quit_requested = true;
    int rc = gloop_cancel_run();
    if (rc < 0)
      std::fprintf(stderr, "guestloop: cannot cancel the guest run on quit: %s (%s)\n",
                   gloop_strerror(rc), gloop_err_name(rc));
  }
  return true;
}

void filter_install() {
  if (run.filter != nullptr) return;
  run.filter = new QuitFilter;
  QCoreApplication::instance()->installEventFilter(run.filter);
}

void filter_remove() noexcept {
  /* A destroyed filter object is removed from the application's list. */
  delete run.filter;
  run.filter = nullptr;
}

void report_outcome(const gloop_outcome *o) {
  const char *msg = (o->message != nullptr && o->message[0] != '\0') ? o->message
                                                                     : gloop_strerror(o->status);
  std::fprintf(stderr, "guestloop: main task failed: %s (%s)\n", msg, gloop_err_name(o->status));
}

void run_done(const gloop_outcome *o, void *host_data) {
  (void)host_data;
  guarded_void("the guest run's done callback", [&] {
    gloop_done_fn done = run.done;
    void *data = run.data;
    bool quitting = run.quit_requested;
    /* Clear first: the user's callback may start the next run. */
    filter_remove();
    run = RunState();
    if (done != nullptr)
      done(o, data);
    else if (o->status < 0 && !(quitting && o->status == GLOOP_ECANCELED))
      report_outcome(o);
    /* Re-issue the quit that was held back, from a fresh pass of Qt's loop
     * so that the core has finished its last tick first. */
    if (quitting) QTimer::singleShot(0, QCoreApplication::instance(), &QCoreApplication::quit);
  });
}

/* Starts a run from a signal; one per gloop_qt_start_on_signal() call. Its
 * parent is the host receiver, so it lives in the GUI thread and dies with
 * the application at the latest; it also dies with its sender. */
class Starter final : public QObject {
  Q_OBJECT
 public:
  Starter(gloop_task_fn entry, void *arg, gloop_done_fn done, void *data, QObject *parent)
      : QObject(parent), entry_(entry), arg_(arg), done_(done), data_(data) {}
 public Q_SLOTS:
  void start() {
    int rc = gloop_qt_start(entry_, arg_, done_, data_, nullptr);
    if (rc < 0)
      std::fprintf(stderr, "guestloop: cannot start a guest run on signal: %s (%s)\n",
                   gloop_strerror(rc), gloop_err_name(rc));
  }

 private:
  gloop_task_fn entry_;
  void *arg_;
  gloop_done_fn done_;
  void *data_;
};

}  // namespace

void run_host_ending() noexcept {
  if (!run.live) return;
  std::fprintf(stderr, "guestloop: Qt quit before the guest run finished; run abandoned\n");
  int rc = gloop_abandon_run();
  if (rc == GLOOP_EBUSY) {
    /* Qt's loop ended inside a guest tick (a nested exec() in a task); the
     * run cannot be torn down from under its own stack. */
    std::fprintf(stderr, "guestloop: cannot abandon the guest run from inside it (%s)\n",
                 gloop_err_name(rc));
    return;
  }
  /* GLOOP_ENORUN means the core had already let go of the run; either way
   * its done callback will not come, so the shim's record ends here. */
  filter_remove();
  run = RunState();
  waits_release_all();
}

}  // namespace gloop_qt_detail

using namespace gloop_qt_detail;

extern "C" {

int gloop_qt_start(gloop_task_fn entry, void *arg, gloop_done_fn done_cb, void *data,
                   const gloop_options *opts) {
  return guarded(__func__, [&]() -> int {
    if (entry == nullptr) return GLOOP_EINVAL;
    int rc = gui_check();
    if (rc < 0) return rc;
    if (run.live) return GLOOP_ERUNNING;
    rc = host_ensure();
    if (rc < 0) return rc;
    gloop_options o;
    if (opts != nullptr)
      o = *opts;
    else
      gloop_options_init(&o);
    /* The Qt host brings its own cheap GUI-thread post; whatever the caller
     * put in that field would not know Qt's loop. */
    o.run_sync_soon_not_threadsafe = gloop_qt_post_not_threadsafe;
    /* The filter goes in before the run starts so that nothing can fail
     * after the core has accepted the run. */
    filter_install();
    rc = gloop_start_guest_run_ex(entry, arg, gloop_qt_post, run_done, nullptr, &o);
    if (rc < 0) {
      filter_remove();
      return rc;
    }
    run.live = true;
    run.quit_requested = false;
    run.done = done_cb;
    run.data = data;
    return 0;
  });
}

int gloop_qt_start_on_signal(gloop_qt_object *sender, const char *signal, gloop_task_fn entry,
                             void *arg, gloop_done_fn done_cb, void *data) {
  return guarded(__func__, [&]() -> int {
    if (sender == nullptr || signal == nullptr || entry == nullptr) return GLOOP_EINVAL;
    int rc = gui_check();
    if (rc < 0) return rc;
    rc = host_ensure();
    if (rc < 0) return rc;
    QObject *src = as_object(sender);
    if (src == nullptr) return GLOOP_EINVAL;
    QMetaMethod sig = find_signal(src, signal);
    if (!sig.isValid()) return GLOOP_EINVAL;
    auto *starter = new Starter(entry, arg, done_cb, data, host_object());
    const QMetaObject *mo = starter->metaObject();
    QMetaMethod slot = mo->method(mo->indexOfSlot("start()"));
    if (!QObject::connect(src, sig, starter, slot)) {
      delete starter;
      return GLOOP_EINVAL;
    }
    QObject::connect(src, &QObject::destroyed, starter, &QObject::deleteLater);
    return 0;
  });
}

}  // extern "C"

#include "run.moc"
