/* qt_support.h - the few raw-Qt helpers the C tests and the Qt benchmark need that the shim's API rightly lacks. */
#ifndef GLOOP_QT_SUPPORT_H
#define GLOOP_QT_SUPPORT_H

#include "guestloop/guestloop-qt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*qts_fn)(void *data);

/* Calls fn(data) once from Qt's loop after `ms` milliseconds (a
 * QTimer::singleShot), in host context on the GUI thread. */
void qts_after(int ms, qts_fn fn, void *data);

/* The responsiveness probe: a precise QTimer with the given interval that
 * records the largest gap between its firings. The gap before the first
 * firing (from start) and after the last one (to stop) count too, so a probe
 * that never fires reports the whole window. max_gap_ms is the largest gap
 * in real time; max_cpu_gap_ms (may be NULL) the largest in the calling
 * thread's CPU time, which leaves out the time the system did not run the
 * thread at all: what the thread's own work between two firings took. */
void qts_probe_start(int interval_ms);
void qts_probe_stop(int *ticks, double *max_gap_ms, double *max_cpu_gap_ms);

/* QCoreApplication::exit(code): ends Qt's loop at once, with no Quit event. */
void qts_exit(int code);

/* Runs Qt's event loop for `ms` milliseconds outside exec(). */
void qts_process_events(int ms);

/* Whether a widget is visible (1) or not (0). */
int qts_visible(gloop_qt_widget *w);

/* How many top-level widgets exist (visible or not). */
int qts_top_level_count(void);

/* Whether anything is connected to the signal of obj with that signature:
 * 1 yes, 0 no, -1 no such signal. */
int qts_signal_connected(gloop_qt_object *obj, const char *signal);

/* A plain QDialog (no parent), for gloop_qt_dialog_open(). */
gloop_qt_widget *qts_dialog_new(void);
/* QDialog::done(code) on a dialog. */
void qts_dialog_done(gloop_qt_widget *dialog, int code);
/* A widget's windowModality(): 0 none, 1 window, 2 application. */
int qts_modality(gloop_qt_widget *w);
/* A message box's icon (QMessageBox::Icon). */
int qts_box_icon(gloop_qt_widget *box);


#ifdef __cplusplus
}
#endif

#endif
