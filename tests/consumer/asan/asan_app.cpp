/* asan_app.cpp - an outside C++ program built with AddressSanitizer against a library built without it: cancellations unwind task stacks as exceptions, which must give no report. */
#include <guestloop/guestloop.hpp>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

/* Instrumented frames between the wait and the handler that catches the
 * cancellation: the exception unwinds through them on the task's stack. */
int deep(int depth) {
  volatile char buf[512];
  std::memset(const_cast<char *>(buf), depth, sizeof buf);
  std::string keep(64, static_cast<char>('a' + depth % 26));
  if (depth == 0) gloop::sleep_forever();
  return deep(depth - 1) + buf[depth] + static_cast<int>(keep.size());
}

}  // namespace

int main() {
  int caught = 0;
  int status = gloop::run([&] {
    for (int round = 0; round < 20; round++) {
      gloop::open_nursery([&](gloop::nursery &n) {
        for (int i = 0; i < 16; i++) {
          n.start([&caught] {
            try {
              deep(8);
            } catch (const gloop::error &e) {
              if (e.cancelled()) caught++;
            }
          });
        }
        gloop::sleep(0.0005);
        n.cancel();
      });
    }
    /* A cancellation that unwinds the main task up to its scope. */
    auto scope = gloop::cancel_scope::move_on_after(0.001);
    scope.run([] { deep(16); });
    return 0;
  });
  std::printf("asan consumer (C++): status %d, %d cancellations caught\n", status, caught);
  return status == 0 && caught == 20 * 16 ? 0 : 1;
}
