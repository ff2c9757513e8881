/* guestloop-qt.h - run libguestloop inside a Qt6 Widgets application, from C.
 *
 * This header holds no Qt types: every Qt object is an opaque handle. The
 * handles are the Qt pointers themselves, so C++ code may convert freely:
 *   gloop_qt_object *  <->  QObject *        (reinterpret_cast)
 *   gloop_qt_widget *  <->  QWidget *
 *   gloop_qt_layout *  <->  QLayout *
 *   gloop_qt_app *     <->  QApplication *
 *
 * Lifetime of a handle: it names its object for as long as Qt keeps the
 * object, however the object dies (gloop_qt_widget_free, its parent's
 * deletion, Qt itself). Afterwards every function that takes the handle
 * refuses it: functions returning int give GLOOP_EDESTROYED, those returning
 * a handle give NULL, and gloop_qt_widget_free ignores it with a message. The
 * shim remembers the objects it has handed out or been given; a pointer
 * converted from C++ counts as live the first time the shim sees it.
 *
 * Strings in and out are UTF-8. Unless stated otherwise every function must be
 * called on the GUI thread (the thread that created the application), from
 * host context or task context. Functions returning int return 0 or a
 * negative GLOOP_E* code; no C++ exception ever crosses this header (each
 * entry catches and reports them as GLOOP_EINTERNAL with a message on stderr).
 */
#ifndef GUESTLOOP_QT_H
#define GUESTLOOP_QT_H

#include "guestloop/guestloop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gloop_qt_app gloop_qt_app;
typedef struct gloop_qt_object gloop_qt_object;
typedef struct gloop_qt_widget gloop_qt_widget;
typedef struct gloop_qt_layout gloop_qt_layout;

/* ---- Application and the guest run ------------------------------------ */

/** Creates the QApplication (argc/argv are kept by reference, as Qt requires)
 * and the re-entry receiver. Errors: GLOOP_EINVAL, GLOOP_EBUSY (an application
 * exists already), GLOOP_EINTERNAL (no custom event type left). */
GLOOP_API int gloop_qt_app_new(int *argc, char **argv, gloop_qt_app **out);
/** Runs the Qt event loop; returns its exit code (Qt's, so it is not a
 * GLOOP_E* code; misuse such as a NULL app returns GLOOP_EINVAL). If a guest run is live when
 * the application is asked to quit (last window closed, quit(), a window
 * closed with gloop_qt_widget_close()), the run's main task is cancelled and
 * the application exits only after done_cb has run. QCoreApplication::exit(code)
 * cannot be held: the run is cancelled as Qt's loop returns and finishes in
 * a local loop, then this returns `code`; a second exit() meanwhile
 * abandons the run with a warning. Errors: GLOOP_EINVAL, GLOOP_EWRONGTHREAD,
 * GLOOP_EBUSY (called from a task or a posted guest callback). GUI thread. */
GLOOP_API int gloop_qt_app_exec(gloop_qt_app *app);
/** Asks the application to quit, as QCoreApplication::quit() does. */
GLOOP_API void gloop_qt_app_quit(gloop_qt_app *app);
/** Destroys the application. A run still live is abandoned with a warning. */
GLOOP_API void gloop_qt_app_free(gloop_qt_app *app);

/** The two host hooks of guest mode for Qt, for C++ programs that call
 * gloop_start_guest_run() themselves. host_data is ignored (pass NULL).
 * An application must exist. gloop_qt_post is callable from any thread;
 * gloop_qt_post_not_threadsafe only from the GUI thread. */
GLOOP_API void gloop_qt_post(gloop_callback_fn fn, void *fn_arg, void *host_data);
GLOOP_API void gloop_qt_post_not_threadsafe(gloop_callback_fn fn, void *fn_arg, void *host_data);

/** AsyncHelper: starts a guest run of entry(arg) in Qt's loop, with the Qt
 * hooks and the quit life cycle above (the host policy of
 * guestloop/host.h, with Qt's operations). done_cb(outcome, data) runs once when
 * the run ends; done_cb NULL prints a failed outcome to stderr as
 * "guestloop: main task failed: <message> (<NAME>)". opts may be NULL; its
 * run_sync_soon_not_threadsafe must be NULL or gloop_qt_post_not_threadsafe
 * (the shim brings its own GUI-thread post).
 * Errors: GLOOP_EINVAL (NULL entry, no application, or another
 * run_sync_soon_not_threadsafe in opts), GLOOP_EWRONGTHREAD (not the GUI
 * thread), GLOOP_ERUNNING (a run is live), and those of
 * gloop_host_start(). Host context. */
GLOOP_API int gloop_qt_start(gloop_task_fn entry, void *arg, gloop_done_fn done_cb,
                             void *data, const gloop_options *opts);
/** As gloop_qt_start(), each time `sender` emits `signal` (a signature such as
 * "clicked()" or "clicked(bool)"). A start refused because a run is live is
 * reported on stderr. Errors: GLOOP_EINVAL (no such signal). */
GLOOP_API int gloop_qt_start_on_signal(gloop_qt_object *sender, const char *signal,
                                       gloop_task_fn entry, void *arg,
                                       gloop_done_fn done_cb, void *data);

/** Starts fn(arg) as a task of the guest run live on the GUI thread (the
 * application's run, started by gloop_qt_start()), from any slot, button
 * callback, Qt timer or task: the way to start work into the one app-wide
 * run without reaching for its main task's nursery. The task is a system
 * task of the run (as gloop_token_start()): it runs beside the main task,
 * so it is cancelled when the main task ends, which is what quitting the
 * application does; a failing one cancels the main task and its status and
 * message (as "task 'NAME' failed: MESSAGE") become the run's outcome (given to done_cb, or printed on stderr
 * when done_cb is NULL), unless the main task failed first. It starts in a
 * later tick, never inside this call; once this returns 0 it does start,
 * even if the run winds down meanwhile (it then sees GLOOP_ECANCELED at its
 * first checkpoint). name may be NULL ("system"); it is copied (up to 31
 * bytes). No run is started for the caller: with none live this refuses.
 * Errors: GLOOP_EINVAL (NULL fn, or no application), GLOOP_EWRONGTHREAD
 * (not the GUI thread: other threads use a gloop_token and
 * gloop_token_start()), GLOOP_ENORUN (no run is live on the GUI thread,
 * the run's last task has ended, or called from its done callback),
 * GLOOP_ENOMEM. GUI thread, host or task context. */
GLOOP_API int gloop_qt_spawn(gloop_task_fn fn, void *arg, const char *name);
/** As gloop_qt_spawn(), with the task tied to `owner`: when Qt destroys
 * the object (a closed window's deletion, gloop_qt_widget_free(), its
 * parent's deletion), the task is cancelled as by gloop_task_ref_cancel():
 * it sees GLOOP_ECANCELED at its next checkpoint, and that does not count
 * as a failure. If the object is already gone when the task would start,
 * fn is not called and the task ends with 0. Once fn has returned, the
 * object's destruction no longer concerns the task. The object must live on
 * the GUI thread. Errors: those of gloop_qt_spawn(), and GLOOP_EINVAL (NULL
 * owner, or an object of another thread), GLOOP_EDESTROYED (owner names an
 * object Qt has deleted). GUI thread, host or task context. */
GLOOP_API int gloop_qt_spawn_owned(gloop_qt_object *owner, gloop_task_fn fn, void *arg,
                                   const char *name);

/* ---- Widgets ------------------------------------------------------------ */

GLOOP_API gloop_qt_object *gloop_qt_widget_object(gloop_qt_widget *w);
/** A QMainWindow with a plain central QWidget (get it with
 * gloop_qt_window_central()). */
GLOOP_API int gloop_qt_window_new(gloop_qt_widget **out);
GLOOP_API gloop_qt_widget *gloop_qt_window_central(gloop_qt_widget *window);
GLOOP_API int gloop_qt_widget_set_title(gloop_qt_widget *w, const char *title);
GLOOP_API int gloop_qt_widget_resize(gloop_qt_widget *w, int width, int height);
GLOOP_API int gloop_qt_widget_show(gloop_qt_widget *w);
GLOOP_API int gloop_qt_widget_close(gloop_qt_widget *w);
/** Deletes a widget and its children (deleteLater when inside a task). */
GLOOP_API void gloop_qt_widget_free(gloop_qt_widget *w);
GLOOP_API int gloop_qt_widget_set_name(gloop_qt_widget *w, const char *name);
/** The first descendant of root with that object name, or NULL. */
GLOOP_API gloop_qt_widget *gloop_qt_widget_find(gloop_qt_widget *root, const char *name);

/** Plain QWidget container, optionally as a child of parent. */
GLOOP_API int gloop_qt_container_new(gloop_qt_widget *parent, gloop_qt_widget **out);

/** Layouts installed on a widget. */
GLOOP_API int gloop_qt_vbox_new(gloop_qt_widget *on, gloop_qt_layout **out);
GLOOP_API int gloop_qt_grid_new(gloop_qt_widget *on, gloop_qt_layout **out);
enum {
  GLOOP_QT_ALIGN_DEFAULT = 0,
  GLOOP_QT_ALIGN_LEFT = 0x1,
  GLOOP_QT_ALIGN_RIGHT = 0x2,
  GLOOP_QT_ALIGN_HCENTER = 0x4,
  GLOOP_QT_ALIGN_TOP = 0x20,
  GLOOP_QT_ALIGN_BOTTOM = 0x40,
  GLOOP_QT_ALIGN_VCENTER = 0x80,
  GLOOP_QT_ALIGN_CENTER = 0x84
};
GLOOP_API int gloop_qt_vbox_add(gloop_qt_layout *box, gloop_qt_widget *w, int align);
/** Rows and columns of a grid run from 0 to GLOOP_QT_GRID_MAX - 1 (Qt sizes
 * its tables by the largest index, so larger ones are refused with
 * GLOOP_EINVAL rather than allocated). */
#define GLOOP_QT_GRID_MAX 4096
GLOOP_API int gloop_qt_grid_add(gloop_qt_layout *grid, gloop_qt_widget *w, int row,
                                int col, int align);
/** The widget at (row, col) of a grid, or NULL. */
GLOOP_API gloop_qt_widget *gloop_qt_grid_at(gloop_qt_layout *grid, int row, int col);

/** QLabel. */
GLOOP_API int gloop_qt_label_new(const char *text, gloop_qt_widget **out);
GLOOP_API int gloop_qt_label_set_text(gloop_qt_widget *label, const char *text);
/** Copies the UTF-8 text (NUL-terminated, truncated to buflen) into buf and
 * returns the full length in bytes, or a negative code. */
GLOOP_API int gloop_qt_label_text(gloop_qt_widget *label, char *buf, size_t buflen);
GLOOP_API int gloop_qt_label_set_alignment(gloop_qt_widget *label, int align);
/** Font: point size (1 to GLOOP_QT_POINT_SIZE_MAX, else GLOOP_EINVAL) and
 * bold (any nonzero value), each changing only that property of the label's
 * current font. */
#define GLOOP_QT_POINT_SIZE_MAX 4096
GLOOP_API int gloop_qt_label_set_point_size(gloop_qt_widget *label, int points);
GLOOP_API int gloop_qt_label_point_size(gloop_qt_widget *label);
GLOOP_API int gloop_qt_label_set_bold(gloop_qt_widget *label, int bold);
GLOOP_API int gloop_qt_label_bold(gloop_qt_widget *label);
/** Text colour as 0xRRGGBB: the WindowText role of the label's palette, in
 * all colour groups. */
GLOOP_API int gloop_qt_label_set_color(gloop_qt_widget *label, uint32_t rgb);
/** Current text colour as 0xRRGGBB, or a negative code. */
GLOOP_API long gloop_qt_label_color(gloop_qt_widget *label);

/** QPushButton. */
GLOOP_API int gloop_qt_button_new(const char *text, gloop_qt_widget **out);
/** Calls cb(data) on the GUI thread at each click: in host context for a
 * user's click, or in task context when a task clicks the button through
 * gloop_qt_button_click(). */
GLOOP_API int gloop_qt_button_on_clicked(gloop_qt_widget *button, gloop_callback_fn cb,
                                         void *data);
/** Clicks it programmatically (emits clicked), for tests and scripts. */
GLOOP_API int gloop_qt_button_click(gloop_qt_widget *button);

/** Enables (enabled nonzero) or disables a widget and its children, as
 * QWidget::setEnabled. A disabled button ignores the user's clicks (and
 * gloop_qt_button_click()). Errors: GLOOP_EINVAL, GLOOP_EDESTROYED,
 * GLOOP_EWRONGTHREAD. GUI thread, host or task context. */
GLOOP_API int gloop_qt_widget_set_enabled(gloop_qt_widget *w, int enabled);
/** 1 if the widget is enabled (its parents included), 0 if not, or a
 * negative code as gloop_qt_widget_set_enabled(). */
GLOOP_API int gloop_qt_widget_enabled(gloop_qt_widget *w);

/** QProgressBar showing minimum..maximum (0 <= minimum <= maximum, else
 * GLOOP_EINVAL), starting at minimum. minimum == maximum gives Qt's busy
 * indicator. Errors: GLOOP_EINVAL, GLOOP_EWRONGTHREAD. GUI thread. */
GLOOP_API int gloop_qt_progress_new(int minimum, int maximum, gloop_qt_widget **out);
/** Sets the bar's value; a value outside its range is GLOOP_EINVAL (Qt would
 * silently ignore it). Errors also: GLOOP_EDESTROYED, GLOOP_EWRONGTHREAD.
 * GUI thread, host or task context. */
GLOOP_API int gloop_qt_progress_set_value(gloop_qt_widget *bar, int value);
/** The bar's value (>= 0), or a negative code as
 * gloop_qt_progress_set_value(). */
GLOOP_API int gloop_qt_progress_value(gloop_qt_widget *bar);

/* ---- Awaiting Qt from tasks -------------------------------------------- */

/** Waits for the button's next click. 0, GLOOP_ECANCELED, GLOOP_EDESTROYED
 * (the button was deleted while waiting), GLOOP_ENOTTASK, GLOOP_EWRONGTHREAD.
 * Task context. The signal only marks
 * the task ready; it resumes in a later tick, never inside the emit. */
GLOOP_API int gloop_qt_wait_clicked(gloop_qt_widget *button);
/** Waits for any signal of `sender` chosen by signature ("destroyed()",
 * "timeout()", "finished(int)"). Errors: GLOOP_EINVAL (no such signal),
 * GLOOP_ECANCELED, GLOOP_EDESTROYED. Task context. */
GLOOP_API int gloop_qt_wait_signal(gloop_qt_object *sender, const char *signal);

/** Standard buttons for gloop_qt_message_box(). */
enum {
  GLOOP_QT_BUTTON_OK = 0x00000400,
  GLOOP_QT_BUTTON_CANCEL = 0x00400000,
  GLOOP_QT_BUTTON_YES = 0x00004000,
  GLOOP_QT_BUTTON_NO = 0x00010000
};
/** Opens a message box non-modally (QMessageBox::open, no nested event
 * loop) and waits for it to be finished; \*result receives the standard
 * button that closed it (0 if the box was rejected). Other tasks keep running
 * meanwhile. buttons is a mask of GLOOP_QT_BUTTON_\*; 0 = OK. The buttons
 * carry the object names "ok", "cancel", "yes" and "no", so scripts and tests
 * can find and click them. If the waiting task is cancelled the box is
 * closed. Errors: GLOOP_ECANCELED, GLOOP_ENOTTASK, GLOOP_EDESTROYED (the
 * parent was deleted while waiting), GLOOP_EINVAL (unknown button bits or a
 * bad parent). Task context. */
GLOOP_API int gloop_qt_message_box(gloop_qt_widget *parent, const char *title,
                                   const char *text, int buttons, int *result);
/** Icons for gloop_qt_message_box_ex() (QMessageBox::Icon's values). */
enum {
  GLOOP_QT_ICON_NONE = 0,
  GLOOP_QT_ICON_INFORMATION = 1,
  GLOOP_QT_ICON_WARNING = 2,
  GLOOP_QT_ICON_CRITICAL = 3,
  GLOOP_QT_ICON_QUESTION = 4
};
/** Modality for gloop_qt_message_box_ex() and gloop_qt_dialog_open(). */
enum {
  /** Blocks input to the parent window (and its parents) only. A box
   * without a parent then blocks nothing else. */
  GLOOP_QT_MODAL_WINDOW = 0,
  /** Blocks input to every other window of the application. */
  GLOOP_QT_MODAL_APPLICATION = 1
};
/** As gloop_qt_message_box(), with an icon (GLOOP_QT_ICON_\*) and a
 * modality (GLOOP_QT_MODAL_\*). Neither runs a nested event loop: an
 * application-modal box blocks the user's input to other windows, not the
 * run's tasks. gloop_qt_message_box() is this call with
 * GLOOP_QT_ICON_NONE and GLOOP_QT_MODAL_WINDOW. Errors: those of
 * gloop_qt_message_box(), and GLOOP_EINVAL for an unknown icon or
 * modality. Task context. */
GLOOP_API int gloop_qt_message_box_ex(gloop_qt_widget *parent, const char *title,
                                      const char *text, int icon, int buttons,
                                      int modality, int *result);
/** Awaits any QDialog (the handle of a QDialog or a subclass, made in C++
 * or by the shim): shows it with QDialog::open() (window-modal) or, for
 * GLOOP_QT_MODAL_APPLICATION, application-modal, and waits for its
 * finished(int) signal without a nested event loop; \*result (if not NULL)
 * receives the code it finished with (QDialog::Accepted = 1, Rejected = 0,
 * or the value given to done()). The dialog stays the caller's: it is not
 * deleted. If the waiting task is cancelled the dialog is rejected (closed)
 * and GLOOP_ECANCELED returned. Errors: GLOOP_EINVAL (NULL, not a dialog,
 * bad modality), GLOOP_EBUSY (the dialog is already shown),
 * GLOOP_EDESTROYED (deleted before or while waiting), GLOOP_ECANCELED,
 * GLOOP_ENOTTASK, GLOOP_EWRONGTHREAD. Task context on the GUI thread. */
GLOOP_API int gloop_qt_dialog_open(gloop_qt_widget *dialog, int modality, int *result);
/** The message box a task currently waits on, or NULL (for tests and scripts). */
GLOOP_API gloop_qt_widget *gloop_qt_active_message_box(void);

#ifdef __cplusplus
}
#endif

#endif /* GUESTLOOP_QT_H */
