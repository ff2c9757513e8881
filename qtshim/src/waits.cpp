// waits.cpp - tasks awaiting Qt: a signal, a click, or a message box opened without a nested loop.
#include "internal.hpp"

#include <QAbstractButton>
#include <QByteArray>
#include <QDialog>
#include <QMessageBox>
#include <QMetaObject>
#include <QPointer>
#include <QString>
#include <QWidget>

#include <memory>

static_assert(int{GLOOP_QT_BUTTON_OK} == int{QMessageBox::Ok}, "button values must match Qt");
static_assert(int{GLOOP_QT_BUTTON_CANCEL} == int{QMessageBox::Cancel}, "button values must match Qt");
static_assert(int{GLOOP_QT_BUTTON_YES} == int{QMessageBox::Yes}, "button values must match Qt");
static_assert(int{GLOOP_QT_BUTTON_NO} == int{QMessageBox::No}, "button values must match Qt");
static_assert(int{GLOOP_QT_ICON_INFORMATION} == int{QMessageBox::Information} &&
                  int{GLOOP_QT_ICON_WARNING} == int{QMessageBox::Warning} &&
                  int{GLOOP_QT_ICON_CRITICAL} == int{QMessageBox::Critical} &&
                  int{GLOOP_QT_ICON_QUESTION} == int{QMessageBox::Question} &&
                  int{GLOOP_QT_ICON_NONE} == int{QMessageBox::NoIcon},
              "icon values must match Qt");

namespace gloop_qt_detail {
namespace {

/* One task's wait for one signal. A private receiver per wait (rather than a
 * lambda capturing the task's state) means Qt disconnects everything the
 * moment the waiter is deleted, so an emission after the wait ended can
 * never reach freed memory.
 *
 * The slots only record what happened and set the event; the task resumes
 * in a later guest tick, never inside the emission, so code after the wait
 * may delete the sender safely.
 *
 * Waiters live on the heap and sit in a registry (an intrusive list, GUI
 * thread only) because a run abandoned by its host never resumes its tasks:
 * waits_release_all() then frees what those tasks would have freed. */
class Waiter final : public QObject {
  Q_OBJECT
 public:
  enum State { kWaiting, kFired, kGone };

  explicit Waiter(gloop_event *ev) : event(ev) {
    prev = tail;
    if (tail != nullptr)
      tail->next = this;
    else
      head = this;
    tail = this;
  }
  ~Waiter() override {
    if (prev != nullptr)
      prev->next = next;
    else
      head = next;
    if (next != nullptr)
      next->prev = prev;
    else
      tail = prev;
  }

  State state = kWaiting;
  gloop_event *event;
  /* The message box this wait is for, or null; cleared by Qt if the box is
   * destroyed. */
  QPointer<QMessageBox> box;
  Waiter *prev = nullptr;
  Waiter *next = nullptr;

  static Waiter *head;
  static Waiter *tail;

 public Q_SLOTS:
  void fire() { settle(kFired); }
  void gone() { settle(kGone); }

 private:
  /* The first of the two outcomes wins: waiting for destroyed() itself fires
   * the awaited signal first and must not then read as "destroyed". */
  void settle(State s) {
    if (state != kWaiting) return;
    state = s;
    int rc = gloop_event_set(event);
    if (rc < 0)
      std::fprintf(stderr, "guestloop: cannot wake a task waiting on a Qt signal: %s\n",
                   gloop_strerror(rc));
  }
};

Waiter *Waiter::head = nullptr;
Waiter *Waiter::tail = nullptr;

int fire_slot_index() {
  static const int index = Waiter::staticMetaObject.indexOfSlot("fire()");
  return index;
}

/* Frees a gloop_event when the waiting function leaves by any path that
 * unwinds (return or exception). */
struct EventOwner {
  gloop_event *ev = nullptr;
  ~EventOwner() { gloop_event_free(ev); }
};

/* Blocks the current task until `signal` of `sender` is emitted or the sender
 * is destroyed, whichever comes first; *state receives which. Returns 0,
 * GLOOP_EDESTROYED, GLOOP_ECANCELED, or an error of gloop_event_new().
 * `box`, if not null, is the message box the wait is for. */
int wait_on(QObject *sender, const QMetaMethod &signal, QMessageBox *box,
            Waiter::State *state) {
  *state = Waiter::kWaiting;
  EventOwner owner;
  int rc = gloop_event_new(&owner.ev);
  if (rc < 0) return rc;
  auto waiter = std::make_unique<Waiter>(owner.ev);
  waiter->box = box;
  if (!QObject::connect(sender, signal, waiter.get(),
                        Waiter::staticMetaObject.method(fire_slot_index())))
    return GLOOP_EINVAL;
  QObject::connect(sender, &QObject::destroyed, waiter.get(), &Waiter::gone);
  rc = gloop_event_wait(owner.ev);
  *state = waiter->state;
  /* Deleting the waiter disconnects it from the sender (alive or not). */
  waiter.reset();
  if (rc == 0 && *state == Waiter::kGone) rc = GLOOP_EDESTROYED;
  return rc;
}

/* Common checks of the waiting entry points. */
int wait_context() {
  int rc = gui_check();
  if (rc < 0) return rc;
  if (gloop_current_task() == nullptr) return GLOOP_ENOTTASK;
  return 0;
}

/* Object names of the standard buttons, so that scripts and tests can find
 * them with gloop_qt_widget_find(box, "yes"). */
void name_buttons(QMessageBox *box) {
  static const struct {
    QMessageBox::StandardButton button;
    const char *name;
  } names[] = {{QMessageBox::Ok, "ok"},
               {QMessageBox::Cancel, "cancel"},
               {QMessageBox::Yes, "yes"},
               {QMessageBox::No, "no"}};
  for (const auto &n : names) {
    QAbstractButton *b = box->button(n.button);
    if (b != nullptr) b->setObjectName(QString::fromLatin1(n.name));
  }
}

bool valid_modality(int modality) {
  return modality == GLOOP_QT_MODAL_WINDOW || modality == GLOOP_QT_MODAL_APPLICATION;
}

/* Shows a dialog modally and returns at once: no nested event loop runs on
 * the task's stack, and the other tasks keep going while the user decides.
 * open() makes it window-modal; application modality is set before show(),
 * which is what open() does apart from the modality. */
void show_dialog(QDialog *dialog, int modality) {
  if (modality == GLOOP_QT_MODAL_APPLICATION) {
    dialog->setWindowModality(Qt::ApplicationModal);
    dialog->setResult(0);
    dialog->show();
  } else {
    dialog->open();
  }
}

}  // namespace

QMetaMethod find_signal(const QObject *obj, const char *signature) {
  /* SIGNAL(x) produces "2x"; no signal name can start with a digit. */
  if (signature[0] == '2') ++signature;
  QByteArray normalized = QMetaObject::normalizedSignature(signature);
  const QMetaObject *mo = obj->metaObject();
  int index = mo->indexOfSignal(normalized.constData());
  return index < 0 ? QMetaMethod() : mo->method(index);
}

void waits_release_all() noexcept {
  /* With a run still live the tasks may yet resume and free their own
   * records; freeing them here would pull memory from under them. */
  if (gloop_in_run()) return;
  guarded_void("releasing abandoned waits", [] {
    while (Waiter::head != nullptr) {
      Waiter *w = Waiter::head;
      QMessageBox *box = w->box.data();
      gloop_event_free(w->event);
      delete w;
      delete box;
    }
  });
}

}  // namespace gloop_qt_detail

using namespace gloop_qt_detail;

extern "C" {

int gloop_qt_wait_signal(gloop_qt_object *sender, const char *signal) {
  return guarded(__func__, [&]() -> int {
    int rc = wait_context();
    if (rc < 0) return rc;
    if (sender == nullptr || signal == nullptr) return GLOOP_EINVAL;
    QObject *obj = as_object(sender);
    if (obj == nullptr) return GLOOP_EINVAL;
    QMetaMethod sig = find_signal(obj, signal);
    if (!sig.isValid()) return GLOOP_EINVAL;
    Waiter::State state;
    return wait_on(obj, sig, nullptr, &state);
  });
}

int gloop_qt_wait_clicked(gloop_qt_widget *button) {
  return guarded(__func__, [&]() -> int {
    int rc = wait_context();
    if (rc < 0) return rc;
    auto *b = button == nullptr ? nullptr : qobject_cast<QAbstractButton *>(as_widget(button));
    if (b == nullptr) return GLOOP_EINVAL;
    Waiter::State state;
    return wait_on(b, QMetaMethod::fromSignal(&QAbstractButton::clicked), nullptr, &state);
  });
}

int gloop_qt_message_box(gloop_qt_widget *parent, const char *title, const char *text,
                         int buttons, int *result) {
  return gloop_qt_message_box_ex(parent, title, text, GLOOP_QT_ICON_NONE, buttons,
                                 GLOOP_QT_MODAL_WINDOW, result);
}

int gloop_qt_message_box_ex(gloop_qt_widget *parent, const char *title, const char *text,
                            int icon, int buttons, int modality, int *result) {
  return guarded(__func__, [&]() -> int {
    if (result != nullptr) *result = 0;
    int rc = wait_context();
    if (rc < 0) return rc;
    const int known = GLOOP_QT_BUTTON_OK | GLOOP_QT_BUTTON_CANCEL | GLOOP_QT_BUTTON_YES |
                      GLOOP_QT_BUTTON_NO;
    if ((buttons & ~known) != 0 || icon < GLOOP_QT_ICON_NONE || icon > GLOOP_QT_ICON_QUESTION ||
        !valid_modality(modality))
      return GLOOP_EINVAL;
    QWidget *p = nullptr;
    if (parent != nullptr) {
      p = qobject_cast<QWidget *>(as_widget(parent));
      if (p == nullptr) return GLOOP_EINVAL;
    }
    if (buttons == 0) buttons = GLOOP_QT_BUTTON_OK;

    /* A raw pointer, not a QPointer: a run abandoned while the box is open
     * frees this task's stack without unwinding it, and a QPointer there
     * would keep Qt's guard block alive forever. The waiter's own QPointer
     * tracks the box while it waits, and its state says afterwards whether
     * the box was destroyed. */
    auto *box = new QMessageBox(p);
    box->setWindowTitle(QString::fromUtf8(title != nullptr ? title : ""));
    box->setText(QString::fromUtf8(text != nullptr ? text : ""));
    box->setStandardButtons(QMessageBox::StandardButtons(buttons));
    box->setIcon(QMessageBox::Icon(icon));
    name_buttons(box);
    show_dialog(box, modality);

    Waiter::State state;
    rc = wait_on(box, QMetaMethod::fromSignal(&QDialog::finished), box, &state);
    if (state == Waiter::kGone) return rc;  // destroyed with its parent
    if (rc == 0 && result != nullptr) {
      QAbstractButton *clicked = box->clickedButton();
      *result = clicked != nullptr ? static_cast<int>(box->standardButton(clicked)) : 0;
    }
    /* Answered, cancelled or failed: the box goes now (deleting also closes
     * it). */
    delete box;
    return rc;
  });
}

int gloop_qt_dialog_open(gloop_qt_widget *dialog, int modality, int *result) {
  return guarded(__func__, [&]() -> int {
    if (result != nullptr) *result = 0;
    int rc = wait_context();
    if (rc < 0) return rc;
    auto *d = dialog == nullptr ? nullptr : qobject_cast<QDialog *>(as_widget(dialog));
    if (d == nullptr || !valid_modality(modality)) return GLOOP_EINVAL;
    if (d->isVisible()) return GLOOP_EBUSY;
    show_dialog(d, modality);
    Waiter::State state;
    rc = wait_on(d, QMetaMethod::fromSignal(&QDialog::finished), nullptr, &state);
    if (state == Waiter::kGone) return rc;
    if (rc == 0 && result != nullptr) *result = d->result();
    /* Cancelled or failed while the dialog is still up: close it. */
    if (rc < 0 && d->isVisible()) d->reject();
    return rc;
  });
}

gloop_qt_widget *gloop_qt_active_message_box(void) {
  return guarded_value<gloop_qt_widget *>(__func__, nullptr, []() -> gloop_qt_widget * {
    if (gui_check() < 0) return nullptr;
    for (Waiter *w = Waiter::tail; w != nullptr; w = w->prev)
      if (w->box != nullptr) return to_handle(w->box.data());
    return nullptr;
  });
}

}  // extern "C"

#include "waits.moc"
