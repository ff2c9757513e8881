/* consumer.c - a tiny outside Qt application in C that uses the installed library. */
#include <guestloop/guestloop.h>
#include <guestloop/guestloop-qt.h>
#include <guestloop/host.h>
#include <stdio.h>
#include <string.h>

static gloop_qt_widget *window, *label;

/* The main task: wait a little, change the label, close the window. Closing
 * the last window quits the application once the run has ended. */
static int main_task(void *arg)
{
  (void)arg;
  int rc = gloop_sleep(0.05);
  if (rc == 0) rc = gloop_qt_label_set_text(label, "done");
  gloop_qt_widget_close(window);
  return rc;
}

int main(int argc, char **argv)
{
  gloop_qt_app *app;
  if (gloop_qt_app_new(&argc, argv, &app) != 0) return 1;
  gloop_qt_layout *box;
  if (gloop_qt_window_new(&window) != 0 || gloop_qt_label_new("waiting", &label) != 0 ||
      gloop_qt_vbox_new(gloop_qt_window_central(window), &box) != 0 ||
      gloop_qt_vbox_add(box, label, GLOOP_QT_ALIGN_CENTER) != 0)
    return 1;
  gloop_qt_widget_show(window);
  if (gloop_qt_start(main_task, NULL, NULL, NULL, NULL) != 0) return 1;
  /* The installed host-policy header: the Qt shim started the run through it. */
  if (gloop_host_live() != 1) return 1;
  int code = gloop_qt_app_exec(app);
  char text[32];
  gloop_qt_label_text(label, text, sizeof text);
  printf("consumer (C, %s): label says '%s'\n", gloop_version_string(), text);
  gloop_qt_app_free(app);
  return code == 0 && strcmp(text, "done") == 0 ? 0 : 1;
}
