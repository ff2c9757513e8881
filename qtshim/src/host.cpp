// host.cpp - the Qt host adapter: the application object, the re-entry receiver and the two posts.
#include "internal.hpp"

#include <QAbstractEventDispatcher>
#include <QApplication>
#include <QBasicTimer>
#include <QCoreApplication>
#include <QEvent>
#include <QThread>
#include <QTimerEvent>

#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

namespace gloop_qt_detail {

void report_exception(const char *where, const char *what) noexcept {
  std::fprintf(stderr, "guestloop: C++ exception in %s: %s\n", where, what);
}

namespace {

/* The one custom event type of the shim, registered on first use and kept for
 * the life of the process: Qt never returns registered types, so registering
 * again for each application would slowly use them up. -1 means Qt has none
 * left. */
int post_event_type() noexcept {
  static const int type = QEvent::registerEventType();
  return type;
}

/* A posted callback. Qt owns the event once posted and deletes it after
 * delivery, or unrun when the receiver is destroyed first. */
class PostEvent final : public QEvent {
 public:
  PostEvent(gloop_callback_fn f, void *a)
      : QEvent(static_cast<QEvent::Type>(post_event_type())), fn(f), arg(a) {}
  gloop_callback_fn fn;
  void *arg;
};

struct PendingCall {
  gloop_callback_fn fn;
  void *arg;
};

/* Receives both kinds of posts on the GUI thread. The thread-safe post sends
 * one PostEvent per call. The GUI-thread post appends to a pending list and
 * keeps a zero-interval timer armed while that list is non-empty; each timer
 * event drains the list once. A zero timer does not wake the dispatcher with
 * a system call as postEvent() does, and fires at most once per pass of Qt's
 * loop, so the host's own events still run between two drains. It measured
 * about 2.5 times cheaper per re-posted callback than postEvent() with both
 * of Qt's dispatchers. */
class Receiver final : public QObject {
 public:
  bool event(QEvent *e) override;
  void drain();
  QBasicTimer drain_timer;
};

/* The receiver, guarded by post_mutex because gloop_qt_post() reads it from
 * any thread while the GUI thread may be tearing it down. */
std::mutex post_mutex;
Receiver *receiver = nullptr;

/* GUI-thread state. gui_thread is the thread that created the receiver
 * (atomic because misuse from other threads reads it); the pending lists are
 * touched only there. spare keeps the capacity of the last
 * drained batch so that steady one-callback-per-pass traffic does not
 * allocate. */
std::atomic<Qt::HANDLE> gui_thread{nullptr};
std::vector<PendingCall> pending;
std::vector<PendingCall> spare;
int dispatch_depth = 0;
/* The dispatch depth at which the nested-loop warning was last printed:
 * one warning per posted callback that spins a nested loop, however many
 * times that loop goes to sleep. */
int warned_depth = 0;

void run_callback(gloop_callback_fn fn, void *arg) noexcept {
  ++dispatch_depth;
  guarded_void("a posted guest callback", [&] { fn(arg); });
  --dispatch_depth;
  if (warned_depth > dispatch_depth) warned_depth = dispatch_depth;
}

/* Connected to the GUI thread's aboutToBlock: Qt's loop is about to sleep.
 * If a posted guest callback is on the stack, that sleep is in a nested
 * event loop (QDialog::exec(), QMessageBox::information(), QEventLoop::exec()
 * ...) started from a task or a tick. Qt keeps running meanwhile, but the
 * guest run cannot take another step until the nested loop returns, so
 * every other task is frozen: say so once, naming the task. */
void warn_nested_loop() noexcept {
  if (dispatch_depth == 0 || warned_depth >= dispatch_depth) return;
  warned_depth = dispatch_depth;
  gloop_task *task = gloop_current_task();
  const char *name = task != nullptr ? gloop_task_name(task) : nullptr;
  if (task != nullptr)
    std::fprintf(stderr,
                 "guestloop: warning: task '%s' started a nested Qt event loop (such as "
                 "QDialog::exec() or QMessageBox::information()); every other task of the run is "
                 "frozen until it returns. Open the dialog with open() and await it instead "
                 "(gloop_qt_message_box(), gloop_qt_wait_signal(\"finished(int)\")).\n",
                 name != nullptr && name[0] != '\0' ? name : "(unnamed)");
  else
    std::fprintf(stderr,
                 "guestloop: warning: a guest callback started a nested Qt event loop; the run "
                 "cannot take a step until it returns.\n");
}

bool Receiver::event(QEvent *e) {
  if (e->type() == post_event_type()) {
    auto *pe = static_cast<PostEvent *>(e);
    run_callback(pe->fn, pe->arg);
    return true;
  }
  if (e->type() == QEvent::Timer &&
      static_cast<QTimerEvent *>(e)->timerId() == drain_timer.timerId()) {
    drain();
    return true;
  }
  return QObject::event(e);
}

void Receiver::drain() {
  /* The batch is moved out before any callback runs, so callbacks posted
   * meanwhile wait for the next drain (one batch per pass of Qt's loop), and
   * a drain nested inside a callback (a nested Qt event loop) works on its
   * own batch instead of the one being iterated here. */
  std::vector<PendingCall> batch = std::move(pending);
  pending = std::move(spare);
  spare = std::vector<PendingCall>();
  for (const PendingCall &c : batch) run_callback(c.fn, c.arg);
  /* The receiver may have been destroyed by a callback that freed the
   * application; then the timer is gone with it. */
  if (receiver == this && pending.empty()) drain_timer.stop();
  batch.clear();
  if (spare.capacity() == 0) spare = std::move(batch);
}

void post_routine();

}  // namespace

int gui_check() noexcept {
  QCoreApplication *app = QCoreApplication::instance();
  if (app == nullptr) return GLOOP_EINVAL;
  if (QThread::currentThread() != app->thread()) return GLOOP_EWRONGTHREAD;
  return 0;
}

int host_ensure() {
  int rc = gui_check();
  if (rc < 0) return rc;
  if (receiver != nullptr) return 0;
  if (post_event_type() < 0) {
    std::fprintf(stderr, "guestloop: Qt has no custom event type left\n");
    return GLOOP_EINTERNAL;
  }
  auto *r = new Receiver;
  /* A run still live when Qt's loop returns (QCoreApplication::exit())
   * is wound down right there, while the application is intact. */
  QObject::connect(QCoreApplication::instance(), &QCoreApplication::aboutToQuit, r,
                   [] { run_exec_returned(); });
  /* Applications created outside gloop_qt_app_new() are destroyed without
   * passing through gloop_qt_app_free(); the post routine, called from the
   * application's destructor, releases the shim's objects then. */
  qAddPostRoutine(post_routine);
  if (QAbstractEventDispatcher *d = QAbstractEventDispatcher::instance())
    QObject::connect(d, &QAbstractEventDispatcher::aboutToBlock, r, [] { warn_nested_loop(); });
  {
    std::lock_guard<std::mutex> lock(post_mutex);
    receiver = r;
  }
  gui_thread = QThread::currentThreadId();
  return 0;
}

QObject *host_object() noexcept { return receiver; }

int host_dispatch_depth() noexcept { return dispatch_depth; }

namespace {

/* Releases everything the shim holds for the current application, abandoning
 * a live run first (which also joins the core's helper thread, so no thread
 * posts any more). Idempotent. GUI thread, outside any guest tick. */
void host_teardown() noexcept {
  run_host_ending();
  waits_release_all();
  Receiver *r;
  {
    std::lock_guard<std::mutex> lock(post_mutex);
    r = receiver;
    receiver = nullptr;
  }
  if (r == nullptr) return;
  qRemovePostRoutine(post_routine);
  gui_thread = nullptr;
  pending.clear();
  spare.clear();
  /* Deleting the receiver discards its undelivered PostEvents and its child
   * objects (the signal starters). */
  delete r;
}

void post_routine() { host_teardown(); }

}  // namespace
}  // namespace gloop_qt_detail

using namespace gloop_qt_detail;

extern "C" {

int gloop_qt_app_new(int *argc, char **argv, gloop_qt_app **out) {
  return guarded(__func__, [&]() -> int {
    if (out == nullptr) return GLOOP_EINVAL;
    *out = nullptr;
    if (argc == nullptr || *argc < 0 || (*argc > 0 && argv == nullptr)) return GLOOP_EINVAL;
    if (QCoreApplication::instance() != nullptr) return GLOOP_EBUSY;
    if (post_event_type() < 0) {
      std::fprintf(stderr, "guestloop: Qt has no custom event type left\n");
      return GLOOP_EINTERNAL;
    }
    auto *app = new QApplication(*argc, argv);
    int rc = host_ensure();
    if (rc < 0) {
      delete app;
      return rc;
    }
    *out = reinterpret_cast<gloop_qt_app *>(app);
    return 0;
  });
}

int gloop_qt_app_exec(gloop_qt_app *app) {
  return guarded(__func__, [&]() -> int {
    if (app == nullptr || reinterpret_cast<QObject *>(app) != QCoreApplication::instance())
      return GLOOP_EINVAL;
    int rc = gui_check();
    if (rc < 0) return rc;
    /* Qt's loop must not run on a task's small stack, nested in the guest. */
    if (gloop_current_task() != nullptr || dispatch_depth > 0) return GLOOP_EBUSY;
    int code = QApplication::exec();
    /* aboutToQuit has normally handled this already; exec() can also return
     * without it when the loop was never entered. */
    run_host_ending();
    return code;
  });
}

void gloop_qt_app_quit(gloop_qt_app *app) {
  guarded_void(__func__, [&] {
    if (app == nullptr || reinterpret_cast<QObject *>(app) != QCoreApplication::instance()) return;
    QCoreApplication::quit();
  });
}

void gloop_qt_app_free(gloop_qt_app *app) {
  guarded_void(__func__, [&] {
    if (app == nullptr) return;
    if (reinterpret_cast<QObject *>(app) != QCoreApplication::instance()) {
      std::fprintf(stderr, "guestloop: gloop_qt_app_free: not the current application\n");
      return;
    }
    if (gui_check() < 0) {
      std::fprintf(stderr, "guestloop: gloop_qt_app_free: called off the GUI thread; ignored\n");
      return;
    }
    if (gloop_current_task() != nullptr || dispatch_depth > 0) {
      std::fprintf(stderr,
                   "guestloop: gloop_qt_app_free: called from inside the guest run; ignored\n");
      return;
    }
    host_teardown();
    delete reinterpret_cast<QApplication *>(app);
  });
}

void gloop_qt_post(gloop_callback_fn fn, void *fn_arg, void *host_data) {
  (void)host_data;
  guarded_void(__func__, [&] {
    if (fn == nullptr) {
      std::fprintf(stderr, "guestloop: gloop_qt_post: NULL callback\n");
      return;
    }
    /* The first post of a run comes from the GUI thread of a C++ program
     * that may have created its application itself: create the receiver
     * then. Other threads cannot, as a QObject is born in its thread. */
    if (gui_check() == 0 && receiver == nullptr) host_ensure();
    std::lock_guard<std::mutex> lock(post_mutex);
    if (receiver == nullptr) {
      std::fprintf(stderr, "guestloop: gloop_qt_post: no Qt application; callback dropped\n");
      return;
    }
    QCoreApplication::postEvent(receiver, new PostEvent(fn, fn_arg));
  });
}

void gloop_qt_post_not_threadsafe(gloop_callback_fn fn, void *fn_arg, void *host_data) {
  guarded_void(__func__, [&] {
    if (fn == nullptr) {
      std::fprintf(stderr, "guestloop: gloop_qt_post_not_threadsafe: NULL callback\n");
      return;
    }
    if (gui_thread.load(std::memory_order_relaxed) != QThread::currentThreadId() ||
        receiver == nullptr) {
      /* Misuse from another thread (or before the receiver exists): the
       * thread-safe path is always correct, only slower. */
      gloop_qt_post(fn, fn_arg, host_data);
      return;
    }
    pending.push_back(PendingCall{fn, fn_arg});
    if (!receiver->drain_timer.isActive()) receiver->drain_timer.start(0, receiver);
  });
}

}  // extern "C"
