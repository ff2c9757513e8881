// consumer.cpp - a tiny outside Qt application in C++ that uses the installed library and its C++ wrapper.
#include <guestloop/guestloop-qt.hpp>

#include <QApplication>
#include <QLabel>
#include <QVBoxLayout>
#include <QWidget>

#include <cstdio>

int main(int argc, char **argv)
{
  QApplication app(argc, argv);
  QWidget window;
  auto *label = new QLabel("waiting");
  auto *layout = new QVBoxLayout(&window);
  layout->addWidget(label);
  window.show();
  gloop::qt::start([&] {
    gloop::sleep(0.05);
    label->setText("done");
    window.close(); // the last window: the application quits after the run
  });
  int code = app.exec();
  std::printf("consumer (C++): label says '%s'\n", label->text().toUtf8().constData());
  return code == 0 && label->text() == "done" ? 0 : 1;
}
