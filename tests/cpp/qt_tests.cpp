// qt_tests.cpp - cases for guestloop-qt.hpp: awaiting Qt signals by pointer to member and starting runs in Qt from lambdas, offscreen.
#include <guestloop/guestloop-qt.hpp>

#include <QApplication>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QTimer>

#include <stdexcept>
#include <string>

#include "harness/harness.hpp"

namespace {

/* Every case builds its own application: argv must outlive it. */
int qt_argc = 1;
char qt_arg0[] = "gloop_cpp_qt_tests";
char *qt_argv[] = {qt_arg0, nullptr};

/* Runs the application until the guest run started by `start` has ended,
 * and returns the run's outcome status. The run's end quits the loop. */
struct outcome {
  bool done = false;
  int status = 1;
  std::string message;
};

template <class Main>
outcome run_in_qt(QApplication &app, Main &&main) {
  outcome out;
  gloop::qt::start(std::forward<Main>(main), [&](const gloop_outcome &o) {
    out.done = true;
    out.status = o.status;
    out.message = o.message;
    app.quit();
  });
  app.exec();
  CHECK(out.done);
  return out;
}

}  // namespace

CPP_TEST(wait_button_click) {
  QApplication app(qt_argc, qt_argv);
  QPushButton button(QStringLiteral("Press me"));
  button.show();
  int clicks_seen = 0;
  /* A host-side timer clicks, as a user would, once the task waits. */
  QTimer clicker;
  QObject::connect(&clicker, &QTimer::timeout, &button, [&] { button.click(); });

  outcome out = run_in_qt(app, [&] {
    clicker.start(20);
    for (int i = 0; i < 2; i++) {
      gloop::qt::wait(&button, &QPushButton::clicked);
      ++clicks_seen;
    }
    clicker.stop();
  });
  CHECK_EQ(out.status, 0);
  CHECK_EQ(clicks_seen, 2);
}

CPP_TEST(wait_other_signals) {
  QApplication app(qt_argc, qt_argv);
  outcome out = run_in_qt(app, [] {
    /* A timer's timeout, with a deadline around it. */
    QTimer timer;
    timer.setSingleShot(true);
    timer.start(10);
    CHECK(gloop::cancel_scope::fail_after(5.0).run([&] { gloop::qt::wait(&timer, &QTimer::timeout); }));

    /* A signal that never comes: the scope's deadline ends the wait. */
    QPushButton idle;
    CHECK(!gloop::cancel_scope::move_on_after(0.02).run(
        [&] { gloop::qt::wait(&idle, &QPushButton::pressed); }));

    /* The sender is deleted while a task waits on it. */
    QPointer<QPushButton> doomed = new QPushButton;
    QTimer::singleShot(10, doomed.data(), &QObject::deleteLater);
    CHECK_THROWS_CODE(gloop::qt::wait(doomed.data(), &QPushButton::clicked), GLOOP_EDESTROYED);

    /* Bad input: no sender, and a member function that is no signal. */
    QPushButton *none = nullptr;
    CHECK_THROWS_CODE(gloop::qt::wait(none, &QPushButton::clicked), GLOOP_EINVAL);
    CHECK_THROWS_CODE(gloop::qt::wait(&idle, &QAbstractButton::setText), GLOOP_EINVAL);
  });
  CHECK_EQ(out.status, 0);
}

CPP_TEST(wait_outside_task) {
  QApplication app(qt_argc, qt_argv);
  QPushButton button;
  /* No run at all, then host context of a live run. */
  CHECK_THROWS_CODE(gloop::qt::wait(&button, &QPushButton::clicked), GLOOP_ENOTTASK);
  int host_rc = 0;
  outcome out = run_in_qt(app, [&] {
    QTimer::singleShot(0, &button, [&] {
      try {
        gloop::qt::wait(&button, &QPushButton::clicked);
      } catch (const gloop::error &e) {
        host_rc = e.code();
      }
    });
    gloop::sleep(0.05);
  });
  CHECK_EQ(out.status, 0);
  CHECK_EQ(host_rc, int(GLOOP_ENOTTASK));
}

CPP_TEST(start_outcomes) {
  QApplication app(qt_argc, qt_argv);
  /* An exception in the main lambda is the run's failure message. */
  outcome failed = run_in_qt(app, [] { throw std::runtime_error("qt task failed"); });
  CHECK_EQ(failed.status, int(GLOOP_EINTERNAL));
  CHECK_EQ(failed.message, std::string("qt task failed"));

  /* A second start while a run is live is refused. */
  outcome out = run_in_qt(app, [] {
    CHECK_THROWS_CODE(gloop::qt::start([] {}), GLOOP_ERUNNING);
  });
  CHECK_EQ(out.status, 0);

  /* Without a done callable the shim reports failures itself; quitting the
   * application cancels the run first, which then ends the loop. */
  bool cancelled = false;
  gloop::qt::start([&] {
    QTimer::singleShot(10, &app, &QCoreApplication::quit);
    try {
      gloop::sleep_forever();
    } catch (const gloop::error &e) {
      cancelled = e.cancelled();
      throw;
    }
  });
  CHECK_EQ(app.exec(), 0);
  CHECK(cancelled);
  CHECK(!gloop_in_run());
}

CPP_TEST(exit_code_plain_exec) {
  /* A C++ program's own QApplication::exec(), no shim wrapper: exit(7)
   * while a task sleeps still cancels the run, lets its shielded cleanup
   * finish, calls done, and exec() returns 7. */
  QApplication app(qt_argc, qt_argv);
  bool cleaned = false, done = false;
  int status = 1;
  gloop::qt::start(
      [&] {
        QTimer::singleShot(10, &app, [] { QCoreApplication::exit(7); });
        int rc = gloop_sleep_forever();
        gloop_scope *shield = nullptr;
        if (gloop_scope_open(1e300, GLOOP_SCOPE_SHIELD, &shield) == 0) {
          CHECK_EQ(gloop_sleep(0.02), 0);
          gloop_scope_close(shield);
        }
        cleaned = true;
        if (rc != GLOOP_ECANCELED) throw std::runtime_error("not cancelled");
      },
      [&](const gloop_outcome &o) {
        done = true;
        status = o.status;
      });
  CHECK_EQ(app.exec(), 7);
  CHECK(cleaned);
  CHECK(done);
  CHECK_EQ(status, 0);
  CHECK(!gloop_in_run());
}

CPP_TEST(spawn_from_slot) {
  QApplication app(qt_argc, qt_argv);
  /* No run live: refused with a code, the callable is not run. */
  bool ran_early = false;
  CHECK_THROWS_CODE(gloop::qt::spawn([&] { ran_early = true; }), GLOOP_ENORUN);

  /* From a Qt timer (a slot), a lambda task of the live run; a second one
   * that never ends is cancelled when the application quits. A large
   * capture is moved into the task and freed with it. */
  bool ran = false, cancelled = false;
  std::string big(1000, 'x');
  outcome out = run_in_qt(app, [&] {
    QTimer::singleShot(0, &app, [&, big] {
      gloop::qt::spawn([&, big] { ran = big.size() == 1000; }, "from-a-slot");
      gloop::qt::spawn([&] {
        try {
          gloop::sleep_forever();
        } catch (const gloop::error &e) {
          cancelled = e.cancelled();
          throw;
        }
      });
    });
    while (!ran) gloop::sleep(0.005);
    QTimer::singleShot(0, &app, &QCoreApplication::quit);
    gloop::sleep_forever();
  });
  CHECK(ran);
  CHECK(cancelled);
  CHECK(!ran_early);
  CHECK(out.status == 0 || out.status == GLOOP_ECANCELED);

  /* An exception in a spawned task becomes the run's outcome. */
  outcome failed = run_in_qt(app, [] {
    gloop::qt::spawn([] { throw std::runtime_error("spawned task failed"); }, "breaks");
    gloop::sleep_forever();
  });
  CHECK_EQ(failed.status, int(GLOOP_EINTERNAL));
  CHECK_EQ(failed.message, std::string("task 'breaks' failed: spawned task failed"));
}

CPP_TEST(spawn_owned_by_widget) {
  QApplication app(qt_argc, qt_argv);
  auto *owner = new QPushButton("owner");
  bool cancelled = false, other_ran = false;
  outcome out = run_in_qt(app, [&] {
    gloop::qt::spawn(owner, [&] {
      try {
        gloop::sleep_forever();
      } catch (const gloop::error &e) {
        cancelled = e.cancelled();
        throw;
      }
    }, "owned");
    CHECK_THROWS_CODE(gloop::qt::spawn(static_cast<QObject *>(nullptr), [] {}), GLOOP_EINVAL);
    gloop::sleep(0.02);
    delete owner; /* cancels the owned task only */
    while (!cancelled) gloop::sleep(0.005);
    gloop::qt::spawn([&] { other_ran = true; });
    while (!other_ran) gloop::sleep(0.005);
  });
  CHECK(cancelled);
  CHECK(other_ran);
  CHECK_EQ(out.status, 0);
}

CPP_TEST(wait_signal_arguments) {
  QApplication app(qt_argc, qt_argv);
  QPushButton toggle("toggle");
  toggle.setCheckable(true);
  QLineEdit edit;
  outcome out = run_in_qt(app, [&] {
    /* A bool argument; the first emission after the call is the one. */
    QTimer::singleShot(5, &app, [&] {
      toggle.click();  // toggled(true)
      toggle.click();  // toggled(false), after the wait has been woken
    });
    auto [checked] = gloop::qt::wait_args(&toggle, &QPushButton::toggled);
    CHECK(checked);

    /* A const QString & argument, copied out. */
    QTimer::singleShot(5, &app, [&] { edit.setText(QStringLiteral("h\u00e9llo")); });
    auto [text] = gloop::qt::wait_args(&edit, &QLineEdit::textChanged);
    CHECK(text == QStringLiteral("h\u00e9llo"));

    /* Cancelled: the error comes through and nothing is left behind. */
    const auto children = [&] {
      return app.findChildren<QObject *>(QString(), Qt::FindDirectChildrenOnly).size();
    };
    const auto before = children();
    try {
      auto scope = gloop::cancel_scope::move_on_after(0.02);
      gloop::qt::wait_args(&edit, &QLineEdit::textChanged);
      CHECK(false);
    } catch (const gloop::error &e) {
      CHECK(e.cancelled());
    }
    CHECK_EQ(children(), before);

    /* Destroyed while waiting. */
    auto *doomed = new QLineEdit;
    QTimer::singleShot(5, &app, [doomed] { delete doomed; });
    CHECK_THROWS_CODE(gloop::qt::wait_args(doomed, &QLineEdit::textChanged), GLOOP_EDESTROYED);
    CHECK_THROWS_CODE(gloop::qt::wait_args(static_cast<QLineEdit *>(nullptr), &QLineEdit::textChanged),
                      GLOOP_EINVAL);
  });
  CHECK_EQ(out.status, 0);
  /* Outside a task. */
  CHECK_THROWS_CODE(gloop::qt::wait_args(&edit, &QLineEdit::textChanged), GLOOP_ENOTTASK);
}

int main(int argc, char **argv) { return cpp_test::main(argc, argv); }
