/* test_api.c - Qt cases for the host posts, the widget wrappers and the handling of bad input. */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "qt_test.h"

/* ---- The two posts --------------------------------------------------------- */

enum { THREAD_POSTS = 2000, ORDER_POSTS = 100, CHAIN_HOPS = 20000 };

typedef struct post_state {
  pthread_t gui;
  atomic_int from_thread;      /* callbacks posted by the worker thread that ran */
  int off_gui;                 /* callbacks that ran off the GUI thread */
  int order[ORDER_POSTS];
  int order_len;
  int chain;                   /* hops of the re-posting chain so far */
  int chain_at_timer;          /* hops done when a 1 ms Qt timer fired */
  int fallback_ran;
} post_state;

static post_state ps;

static void count_thread_post(void *arg) {
  (void)arg;
  if (!pthread_equal(pthread_self(), ps.gui)) ps.off_gui++;
  atomic_fetch_add(&ps.from_thread, 1);
}

static void fallback_post(void *arg) {
  (void)arg;
  if (!pthread_equal(pthread_self(), ps.gui)) ps.off_gui++;
  ps.fallback_ran++;
}

static void *poster_thread(void *arg) {
  (void)arg;
  for (int i = 0; i < THREAD_POSTS; i++) gloop_qt_post(count_thread_post, NULL, NULL);
  /* Misuse of the GUI-thread post from another thread is redirected to the
   * thread-safe path rather than corrupting the pending list. */
  gloop_qt_post_not_threadsafe(fallback_post, NULL, NULL);
  return NULL;
}

static void record_order(void *arg) { ps.order[ps.order_len++] = (int)(intptr_t)arg; }

static void chain_hop(void *arg) {
  (void)arg;
  if (++ps.chain < CHAIN_HOPS) gloop_qt_post_not_threadsafe(chain_hop, NULL, NULL);
}

static void timer_during_chain(void *arg) {
  (void)arg;
  ps.chain_at_timer = ps.chain;
}

static void finish_when_done(void *arg) {
  (void)arg;
  if (atomic_load(&ps.from_thread) == THREAD_POSTS && ps.fallback_ran == 1 &&
      ps.chain == CHAIN_HOPS && ps.order_len == ORDER_POSTS)
    gloop_qt_app_quit(qt_app);
  else
    qts_after(5, finish_when_done, NULL);
}

QT_CASE(host_posts) {
  qt_app_make();
  ps.gui = pthread_self();
  /* The GUI-thread post keeps FIFO order. */
  for (int i = 0; i < ORDER_POSTS; i++)
    gloop_qt_post_not_threadsafe(record_order, (void *)(intptr_t)i, NULL);
  /* A callback that re-posts itself runs once per pass of Qt's loop, so a
   * Qt timer gets its turn long before the chain ends. */
  gloop_qt_post_not_threadsafe(chain_hop, NULL, NULL);
  qts_after(1, timer_during_chain, NULL);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, poster_thread, NULL) == 0);
  qts_after(5, finish_when_done, NULL);
  CHECK_INT(gloop_qt_app_exec(qt_app), ==, 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_INT(ps.off_gui, ==, 0);
  for (int i = 0; i < ORDER_POSTS; i++) CHECK_INT(ps.order[i], ==, i);
  CHECK_INT(ps.chain_at_timer, >, 0);
  CHECK_INT(ps.chain_at_timer, <, CHAIN_HOPS);
  gloop_qt_app_free(qt_app);
  /* Without an application both posts report and drop the callback. */
  test_capture_begin();
  gloop_qt_post(record_order, NULL, NULL);
  gloop_qt_post_not_threadsafe(record_order, NULL, NULL);
  const char *err = test_capture_end();
  CHECK_CONTAINS(err, "no Qt application; callback dropped");
  CHECK_INT(ps.order_len, ==, ORDER_POSTS);
  return 0;
}

/* ---- Widgets --------------------------------------------------------------- */

static void count_click(void *data) { (*(int *)data)++; }

QT_CASE(widget_api) {
  qt_app_make();
  gloop_qt_widget *window, *central, *label, *grid_box, *button, *cell;
  gloop_qt_layout *vbox, *grid;
  char buf[64];

  CHECK_OK(gloop_qt_window_new(&window));
  central = gloop_qt_window_central(window);
  CHECK(central != NULL);
  CHECK(gloop_qt_window_central(central) == NULL);
  CHECK_OK(gloop_qt_widget_set_title(window, "Widgets"));
  CHECK_OK(gloop_qt_widget_resize(window, 320, 240));
  CHECK_OK(gloop_qt_vbox_new(central, &vbox));
  CHECK_ERR(gloop_qt_grid_new(central, &grid), GLOOP_EBUSY);

  /* Labels: text in and out as UTF-8, with truncation. */
  CHECK_OK(gloop_qt_label_new("The answer is 42.", &label));
  CHECK_OK(gloop_qt_vbox_add(vbox, label, GLOOP_QT_ALIGN_CENTER));
  CHECK_INT(gloop_qt_label_text(label, buf, sizeof buf), ==, 17);
  CHECK(strcmp(buf, "The answer is 42.") == 0);
  CHECK_INT(gloop_qt_label_text(label, buf, 4), ==, 17);
  CHECK(strcmp(buf, "The") == 0);
  CHECK_INT(gloop_qt_label_text(label, NULL, 0), ==, 17);
  const char *gear = "\xE2\x9A\x99\xEF\xB8\x8F ...Calculating prime numbers... \xE2\x9A\x99\xEF\xB8\x8F";
  CHECK_OK(gloop_qt_label_set_text(label, gear));
  CHECK_INT(gloop_qt_label_text(label, buf, sizeof buf), ==, (int)strlen(gear));
  CHECK(strcmp(buf, gear) == 0);
  CHECK_OK(gloop_qt_label_set_alignment(label, GLOOP_QT_ALIGN_RIGHT | GLOOP_QT_ALIGN_TOP));

  /* Font and colour. */
  CHECK_OK(gloop_qt_label_set_point_size(label, 14));
  CHECK_INT(gloop_qt_label_point_size(label), ==, 14);
  CHECK_INT(gloop_qt_label_bold(label), ==, 0);
  CHECK_OK(gloop_qt_label_set_bold(label, 1));
  CHECK_INT(gloop_qt_label_bold(label), ==, 1);
  CHECK_INT(gloop_qt_label_point_size(label), ==, 14);
  CHECK_OK(gloop_qt_label_set_color(label, 0x6040C0));
  CHECK_INT(gloop_qt_label_color(label), ==, 0x6040C0);

  /* A grid of labels in a container. */
  CHECK_OK(gloop_qt_container_new(NULL, &grid_box));
  CHECK_OK(gloop_qt_grid_new(grid_box, &grid));
  CHECK_ERR(gloop_qt_vbox_add(grid, label, 0), GLOOP_EINVAL);
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++) {
      snprintf(buf, sizeof buf, "%d", r * 4 + c + 1);
      CHECK_OK(gloop_qt_label_new(buf, &cell));
      CHECK_OK(gloop_qt_grid_add(grid, cell, r, c, GLOOP_QT_ALIGN_CENTER));
    }
  CHECK_OK(gloop_qt_vbox_add(vbox, grid_box, GLOOP_QT_ALIGN_CENTER));
  cell = gloop_qt_grid_at(grid, 2, 3);
  CHECK(cell != NULL);
  CHECK_INT(gloop_qt_label_text(cell, buf, sizeof buf), ==, 2);
  CHECK(strcmp(buf, "12") == 0);
  CHECK(gloop_qt_grid_at(grid, 3, 0) == NULL);
  CHECK(gloop_qt_grid_at(grid, -1, 0) == NULL);

  /* Names and lookup. */
  CHECK_OK(gloop_qt_widget_set_name(cell, "last-cell"));
  CHECK(gloop_qt_widget_find(window, "last-cell") == cell);
  CHECK(gloop_qt_widget_find(window, "missing") == NULL);

  /* Buttons. */
  int clicks = 0;
  CHECK_OK(gloop_qt_button_new("What is the question?", &button));
  CHECK_OK(gloop_qt_vbox_add(vbox, button, GLOOP_QT_ALIGN_HCENTER));
  CHECK_OK(gloop_qt_button_on_clicked(button, count_click, &clicks));
  CHECK_OK(gloop_qt_button_click(button));
  CHECK_OK(gloop_qt_button_click(button));
  CHECK_INT(clicks, ==, 2);

  CHECK_OK(gloop_qt_widget_show(window));
  CHECK_INT(qts_visible(window), ==, 1);
  CHECK_INT(qts_visible(cell), ==, 1);
  CHECK_OK(gloop_qt_widget_close(window));
  CHECK_INT(qts_visible(window), ==, 0);
  gloop_qt_widget_free(window);
  gloop_qt_widget_free(NULL);
  gloop_qt_app_free(qt_app);
  return 0;
}

/* ---- Bad input ------------------------------------------------------------- */

static int bad_thread_rc;
static gloop_qt_widget *bad_thread_label;

static void *touch_from_thread(void *arg) {
  (void)arg;
  bad_thread_rc = gloop_qt_label_set_text(bad_thread_label, "from a thread");
  return NULL;
}

static int dummy_entry(void *arg) {
  (void)arg;
  return 0;
}

typedef struct inside_state {
  int exec_rc;
  int free_ignored;
} inside_state;

static int main_misuses_app(void *arg) {
  inside_state *s = arg;
  s->exec_rc = gloop_qt_app_exec(qt_app);
  test_capture_begin();
  gloop_qt_app_free(qt_app);
  s->free_ignored = strstr(test_capture_end(), "called from inside the guest run") != NULL;
  return 0;
}

static void quit_in_done(const gloop_outcome *o, void *data) {
  (void)data;
  CHECK_ERR(o->status, 0);
  gloop_qt_app_quit(qt_app);
}

QT_CASE(bad_input) {
  gloop_qt_widget *w = NULL, *label, *button;
  gloop_qt_layout *l = NULL;
  char buf[8];
  static char arg0[] = "again";
  static char *argv[] = {arg0, NULL};
  int argc = 1;
  gloop_qt_app *second = NULL;

  /* Before any application exists. */
  CHECK_ERR(gloop_qt_window_new(&w), GLOOP_EINVAL);
  CHECK(w == NULL);
  CHECK_ERR(gloop_qt_label_new("x", &w), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_start(dummy_entry, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  CHECK(gloop_qt_active_message_box() == NULL);
  CHECK_ERR(gloop_qt_app_new(NULL, argv, &second), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_app_new(&argc, argv, NULL), GLOOP_EINVAL);

  qt_app_make();
  CHECK_ERR(gloop_qt_app_new(&argc, argv, &second), GLOOP_EBUSY);
  CHECK(second == NULL);
  CHECK_ERR(gloop_qt_app_exec(NULL), GLOOP_EINVAL);

  /* NULL handles and out-pointers. */
  CHECK_ERR(gloop_qt_window_new(NULL), GLOOP_EINVAL);
  CHECK(gloop_qt_window_central(NULL) == NULL);
  CHECK(gloop_qt_widget_object(NULL) == NULL);
  CHECK_ERR(gloop_qt_widget_set_title(NULL, "t"), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_widget_resize(NULL, 1, 1), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_widget_show(NULL), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_widget_close(NULL), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_widget_set_name(NULL, "n"), GLOOP_EINVAL);
  CHECK(gloop_qt_widget_find(NULL, "n") == NULL);
  CHECK_ERR(gloop_qt_container_new(NULL, NULL), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_vbox_new(NULL, &l), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_grid_add(NULL, NULL, 0, 0, 0), GLOOP_EINVAL);
  CHECK(gloop_qt_grid_at(NULL, 0, 0) == NULL);
  CHECK_ERR(gloop_qt_label_set_text(NULL, "x"), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_label_text(NULL, buf, sizeof buf), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_label_color(NULL), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_button_click(NULL), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_button_on_clicked(NULL, NULL, NULL), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_start(NULL, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  /* A GUI-thread post of the caller's own is refused, not silently
   * replaced; the shim's own one is accepted (and the run then ends by
   * itself, as dummy_entry returns at once). */
  {
    gloop_options o;
    gloop_options_init(&o);
    o.run_sync_soon_not_threadsafe = gloop_qt_post;
    CHECK_ERR(gloop_qt_start(dummy_entry, NULL, NULL, NULL, &o), GLOOP_EINVAL);
    CHECK(!gloop_in_run());
    o.run_sync_soon_not_threadsafe = gloop_qt_post_not_threadsafe;
    CHECK_OK(gloop_qt_start(dummy_entry, NULL, NULL, NULL, &o));
    while (gloop_in_run()) qts_process_events(5);
  }
  CHECK_ERR(gloop_qt_start_on_signal(NULL, NULL, NULL, NULL, NULL, NULL), GLOOP_EINVAL);
  gloop_qt_app_quit(NULL);
  gloop_qt_app_free(NULL);

  /* Wrong kinds of widget and out-of-range values. */
  CHECK_OK(gloop_qt_label_new("label", &label));
  CHECK_OK(gloop_qt_button_new("button", &button));
  CHECK_ERR(gloop_qt_label_set_text(button, "x"), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_label_bold(button), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_button_click(label), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_wait_clicked(label), GLOOP_ENOTTASK);
  CHECK_ERR(gloop_qt_button_on_clicked(button, NULL, NULL), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_label_set_text(label, NULL), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_label_text(label, NULL, 4), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_label_set_point_size(label, 0), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_label_set_color(label, 0x1000000u), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_label_set_alignment(label, 0x8), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_widget_resize(label, 0, 10), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_container_new(NULL, &w), 0);
  CHECK_ERR(gloop_qt_vbox_new(w, &l), 0);
  CHECK_ERR(gloop_qt_vbox_add(l, label, 0x100), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_grid_add((gloop_qt_layout *)l, label, 0, 0, 0), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_vbox_add(l, label, GLOOP_QT_ALIGN_LEFT | GLOOP_QT_ALIGN_VCENTER), 0);

  /* Widgets belong to the GUI thread. */
  bad_thread_label = label;
  bad_thread_rc = 1;
  pthread_t t;
  CHECK(pthread_create(&t, NULL, touch_from_thread, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_ERR(bad_thread_rc, GLOOP_EWRONGTHREAD);

  /* Qt's loop cannot be entered, nor the application freed, from a task. */
  inside_state s = {1, 0};
  CHECK_OK(gloop_qt_start(main_misuses_app, &s, quit_in_done, NULL, NULL));
  CHECK_INT(gloop_qt_app_exec(qt_app), ==, 0);
  CHECK_ERR(s.exec_rc, GLOOP_EBUSY);
  CHECK_INT(s.free_ignored, ==, 1);

  gloop_qt_widget_free(w);
  gloop_qt_widget_free(button);
  gloop_qt_app_free(qt_app);
  return 0;
}

/* ---- Handles of widgets Qt has deleted --------------------------------------- */

static void noop_clicked(void *arg) { (void)arg; }

static int deleted_wait_rc = 1;
static int wait_on_deleted(void *arg) {
  deleted_wait_rc = gloop_qt_wait_clicked(arg);
  return 0;
}
static void deleted_done(const gloop_outcome *o, void *data) {
  (void)o;
  (void)data;
  gloop_qt_app_quit(qt_app);
}

/* A label whose window Qt deleted (and with it the label, its layout and a
 * button) is refused with GLOOP_EDESTROYED by every call that takes it,
 * rather than dereferenced. */
QT_CASE(deleted_widgets) {
  gloop_qt_widget *win, *label, *button, *central, *other;
  gloop_qt_layout *box;
  char buf[8];
  qt_app_make();
  CHECK_OK(gloop_qt_window_new(&win));
  central = gloop_qt_window_central(win);
  CHECK(central != NULL);
  CHECK_OK(gloop_qt_vbox_new(central, &box));
  CHECK_OK(gloop_qt_label_new("doomed", &label));
  CHECK_OK(gloop_qt_button_new("doomed too", &button));
  CHECK_OK(gloop_qt_vbox_add(box, label, 0));
  CHECK_OK(gloop_qt_vbox_add(box, button, 0));
  CHECK_OK(gloop_qt_label_set_text(label, "alive"));

  /* Qt deletes the children with their window. */
  gloop_qt_widget_free(win);
  CHECK_ERR(gloop_qt_label_set_text(label, "x"), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_label_text(label, buf, sizeof buf), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_label_set_bold(label, 1), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_label_color(label), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_widget_set_title(win, "t"), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_widget_resize(central, 10, 10), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_widget_show(label), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_widget_set_name(label, "n"), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_button_click(button), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_button_on_clicked(button, noop_clicked, NULL), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_wait_signal(gloop_qt_widget_object(label), "destroyed()"), GLOOP_ENOTTASK);
  CHECK(gloop_qt_widget_object(label) == NULL);
  CHECK(gloop_qt_window_central(win) == NULL);
  CHECK(gloop_qt_widget_find(win, "n") == NULL);
  gloop_qt_layout *refused;
  CHECK_ERR(gloop_qt_vbox_new(label, &refused), GLOOP_EDESTROYED);
  /* (Asked before any new object exists: the allocator may place one at the
   * label's address, and the label's handle would then name it; see the
   * header's "Lifetime of a handle".) */
  CHECK_OK(gloop_qt_container_new(NULL, &other));
  CHECK_ERR(gloop_qt_vbox_add(box, other, 0), GLOOP_EDESTROYED);
  CHECK(gloop_qt_grid_at((gloop_qt_layout *)box, 0, 0) == NULL);
  /* Freeing it again is ignored with a message, not a double delete. */
  gloop_qt_widget_free(label);

  /* In a task: the wait is refused before it begins. */
  CHECK_OK(gloop_qt_start(wait_on_deleted, button, deleted_done, NULL, NULL));
  CHECK_INT(gloop_qt_app_exec(qt_app), ==, 0);
  CHECK_ERR(deleted_wait_rc, GLOOP_EDESTROYED);

  /* A new widget is usable, even at an address Qt hands out again. */
  for (int i = 0; i < 8; i++) {
    gloop_qt_widget *fresh;
    CHECK_OK(gloop_qt_label_new("fresh", &fresh));
    CHECK_OK(gloop_qt_label_set_text(fresh, "ok"));
    gloop_qt_widget_free(fresh);
    CHECK_ERR(gloop_qt_label_set_text(fresh, "gone"), GLOOP_EDESTROYED);
  }
  gloop_qt_widget_free(other);
  gloop_qt_app_free(qt_app);
  return 0;
}

/* ---- Integer parameters at their edges -------------------------------------------- */

/* Every int and size parameter of the widget API fed the type's limits and
 * their neighbours: each call gives its documented result, and nothing
 * crashes, allocates without bound or hangs (the runner's watchdog). */
QT_CASE(edge_values_ints) {
  static const int ints[] = {INT_MIN, INT_MIN + 1, -2, -1, 0, 1, 2, 4096, 4097, INT_MAX - 1, INT_MAX};
  gloop_qt_widget *label, *holder;
  gloop_qt_layout *grid;
  char buf[8];
  qt_app_make();
  CHECK_OK(gloop_qt_label_new("edge", &label));
  CHECK_OK(gloop_qt_container_new(NULL, &holder));
  CHECK_OK(gloop_qt_grid_new(holder, &grid));
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    int v = ints[i];
    printf("value %d\n", v);
    /* Sizes: positive, clamped by Qt to its maximum widget size. */
    CHECK_ERR(gloop_qt_widget_resize(label, v, 10), v > 0 ? 0 : GLOOP_EINVAL);
    CHECK_ERR(gloop_qt_widget_resize(label, 10, v), v > 0 ? 0 : GLOOP_EINVAL);
    /* Grid cells: 0 to GLOOP_QT_GRID_MAX - 1 (Qt sizes its tables by the
     * largest index, so a huge one would allocate without bound). */
    int cell_ok = v >= 0 && v < GLOOP_QT_GRID_MAX;
    gloop_qt_widget *w;
    CHECK_OK(gloop_qt_label_new("cell", &w));
    CHECK_ERR(gloop_qt_grid_add(grid, w, v, 0, 0), cell_ok ? 0 : GLOOP_EINVAL);
    if (cell_ok) CHECK(gloop_qt_grid_at(grid, v, 0) == w);
    else gloop_qt_widget_free(w);
    CHECK_OK(gloop_qt_label_new("cell", &w));
    CHECK_ERR(gloop_qt_grid_add(grid, w, 0, v, 0), cell_ok ? 0 : GLOOP_EINVAL);
    if (!cell_ok) gloop_qt_widget_free(w);
    if (!cell_ok) CHECK(gloop_qt_grid_at(grid, v, v) == NULL);
    /* Fonts: 1 to GLOOP_QT_POINT_SIZE_MAX points. */
    int pt_ok = v > 0 && v <= GLOOP_QT_POINT_SIZE_MAX;
    CHECK_ERR(gloop_qt_label_set_point_size(label, v), pt_ok ? 0 : GLOOP_EINVAL);
    if (pt_ok) CHECK_INT(gloop_qt_label_point_size(label), ==, v);
    /* Flags: any nonzero value means true. */
    CHECK_OK(gloop_qt_label_set_bold(label, v));
    CHECK_INT(gloop_qt_label_bold(label), ==, v != 0);
    /* Alignments: only the documented bits. */
    int align_ok = (v & ~0xE7) == 0;
    CHECK_ERR(gloop_qt_label_set_alignment(label, v), align_ok ? 0 : GLOOP_EINVAL);
  }
  /* Colours: 24 bits. */
  CHECK_OK(gloop_qt_label_set_color(label, 0));
  CHECK_OK(gloop_qt_label_set_color(label, 0xFFFFFFu));
  CHECK_ERR(gloop_qt_label_set_color(label, 0x1000000u), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_label_set_color(label, UINT32_MAX), GLOOP_EINVAL);
  CHECK_INT(gloop_qt_label_color(label), ==, 0xFFFFFF);
  /* Text buffers: 0 (length only), 1 (just the NUL), exact and larger. */
  CHECK_OK(gloop_qt_label_set_text(label, "abcdef"));
  CHECK_INT(gloop_qt_label_text(label, NULL, 0), ==, 6);
  memset(buf, 'x', sizeof buf);
  CHECK_INT(gloop_qt_label_text(label, buf, 1), ==, 6);
  CHECK(buf[0] == '\0' && buf[1] == 'x');
  CHECK_INT(gloop_qt_label_text(label, buf, 7), ==, 6);
  CHECK(strcmp(buf, "abcdef") == 0);
  CHECK_INT(gloop_qt_label_text(label, buf, 6), ==, 6);
  CHECK(strcmp(buf, "abcde") == 0);
  gloop_qt_widget_free(label);
  gloop_qt_widget_free(holder);
  gloop_qt_app_free(qt_app);
  return 0;
}

/* ---- Progress bars and enabled state ----------------------------------------- */

static int progress_thread_rc, enabled_thread_rc;
static gloop_qt_widget *progress_thread_bar;

static void *progress_from_thread(void *arg) {
  (void)arg;
  progress_thread_rc = gloop_qt_progress_set_value(progress_thread_bar, 1);
  enabled_thread_rc = gloop_qt_widget_set_enabled(progress_thread_bar, 0);
  return NULL;
}

/* gloop_qt_progress_* and gloop_qt_widget_set_enabled/enabled: values at
 * the edges of the range, every wrong input, the wrong thread, before an
 * application and after the widget died. */
QT_CASE(progress_and_enabled) {
  gloop_qt_widget *bar = NULL, *busy, *label, *button;
  int clicks = 0;

  CHECK_ERR(gloop_qt_progress_new(0, 10, &bar), GLOOP_EINVAL); /* no application */
  CHECK(bar == NULL);
  CHECK_ERR(gloop_qt_widget_set_enabled(NULL, 1), GLOOP_EINVAL);
  qt_app_make();

  CHECK_ERR(gloop_qt_progress_new(0, 10, NULL), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_progress_new(-1, 10, &bar), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_progress_new(INT_MIN, 0, &bar), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_progress_new(5, 4, &bar), GLOOP_EINVAL);
  CHECK(bar == NULL);
  CHECK_OK(gloop_qt_progress_new(3, 3, &busy)); /* Qt's busy indicator */
  CHECK_INT(gloop_qt_progress_value(busy), ==, 3);
  CHECK_OK(gloop_qt_progress_new(0, INT_MAX, &bar));
  CHECK_INT(gloop_qt_progress_value(bar), ==, 0);
  CHECK_OK(gloop_qt_progress_set_value(bar, INT_MAX));
  CHECK_INT(gloop_qt_progress_value(bar), ==, INT_MAX);
  CHECK_ERR(gloop_qt_progress_set_value(bar, -1), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_progress_set_value(bar, INT_MIN), GLOOP_EINVAL);
  CHECK_INT(gloop_qt_progress_value(bar), ==, INT_MAX);
  CHECK_OK(gloop_qt_progress_set_value(bar, 0));
  CHECK_ERR(gloop_qt_progress_set_value(NULL, 0), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_progress_value(NULL), GLOOP_EINVAL);

  /* A widget of another kind is not a bar; enabling works on any widget. */
  CHECK_OK(gloop_qt_label_new("label", &label));
  CHECK_ERR(gloop_qt_progress_set_value(label, 0), GLOOP_EINVAL);
  CHECK_ERR(gloop_qt_progress_value(label), GLOOP_EINVAL);
  CHECK_INT(gloop_qt_widget_enabled(label), ==, 1);
  CHECK_OK(gloop_qt_widget_set_enabled(label, 0));
  CHECK_INT(gloop_qt_widget_enabled(label), ==, 0);
  CHECK_OK(gloop_qt_widget_set_enabled(label, INT_MIN)); /* any nonzero value enables */
  CHECK_INT(gloop_qt_widget_enabled(label), ==, 1);

  /* A disabled button ignores a programmatic click. */
  CHECK_OK(gloop_qt_button_new("button", &button));
  CHECK_OK(gloop_qt_button_on_clicked(button, count_click, &clicks));
  CHECK_OK(gloop_qt_widget_set_enabled(button, 0));
  CHECK_OK(gloop_qt_button_click(button));
  CHECK_INT(clicks, ==, 0);
  CHECK_OK(gloop_qt_widget_set_enabled(button, 1));
  CHECK_OK(gloop_qt_button_click(button));
  CHECK_INT(clicks, ==, 1);

  /* Off the GUI thread. */
  progress_thread_bar = bar;
  progress_thread_rc = enabled_thread_rc = 1;
  pthread_t t;
  CHECK(pthread_create(&t, NULL, progress_from_thread, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK_ERR(progress_thread_rc, GLOOP_EWRONGTHREAD);
  CHECK_ERR(enabled_thread_rc, GLOOP_EWRONGTHREAD);
  CHECK_INT(gloop_qt_progress_value(bar), ==, 0);
  CHECK_INT(gloop_qt_widget_enabled(bar), ==, 1);

  /* After the widget died. */
  gloop_qt_widget_free(bar);
  CHECK_ERR(gloop_qt_progress_set_value(bar, 0), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_progress_value(bar), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_widget_set_enabled(bar, 1), GLOOP_EDESTROYED);
  CHECK_ERR(gloop_qt_widget_enabled(bar), GLOOP_EDESTROYED);

  gloop_qt_widget_free(busy);
  gloop_qt_widget_free(label);
  gloop_qt_widget_free(button);
  gloop_qt_app_free(qt_app);
  return 0;
}
