// internal.hpp - declarations shared by the Qt shim's source files; not installed.
//
// Internal C++ names live in namespace gloop_qt_detail rather than carrying
// the C house prefix "gloop__", because C++ reserves every identifier that
// contains a double underscore.
#ifndef GUESTLOOP_QTSHIM_INTERNAL_HPP
#define GUESTLOOP_QTSHIM_INTERNAL_HPP

#include "guestloop/guestloop-qt.h"

#include <QMetaMethod>
#include <QObject>

#include <cstdio>
#include <exception>
#include <type_traits>
#include <utility>

class QWidget;
class QMessageBox;

namespace gloop_qt_detail {

/* ---- Exception barrier ---------------------------------------------------
 * No C++ exception may leave an extern "C" entry point: C callers cannot
 * unwind through it, and a throw out of a coroutine stack would unwind into
 * the scheduler. Every entry therefore runs its body through one of these
 * wrappers, which print what was thrown and turn it into GLOOP_EINTERNAL (or
 * into the entry's "nothing" value when it returns a pointer or void). */

void report_exception(const char *where, const char *what) noexcept;

/* Set when a handle given to the current entry point named a deleted object
 * (see handle_live()); guarded() then reports GLOOP_EDESTROYED rather than
 * the GLOOP_EINVAL that the entry's "no such object" check returned. */
bool take_destroyed_seen() noexcept;

/* The one implementation, for entries that return a value with its own
 * "nothing" (a pointer, a number): runs body, returns its value, or
 * `fallback` after printing what was thrown. An integral result of
 * GLOOP_EINVAL from an entry that met a deleted object's handle becomes
 * GLOOP_EDESTROYED. */
template <typename T, typename Body>
T guarded_value(const char *where, T fallback, Body &&body) noexcept {
  take_destroyed_seen();
  try {
    T value = body();
    if constexpr (std::is_integral_v<T>)
      if (take_destroyed_seen() && value == GLOOP_EINVAL) return GLOOP_EDESTROYED;
    return value;
  } catch (const std::exception &e) {
    report_exception(where, e.what());
  } catch (...) {
    report_exception(where, "unknown C++ exception");
  }
  return fallback;
}

/* The entries' other two shapes: an error code, and no result. */
template <typename Body>
int guarded(const char *where, Body &&body) noexcept {
  return guarded_value<int>(where, GLOOP_EINTERNAL, std::forward<Body>(body));
}

template <typename Body>
void guarded_void(const char *where, Body &&body) noexcept {
  guarded_value<int>(where, 0, [&]() -> int {
    body();
    return 0;
  });
}

/* ---- Handles -------------------------------------------------------------
 * The public handles are the Qt pointers themselves (see guestloop-qt.h).
 * The shim remembers every object it hands out or is handed, and learns from
 * each one's destroyed() signal when Qt deletes it, so a handle to a deleted
 * object is refused instead of dereferenced (widgets.cpp). */

/* Remembers a live object (a no-op for nullptr or one already known). */
void remember(QObject *object) noexcept;
/* false, and marks the current call (take_destroyed_seen()), if `handle`
 * names an object the shim knew and Qt has deleted since; true otherwise.
 * An address never seen before is a pointer converted from C++: it is
 * taken as live and remembered from then on. */
bool handle_live(const void *handle) noexcept;

inline QObject *as_object(gloop_qt_object *o) {
  return o != nullptr && handle_live(o) ? reinterpret_cast<QObject *>(o) : nullptr;
}
inline QWidget *as_widget(gloop_qt_widget *w) {
  return w != nullptr && handle_live(w) ? reinterpret_cast<QWidget *>(w) : nullptr;
}
gloop_qt_widget *to_handle(QWidget *w) noexcept;

/* ---- Host (host.cpp) ----------------------------------------------------- */

/* 0 when the caller may touch Qt objects: an application exists and this is
 * its thread. GLOOP_EINVAL without an application, GLOOP_EWRONGTHREAD on any
 * other thread. */
int gui_check() noexcept;

/* Creates the re-entry receiver for the current application if it does not
 * exist yet. GUI thread only. 0, GLOOP_EINVAL (no application) or
 * GLOOP_EINTERNAL (no custom event type left). */
int host_ensure();

/* The QObject that owns the shim's helper objects (signal starters); it lives
 * in the GUI thread and dies with the application. NULL before
 * host_ensure(). */
QObject *host_object() noexcept;

/* Number of posted callbacks currently executing on this thread (more than
 * one when a callback spins a nested Qt event loop). Non-zero means we are
 * inside a guest tick, where the run cannot be abandoned. */
int host_dispatch_depth() noexcept;

/* ---- Guest run life cycle (run.cpp) --------------------------------------- */

/* Called just before the application is destroyed (and after exec()
 * returns): a run still live at that point can no longer finish, so the
 * policy abandons it with a warning. */
void run_host_ending() noexcept;

/* Connected to the application's aboutToQuit: exec() has left its loop. A
 * run still live (QCoreApplication::exit() bypasses the Quit event) is
 * cancelled and allowed to finish in a local loop before exec() returns;
 * then run_host_ending(). */
void run_exec_returned() noexcept;

/* ---- Signal waits (waits.cpp) ---------------------------------------------- */

/* The signal of obj named by a signature such as "clicked()" or
 * "finished(int)" (normalized first; a leading SIGNAL() code '2' is
 * accepted), or an invalid QMetaMethod if obj has no such signal. */
QMetaMethod find_signal(const QObject *obj, const char *signature);

/* Releases every wait record and message box of an abandoned run: the tasks
 * that owned them will never resume to do it themselves. */
void waits_release_all() noexcept;

}  // namespace gloop_qt_detail

#endif
