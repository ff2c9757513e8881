// widgets.cpp - the widget C API: thin wrappers that create, arrange and read Qt widgets.
#include "internal.hpp"

#include <QAbstractButton>
#include <QBoxLayout>
#include <QByteArray>
#include <QColor>
#include <QFont>
#include <QGridLayout>
#include <QLabel>
#include <QLayout>
#include <QLayoutItem>
#include <QMainWindow>
#include <QPalette>
#include <QProgressBar>
#include <QPushButton>
#include <QString>
#include <QWidget>

#include <QHash>
#include <QSet>

#include <cstring>
#include <mutex>

/* The public alignment values are Qt's own, so they convert by value. */
static_assert(int{GLOOP_QT_ALIGN_LEFT} == int{Qt::AlignLeft}, "alignment values must match Qt");
static_assert(int{GLOOP_QT_ALIGN_RIGHT} == int{Qt::AlignRight}, "alignment values must match Qt");
static_assert(int{GLOOP_QT_ALIGN_HCENTER} == int{Qt::AlignHCenter}, "alignment values must match Qt");
static_assert(int{GLOOP_QT_ALIGN_TOP} == int{Qt::AlignTop}, "alignment values must match Qt");
static_assert(int{GLOOP_QT_ALIGN_BOTTOM} == int{Qt::AlignBottom}, "alignment values must match Qt");
static_assert(int{GLOOP_QT_ALIGN_VCENTER} == int{Qt::AlignVCenter}, "alignment values must match Qt");
static_assert(int{GLOOP_QT_ALIGN_CENTER} == int{Qt::AlignCenter}, "alignment values must match Qt");

using namespace gloop_qt_detail;

/* ---- Handles ------------------------------------------------------------ */

namespace {

/* Addresses of the objects the shim knows, live and deleted. An address moves
 * from `live` to `deleted` when its object's destroyed() signal fires, and
 * back when a new object the shim hands out is created at the same address.
 * `deleted` only grows with objects deleted for good (a few bytes each). A
 * mutex, because destroyed() of an object on another thread fires there. */
struct Registry {
  std::mutex mu;
  QSet<const void *> live, deleted;
};

Registry &registry() {
  static Registry *r = new Registry; /* never destroyed: objects die at exit too */
  return *r;
}

thread_local bool destroyed_seen = false;

}  // namespace

namespace gloop_qt_detail {

bool take_destroyed_seen() noexcept {
  bool seen = destroyed_seen;
  destroyed_seen = false;
  return seen;
}

void remember(QObject *object) noexcept {
  if (object == nullptr) return;
  Registry &r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (r.live.contains(object)) return;
    r.deleted.remove(object);
    r.live.insert(object);
  }
  const void *key = object;
  QObject::connect(object, &QObject::destroyed, [key] {
    Registry &reg = registry();
    std::lock_guard<std::mutex> lock(reg.mu);
    reg.live.remove(key);
    reg.deleted.insert(key);
  });
}

bool handle_live(const void *handle) noexcept {
  Registry &r = registry();
  {
    std::lock_guard<std::mutex> lock(r.mu);
    if (r.live.contains(handle)) return true;
    if (r.deleted.contains(handle)) {
      destroyed_seen = true;
      return false;
    }
  }
  remember(reinterpret_cast<QObject *>(const_cast<void *>(handle)));
  return true;
}

gloop_qt_widget *to_handle(QWidget *w) noexcept {
  remember(w);
  return reinterpret_cast<gloop_qt_widget *>(w);
}

}  // namespace gloop_qt_detail

namespace {

constexpr int kAlignMask = GLOOP_QT_ALIGN_LEFT | GLOOP_QT_ALIGN_RIGHT | GLOOP_QT_ALIGN_HCENTER |
                           GLOOP_QT_ALIGN_TOP | GLOOP_QT_ALIGN_BOTTOM | GLOOP_QT_ALIGN_VCENTER;

bool valid_align(int align) { return (align & ~kAlignMask) == 0; }

Qt::Alignment to_qt_align(int align) { return Qt::Alignment(align); }

QString from_utf8(const char *s) { return QString::fromUtf8(s != nullptr ? s : ""); }

/* The handle as a T (a QWidget subclass), or NULL if it is NULL or another
 * kind of widget. */
template <typename T>
T *widget_as(gloop_qt_widget *w) {
  return w == nullptr ? nullptr : qobject_cast<T *>(as_widget(w));
}

/* The opening that the widget entry points share: exceptions contained
 * (guarded()), the GUI-thread check, and the handle resolved to a live T
 * (GLOOP_EINVAL for NULL or another kind of widget, GLOOP_EDESTROYED once
 * Qt has deleted it); then the entry's own Qt call(s) with the T. */
template <typename T, typename R = int, typename Body>
R on_widget(const char *where, gloop_qt_widget *handle, Body &&body) noexcept {
  return guarded_value<R>(where, GLOOP_EINTERNAL, [&]() -> R {
    int rc = gui_check();
    if (rc < 0) return rc;
    T *w = widget_as<T>(handle);
    if (w == nullptr) return GLOOP_EINVAL;
    return body(w);
  });
}

template <typename T>
T *layout_as(gloop_qt_layout *l) {
  return l == nullptr || !handle_live(l) ? nullptr : qobject_cast<T *>(reinterpret_cast<QLayout *>(l));
}

/* Installs a new layout of type L on `on`. Qt refuses (with a warning) to
 * replace an existing layout, so that case is reported as GLOOP_EBUSY. */
template <typename L>
int layout_new(gloop_qt_widget *on, gloop_qt_layout **out) {
  if (out == nullptr) return GLOOP_EINVAL;
  *out = nullptr;
  int rc = gui_check();
  if (rc < 0) return rc;
  QWidget *w = widget_as<QWidget>(on);
  if (w == nullptr) return GLOOP_EINVAL;
  if (w->layout() != nullptr) return GLOOP_EBUSY;
  QLayout *layout = new L(w);
  remember(layout);
  *out = reinterpret_cast<gloop_qt_layout *>(layout);
  return 0;
}

/* Common prologue of the label setters and getters. */
}  // namespace

extern "C" {

gloop_qt_object *gloop_qt_widget_object(gloop_qt_widget *w) {
  return w == nullptr ? nullptr
                      : reinterpret_cast<gloop_qt_object *>(static_cast<QObject *>(as_widget(w)));
}

int gloop_qt_window_new(gloop_qt_widget **out) {
  return guarded(__func__, [&]() -> int {
    if (out == nullptr) return GLOOP_EINVAL;
    *out = nullptr;
    int rc = gui_check();
    if (rc < 0) return rc;
    auto *win = new QMainWindow;
    win->setCentralWidget(new QWidget);
    *out = to_handle(win);
    return 0;
  });
}

gloop_qt_widget *gloop_qt_window_central(gloop_qt_widget *window) {
  return guarded_value<gloop_qt_widget *>(__func__, nullptr, [&]() -> gloop_qt_widget * {
    if (gui_check() < 0) return nullptr;
    auto *win = widget_as<QMainWindow>(window);
    return win == nullptr ? nullptr : to_handle(win->centralWidget());
  });
}

int gloop_qt_widget_set_title(gloop_qt_widget *w, const char *title) {
  return on_widget<QWidget>(__func__, w, [&](QWidget *widget) -> int {
    if (title == nullptr) return GLOOP_EINVAL;
    widget->setWindowTitle(QString::fromUtf8(title));
    return 0;
  });
}

int gloop_qt_widget_resize(gloop_qt_widget *w, int width, int height) {
  return on_widget<QWidget>(__func__, w, [&](QWidget *widget) -> int {
    if (width <= 0 || height <= 0) return GLOOP_EINVAL;
    widget->resize(width, height);
    return 0;
  });
}

int gloop_qt_widget_show(gloop_qt_widget *w) {
  return on_widget<QWidget>(__func__, w, [&](QWidget *widget) -> int {
    widget->show();
    return 0;
  });
}

int gloop_qt_widget_close(gloop_qt_widget *w) {
  return on_widget<QWidget>(__func__, w, [&](QWidget *widget) -> int {
    /* A widget may refuse to close (its closeEvent ignored the event, as a
     * message box without an escape button does). */
    return widget->close() ? 0 : GLOOP_EBUSY;
  });
}

void gloop_qt_widget_free(gloop_qt_widget *w) {
  guarded_void(__func__, [&] {
    if (w == nullptr) return;
    if (gui_check() < 0) {
      std::fprintf(stderr, "guestloop: gloop_qt_widget_free: called off the GUI thread; ignored\n");
      return;
    }
    QWidget *widget = as_widget(w);
    if (widget == nullptr) {
      std::fprintf(stderr, "guestloop: gloop_qt_widget_free: the widget was already deleted; ignored\n");
      return;
    }
    /* Inside a task the widget is hidden now and deleted from Qt's loop, out
     * of the task, so that its destructor (and everything connected to
     * destroyed()) runs in host context on the main stack. */
    if (gloop_current_task() != nullptr) {
      widget->hide();
      widget->deleteLater();
    } else {
      delete widget;
    }
  });
}

int gloop_qt_widget_set_name(gloop_qt_widget *w, const char *name) {
  return on_widget<QWidget>(__func__, w, [&](QWidget *widget) -> int {
    if (name == nullptr) return GLOOP_EINVAL;
    widget->setObjectName(QString::fromUtf8(name));
    return 0;
  });
}

gloop_qt_widget *gloop_qt_widget_find(gloop_qt_widget *root, const char *name) {
  return guarded_value<gloop_qt_widget *>(__func__, nullptr, [&]() -> gloop_qt_widget * {
    if (gui_check() < 0 || name == nullptr) return nullptr;
    QWidget *widget = widget_as<QWidget>(root);
    if (widget == nullptr) return nullptr;
    return to_handle(widget->findChild<QWidget *>(QString::fromUtf8(name)));
  });
}

int gloop_qt_container_new(gloop_qt_widget *parent, gloop_qt_widget **out) {
  return guarded(__func__, [&]() -> int {
    if (out == nullptr) return GLOOP_EINVAL;
    *out = nullptr;
    int rc = gui_check();
    if (rc < 0) return rc;
    QWidget *p = nullptr;
    if (parent != nullptr) {
      p = widget_as<QWidget>(parent);
      if (p == nullptr) return GLOOP_EINVAL;
    }
    *out = to_handle(new QWidget(p));
    return 0;
  });
}

int gloop_qt_vbox_new(gloop_qt_widget *on, gloop_qt_layout **out) {
  return guarded(__func__, [&] { return layout_new<QVBoxLayout>(on, out); });
}

int gloop_qt_grid_new(gloop_qt_widget *on, gloop_qt_layout **out) {
  return guarded(__func__, [&] { return layout_new<QGridLayout>(on, out); });
}

int gloop_qt_vbox_add(gloop_qt_layout *box, gloop_qt_widget *w, int align) {
  return guarded(__func__, [&]() -> int {
    int rc = gui_check();
    if (rc < 0) return rc;
    auto *layout = layout_as<QBoxLayout>(box);
    QWidget *widget = widget_as<QWidget>(w);
    if (layout == nullptr || widget == nullptr || !valid_align(align)) return GLOOP_EINVAL;
    layout->addWidget(widget, 0, to_qt_align(align));
    return 0;
  });
}

int gloop_qt_grid_add(gloop_qt_layout *grid, gloop_qt_widget *w, int row, int col, int align) {
  return guarded(__func__, [&]() -> int {
    int rc = gui_check();
    if (rc < 0) return rc;
    auto *layout = layout_as<QGridLayout>(grid);
    QWidget *widget = widget_as<QWidget>(w);
    if (layout == nullptr || widget == nullptr || row < 0 || col < 0 || row >= GLOOP_QT_GRID_MAX ||
        col >= GLOOP_QT_GRID_MAX || !valid_align(align))
      return GLOOP_EINVAL;
    layout->addWidget(widget, row, col, to_qt_align(align));
    return 0;
  });
}

gloop_qt_widget *gloop_qt_grid_at(gloop_qt_layout *grid, int row, int col) {
  return guarded_value<gloop_qt_widget *>(__func__, nullptr, [&]() -> gloop_qt_widget * {
    if (gui_check() < 0 || row < 0 || col < 0 || row >= GLOOP_QT_GRID_MAX || col >= GLOOP_QT_GRID_MAX)
      return nullptr;
    auto *layout = layout_as<QGridLayout>(grid);
    if (layout == nullptr) return nullptr;
    QLayoutItem *item = layout->itemAtPosition(row, col);
    return item == nullptr ? nullptr : to_handle(item->widget());
  });
}

int gloop_qt_label_new(const char *text, gloop_qt_widget **out) {
  return guarded(__func__, [&]() -> int {
    if (out == nullptr) return GLOOP_EINVAL;
    *out = nullptr;
    int rc = gui_check();
    if (rc < 0) return rc;
    *out = to_handle(new QLabel(from_utf8(text)));
    return 0;
  });
}

int gloop_qt_label_set_text(gloop_qt_widget *label, const char *text) {
  return on_widget<QLabel>(__func__, label, [&](QLabel *l) -> int {
    if (text == nullptr) return GLOOP_EINVAL;
    l->setText(QString::fromUtf8(text));
    return 0;
  });
}

int gloop_qt_label_text(gloop_qt_widget *label, char *buf, size_t buflen) {
  return on_widget<QLabel>(__func__, label, [&](QLabel *l) -> int {
    if (buf == nullptr && buflen > 0) return GLOOP_EINVAL;
    QByteArray utf8 = l->text().toUtf8();
    size_t len = static_cast<size_t>(utf8.size());
    if (buflen > 0) {
      size_t n = len < buflen - 1 ? len : buflen - 1;
      std::memcpy(buf, utf8.constData(), n);
      buf[n] = '\0';
    }
    return static_cast<int>(len);
  });
}

int gloop_qt_label_set_alignment(gloop_qt_widget *label, int align) {
  return on_widget<QLabel>(__func__, label, [&](QLabel *l) -> int {
    if (!valid_align(align)) return GLOOP_EINVAL;
    l->setAlignment(to_qt_align(align));
    return 0;
  });
}

int gloop_qt_label_set_point_size(gloop_qt_widget *label, int points) {
  return on_widget<QLabel>(__func__, label, [&](QLabel *l) -> int {
    if (points <= 0 || points > GLOOP_QT_POINT_SIZE_MAX) return GLOOP_EINVAL;
    QFont f = l->font();
    f.setPointSize(points);
    l->setFont(f);
    return 0;
  });
}

int gloop_qt_label_point_size(gloop_qt_widget *label) {
  return on_widget<QLabel>(__func__, label, [&](QLabel *l) -> int {
    /* A font sized in pixels has no point size (Qt reports -1, which would
     * read as an error code here); say so plainly instead. */
    int points = l->font().pointSize();
    return points > 0 ? points : GLOOP_EINVAL;
  });
}

int gloop_qt_label_set_bold(gloop_qt_widget *label, int bold) {
  return on_widget<QLabel>(__func__, label, [&](QLabel *l) -> int {
    QFont f = l->font();
    f.setBold(bold != 0);
    l->setFont(f);
    return 0;
  });
}

int gloop_qt_label_bold(gloop_qt_widget *label) {
  return on_widget<QLabel>(__func__, label, [&](QLabel *l) -> int {
    return l->font().bold() ? 1 : 0;
  });
}

int gloop_qt_label_set_color(gloop_qt_widget *label, uint32_t rgb) {
  return on_widget<QLabel>(__func__, label, [&](QLabel *l) -> int {
    if (rgb > 0xFFFFFFu) return GLOOP_EINVAL;
    /* setColor(role, colour) sets the role in every colour group. */
    QPalette p = l->palette();
    p.setColor(QPalette::WindowText, QColor(static_cast<QRgb>(rgb)));
    l->setPalette(p);
    return 0;
  });
}

long gloop_qt_label_color(gloop_qt_widget *label) {
  return on_widget<QLabel, long>(__func__, label, [&](QLabel *l) -> long {
    return static_cast<long>(l->palette().color(QPalette::WindowText).rgb() & 0xFFFFFFu);
  });
}

int gloop_qt_button_new(const char *text, gloop_qt_widget **out) {
  return guarded(__func__, [&]() -> int {
    if (out == nullptr) return GLOOP_EINVAL;
    *out = nullptr;
    int rc = gui_check();
    if (rc < 0) return rc;
    *out = to_handle(new QPushButton(from_utf8(text)));
    return 0;
  });
}

int gloop_qt_button_on_clicked(gloop_qt_widget *button, gloop_callback_fn cb, void *data) {
  return on_widget<QAbstractButton>(__func__, button, [&](QAbstractButton *b) -> int {
    if (cb == nullptr) return GLOOP_EINVAL;
    /* The button is the connection's context: the connection dies with it. */
    QObject::connect(b, &QAbstractButton::clicked, b, [cb, data] {
      guarded_void("a click callback", [&] { cb(data); });
    });
    return 0;
  });
}

int gloop_qt_button_click(gloop_qt_widget *button) {
  return on_widget<QAbstractButton>(__func__, button, [&](QAbstractButton *b) -> int {
    b->click();
    return 0;
  });
}

int gloop_qt_widget_set_enabled(gloop_qt_widget *w, int enabled) {
  return on_widget<QWidget>(__func__, w, [&](QWidget *widget) -> int {
    widget->setEnabled(enabled != 0);
    return 0;
  });
}

int gloop_qt_widget_enabled(gloop_qt_widget *w) {
  return on_widget<QWidget>(__func__, w, [&](QWidget *widget) -> int {
    return widget->isEnabled() ? 1 : 0;
  });
}

int gloop_qt_progress_new(int minimum, int maximum, gloop_qt_widget **out) {
  return guarded(__func__, [&]() -> int {
    if (out == nullptr) return GLOOP_EINVAL;
    *out = nullptr;
    int rc = gui_check();
    if (rc < 0) return rc;
    if (minimum < 0 || maximum < minimum) return GLOOP_EINVAL;
    auto *bar = new QProgressBar;
    bar->setRange(minimum, maximum);
    bar->setValue(minimum);
    *out = to_handle(bar);
    return 0;
  });
}

int gloop_qt_progress_set_value(gloop_qt_widget *bar, int value) {
  return on_widget<QProgressBar>(__func__, bar, [&](QProgressBar *b) -> int {
    if (value < b->minimum() || value > b->maximum()) return GLOOP_EINVAL;
    b->setValue(value);
    return 0;
  });
}

int gloop_qt_progress_value(gloop_qt_widget *bar) {
  return on_widget<QProgressBar>(__func__, bar, [&](QProgressBar *b) -> int {
    return b->value();
  });
}

}  // extern "C"
