// run.cpp - AsyncHelper: the Qt operations of the host policy (hold a quit, quit, keep the loop alive after exit()) and the run starters.
#include "internal.hpp"

#include "guestloop/host.h"

#include <QCoreApplication>
#include <QEvent>
#include <QEventLoop>
#include <QMetaMethod>
#include <QPointer>
#include <QThread>
#include <QTimer>

#include <memory>

namespace gloop_qt_detail {
namespace {

/* The Qt answers to the host policy (guestloop/host.h). The policy owns the
 * life cycle; this file only says how Qt holds a quit, issues one, and keeps
 * its loop alive after exit().
 *
 * Holding the quit: every polite way of ending a Qt application funnels into
 * one QEvent::Quit sent or posted to the application object:
 * QCoreApplication::quit() (and so gloop_qt_app_quit()), the platform's
 * termination request, and the automatic quit after the last window closed.
 * While a run is live an event filter on the application hands that event
 * to gloop_host_request_quit() and swallows it, which keeps the loop (and
 * the windows) alive while the run is cancelled. The filter exists only
 * while a run is live, because an application-wide filter sees every event
 * of every object. */
class QuitFilter final : public QObject {
 public:
  bool eventFilter(QObject *watched, QEvent *e) override {
    if (e->type() != QEvent::Quit || watched != QCoreApplication::instance()) return false;
    if (gloop_host_request_quit() != 1) return false;
    e->ignore();
    return true;
  }
};
QuitFilter *filter = nullptr;

/* The local loop that keeps Qt running after exec() has returned with a
 * run still live (see run_exec_returned()), and whether the policy's quit
 * has ended it. */
QEventLoop *draining = nullptr;
bool drained = false;

int hold_quit(void *) {
  return guarded("the policy's hold_quit", [&]() -> int {
    if (filter == nullptr) {
      filter = new QuitFilter;
      QCoreApplication::instance()->installEventFilter(filter);
    }
    return 0;
  });
}

void release_quit(void *) {
  /* A destroyed filter object is removed from the application's list. */
  delete filter;
  filter = nullptr;
}

void quit(void *) {
  guarded_void("the policy's quit", [&] {
    /* From a fresh pass of Qt's loop, so that the core has finished its
     * last tick first. */
    if (draining != nullptr) {
      drained = true;
      QTimer::singleShot(0, draining, &QEventLoop::quit);
    } else {
      QTimer::singleShot(0, QCoreApplication::instance(), &QCoreApplication::quit);
    }
  });
}

const gloop_host_ops qt_ops = {gloop_qt_post, gloop_qt_post_not_threadsafe, hold_quit,
                               release_quit, quit};

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

/* A task of gloop_qt_spawn_owned(): the user's function and the object
 * whose destruction cancels it. Allocated by the spawn, freed by the task. */
struct Owned {
  gloop_task_fn fn;
  void *arg;
  QPointer<QObject> owner;
};

int owned_entry(void *data) {
  /* Nothing that owns memory stays in this frame while fn runs: a run
   * abandoned meanwhile never unwinds it. The record goes now, and the
   * connection's context (whose deletion disconnects it) is a child of the
   * application, which frees it at the latest when it is destroyed. */
  gloop_task_fn fn;
  void *arg;
  QObject *link = nullptr;
  int rc = guarded("a task tied to an object", [&]() -> int {
    std::unique_ptr<Owned> owned(static_cast<Owned *>(data));
    fn = owned->fn;
    arg = owned->arg;
    QObject *owner = owned->owner.data();
    if (owner == nullptr) return 1; /* gone before the start: fn is not called */
    gloop_task_ref ref;
    int r = gloop_task_get_ref(gloop_current_task(), &ref);
    if (r < 0) return r;
    /* The ref is a value that stays safe after the task ends. */
    link = new QObject(QCoreApplication::instance());
    QObject::connect(owner, &QObject::destroyed, link, [ref] { gloop_task_ref_cancel(ref); });
    return 0;
  });
  if (rc != 0) {
    delete link;
    return rc == 1 ? 0 : rc;
  }
  rc = fn(arg);
  delete link;
  return rc;
}

}  // namespace

void run_host_ending() noexcept {
  int rc = gloop_host_ending();
  if (rc == GLOOP_EBUSY)
    /* Qt's loop ended inside a guest tick (a nested exec() in a task); the
     * run cannot be torn down from under its own stack. */
    std::fprintf(stderr, "guestloop: cannot abandon the guest run from inside it (%s)\n",
                 gloop_err_name(rc));
  else if (rc == 0)
    waits_release_all();
}

void run_exec_returned() noexcept {
  guarded_void("the application's aboutToQuit", [&] {
    /* QCoreApplication::exit() ends exec() without a Quit event, so a live
     * run was never asked to stop. Qt still runs a local event loop here,
     * after exec() has left its own and before it returns (its return value,
     * exit()'s code, is already fixed): the run is cancelled as on quit() and
     * finishes in that loop, whose quit the policy issues once the done
     * callback has run. Only where no loop can run (inside a task or a guest
     * callback, or when exit() comes again meanwhile) is the run left to
     * run_host_ending() to abandon. */
    if (draining != nullptr || gloop_current_task() != nullptr || host_dispatch_depth() > 0) return;
    while (gloop_host_live()) {
      QEventLoop loop;
      /* draining never outlives the loop, whatever leaves this scope. */
      struct Forget {
        ~Forget() { draining = nullptr; }
      } forget;
      draining = &loop;
      drained = false;
      gloop_host_request_quit();
      loop.exec();
      if (!drained) break;
    }
  });
  run_host_ending();
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
    rc = host_ensure();
    if (rc < 0) return rc;
    return gloop_host_start(&qt_ops, nullptr, entry, arg, done_cb, data, opts);
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

int gloop_qt_spawn(gloop_task_fn fn, void *arg, const char *name) {
  return guarded(__func__, [&]() -> int {
    if (fn == nullptr) return GLOOP_EINVAL;
    int rc = gui_check();
    if (rc < 0) return rc;
    /* A token of the run live on this thread; the start it carries owns
     * its own node, so the token can go at once. */
    gloop_token *token;
    rc = gloop_token_new(&token);
    if (rc < 0) return rc;
    rc = gloop_token_start(token, fn, arg, name);
    gloop_token_free(token);
    return rc;
  });
}

int gloop_qt_spawn_owned(gloop_qt_object *owner, gloop_task_fn fn, void *arg, const char *name) {
  return guarded(__func__, [&]() -> int {
    if (owner == nullptr || fn == nullptr) return GLOOP_EINVAL;
    int rc = gui_check();
    if (rc < 0) return rc;
    QObject *o = as_object(owner);
    if (o == nullptr || o->thread() != QThread::currentThread()) return GLOOP_EINVAL;
    auto owned = std::make_unique<Owned>(Owned{fn, arg, QPointer<QObject>(o)});
    rc = gloop_qt_spawn(owned_entry, owned.get(), name);
    if (rc == 0) owned.release();
    return rc;
  });
}

}  // extern "C"

#include "run.moc"
