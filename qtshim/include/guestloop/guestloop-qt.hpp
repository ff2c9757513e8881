/* guestloop-qt.hpp - the header-only C++17 wrapper of the Qt shim: awaiting Qt signals by pointer to member (with their arguments), and starting runs and tasks in Qt from lambdas. */
#ifndef GUESTLOOP_QT_HPP
#define GUESTLOOP_QT_HPP

/**
 * \file guestloop-qt.hpp
 * \brief C++17 helpers over guestloop-qt.h for programs that use Qt directly.
 *
 * Unlike guestloop-qt.h this header includes Qt (QtCore), so a target that
 * uses it links Qt6::Core (a Qt application links Qt6::Widgets anyway).
 * Errors are exceptions, as in guestloop.hpp. Everything here runs on the
 * GUI thread.
 */

#include "guestloop/guestloop-qt.h"
#include "guestloop/guestloop.hpp"

#include <QByteArray>
#include <QCoreApplication>

#include <cstring>
#include <QMetaMethod>
#include <QObject>

#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

class QWidget;

/** \brief Helpers for the Qt host. */
namespace gloop::qt {

/** \brief The shim's handle for a QObject (the pointer itself). */
inline gloop_qt_object *handle(QObject *object) noexcept {
  return reinterpret_cast<gloop_qt_object *>(object);
}
/** \brief The shim's handle for a QWidget (the pointer itself). */
inline gloop_qt_widget *handle(QWidget *widget) noexcept {
  return reinterpret_cast<gloop_qt_widget *>(widget);
}
/** \brief The QWidget behind a shim handle. */
inline QWidget *widget(gloop_qt_widget *handle) noexcept {
  return reinterpret_cast<QWidget *>(handle);
}

/**
 * \brief Waits in a task until \p sender emits \p signal, given as a pointer
 * to member such as `&QPushButton::clicked` or `&QTimer::timeout`.
 *
 * The signal's normalized signature comes from QMetaMethod::fromSignal()
 * and goes to gloop_qt_wait_signal(). The task resumes in a later tick, never
 * inside the emission. The signal's arguments are not delivered (see
 * wait_args()).
 * \throws gloop::error GLOOP_EINVAL (not a signal of \p sender),
 *         GLOOP_ECANCELED, GLOOP_EDESTROYED (\p sender was deleted while
 *         waiting), GLOOP_ENOTTASK.
 */
template <class Sender, class Signal>
void wait(Sender *sender, Signal signal) {
  static_assert(std::is_base_of_v<QObject, Sender>, "the sender must be a QObject");
  static_assert(std::is_member_function_pointer_v<Signal>,
                "the signal is a pointer to member, such as &QPushButton::clicked");
  if (sender == nullptr) throw error(GLOOP_EINVAL, "gloop::qt::wait: null sender");
  const QMetaMethod method = QMetaMethod::fromSignal(signal);
  if (!method.isValid() || method.methodType() != QMetaMethod::Signal)
    throw error(GLOOP_EINVAL, "gloop::qt::wait: not a signal");
  /* Nothing that owns heap memory may stay on the task's stack across the
   * wait: if the run is abandoned meanwhile, the frame is never unwound. So
   * the signature is copied into a plain buffer before waiting. */
  char signature[256];
  {
    const QByteArray sig = method.methodSignature();
    if (static_cast<size_t>(sig.size()) >= sizeof signature)
      throw error(GLOOP_EINVAL, "gloop::qt::wait: signal signature too long");
    std::memcpy(signature, sig.constData(), static_cast<size_t>(sig.size()) + 1);
  }
  check(gloop_qt_wait_signal(handle(static_cast<QObject *>(sender)), signature));
}

/** \cond INTERNAL */
namespace detail {
/* Holds the arguments of the emission that ends a wait_args(). It is a
 * child of the application rather than a member of the task's frame: a run
 * abandoned during the wait never unwinds that frame, and the application's
 * destruction then still frees the catcher, its connection and any copied
 * arguments. */
template <class Tuple>
struct ArgCatcher final : QObject {
  using QObject::QObject;
  std::optional<Tuple> value;
};
}  // namespace detail
/** \endcond */

/**
 * \brief As wait(), and returns the arguments of the emission that ended the
 * wait, as a std::tuple of their decayed types: for example
 * `auto [checked] = gloop::qt::wait_args(button, &QPushButton::toggled);`
 * or `auto [text] = gloop::qt::wait_args(edit, &QLineEdit::textEdited);`.
 *
 * The arguments are copied when the signal is emitted (the first emission
 * after the call), and the task resumes in a later tick. A signal emitted
 * on another thread is delivered to the GUI thread first (queued), so its
 * arguments must be copyable. Signals with a private tag argument (such as
 * QTimer::timeout) cannot be used here; use wait() for them.
 * \throws gloop::error as wait().
 */
template <class Sender, class Base, class R, class... Args>
std::tuple<std::decay_t<Args>...> wait_args(Sender *sender, R (Base::*signal)(Args...)) {
  static_assert(std::is_base_of_v<QObject, Sender> && std::is_base_of_v<Base, Sender>,
                "the sender must be a QObject that has this signal");
  using Tuple = std::tuple<std::decay_t<Args>...>;
  if (sender == nullptr) throw error(GLOOP_EINVAL, "gloop::qt::wait_args: null sender");
  if (gloop_current_task() == nullptr)
    throw error(GLOOP_ENOTTASK, "gloop::qt::wait_args: not in a task");
  auto *catcher = new detail::ArgCatcher<Tuple>(QCoreApplication::instance());
  /* Connected before wait() connects its own receiver, so that at the
   * emission that wakes the task the arguments are already stored. */
  QObject::connect(sender, signal, catcher, [catcher](const std::decay_t<Args> &...args) {
    if (!catcher->value) catcher->value.emplace(args...);
  });
  try {
    wait(sender, signal);
  } catch (...) {
    delete catcher;
    throw;
  }
  if (!catcher->value) {
    delete catcher;
    throw error(GLOOP_EINTERNAL, "gloop::qt::wait_args: the signal's arguments were not seen");
  }
  Tuple out = std::move(*catcher->value);
  delete catcher;
  return out;
}

/**
 * \brief Opens a message box without a nested event loop and waits in a task
 * for the answer (gloop_qt_message_box()).
 * \param parent the widget the box is modal to, or nullptr.
 * \param title the window title (UTF-8).
 * \param text the message (UTF-8).
 * \param buttons a mask of GLOOP_QT_BUTTON_* (0 = OK).
 * \return the GLOOP_QT_BUTTON_* value of the button that closed it, or 0 if
 *         it was rejected.
 */
inline int message_box(QWidget *parent, const char *title, const char *text, int buttons = 0) {
  int result = 0;
  check(gloop_qt_message_box(handle(parent), title, text, buttons, &result));
  return result;
}

/** \cond INTERNAL */
namespace detail {

template <class Done>
void qt_done(const gloop_outcome *outcome, void *data) {
  std::unique_ptr<Done> done(static_cast<Done *>(data));
  gloop::detail::invoke_done(*done, outcome);
}

}  // namespace detail
/** \endcond */

/**
 * \brief Starts a guest run of \p main in Qt's event loop (gloop_qt_start()),
 * with the shim's quit life cycle: when the application is asked to quit,
 * the run is cancelled first.
 *
 * A failed outcome is printed to stderr by the shim.
 * \throws gloop::error GLOOP_ERUNNING (a run is live), GLOOP_EINVAL (no
 *         application), or what gloop_start_guest_run_ex() reports.
 */
template <class F>
void start(F &&main, const gloop_options *opts = nullptr) {
  gloop::detail::packed_task<F> task(std::forward<F>(main));
  check(gloop_qt_start(task.entry(), task.arg(), nullptr, nullptr, opts));
  task.release();
}

/**
 * \brief As start(), with \p done, a callable taking `const gloop_outcome &`,
 * run once on the GUI thread when the run has ended. Exceptions from it are
 * printed to stderr and go no further.
 */
template <class F, class Done>
void start(F &&main, Done &&done, const gloop_options *opts = nullptr) {
  using done_type = std::decay_t<Done>;
  gloop::detail::packed_task<F> task(std::forward<F>(main));
  auto box = std::make_unique<done_type>(std::forward<Done>(done));
  check(gloop_qt_start(task.entry(), task.arg(), &detail::qt_done<done_type>, box.get(), opts));
  task.release();
  box.release();
}

/**
 * \brief Starts \p fn, a callable taking no arguments, as a task of the run
 * live on the GUI thread (gloop_qt_spawn()): from any slot, lambda or task.
 * It is cancelled when the run's main task ends (so at quit); a failure (a
 * GLOOP_E* return or an exception) cancels the main task and becomes the
 * run's outcome. It starts in a later tick.
 * \throws gloop::error GLOOP_ENORUN (no run is live), GLOOP_EWRONGTHREAD
 *         (not the GUI thread), GLOOP_EINVAL (no application), GLOOP_ENOMEM.
 */
template <class F>
void spawn(F &&fn, const char *name = nullptr) {
  gloop::detail::packed_task<F> task(std::forward<F>(fn));
  check(gloop_qt_spawn(task.entry(), task.arg(), name));
  task.release();
}

/**
 * \brief As spawn(), with the task tied to \p owner (gloop_qt_spawn_owned()):
 * destroying the object cancels the task (it sees gloop::error with
 * cancelled() true, which is not a failure); an object gone before the
 * start means \p fn never runs.
 * \throws gloop::error as spawn(), and GLOOP_EINVAL (null owner or one of
 *         another thread), GLOOP_EDESTROYED (an object already deleted).
 */
template <class F>
void spawn(QObject *owner, F &&fn, const char *name = nullptr) {
  gloop::detail::packed_task<F> task(std::forward<F>(fn));
  check(gloop_qt_spawn_owned(handle(owner), task.entry(), task.arg(), name));
  task.release();
}

}  // namespace gloop::qt

#endif /* GUESTLOOP_QT_HPP */
