// cpp_tests.cpp - cases for the C++ wrapper guestloop.hpp: lambdas as tasks, nurseries, cancel scopes, exceptions as outcomes, events, channels, guest runs.
#include <guestloop/guestloop.hpp>

#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness/harness.hpp"
extern "C" {
#include "harness/host_toy.h"
}

namespace {

/* Counts live instances, so a case can check that every callable the wrapper
 * moved to the heap is destroyed exactly once. */
struct tracker {
  static inline int live = 0;
  static inline int made = 0;
  tracker() {
    ++live;
    ++made;
  }
  tracker(const tracker &) {
    ++live;
    ++made;
  }
  tracker(tracker &&) noexcept {
    ++live;
    ++made;
  }
  tracker &operator=(const tracker &) = default;
  ~tracker() { --live; }
};

/* A run whose clock only moves when every task waits (autojump at 0), so
 * deadlines of seconds pass at once and the readings are exact. */
struct mock_run {
  gloop_clock *clock = nullptr;
  gloop_options opts = gloop::default_options();
  mock_run() {
    gloop::check(gloop_mock_clock_new(100.0, 0.0, &clock));
    opts.clock = clock;
  }
  ~mock_run() { gloop_clock_free(clock); }
};

int plain_function_ran = 0;
int plain_function() {
  ++plain_function_ran;
  return 0;
}

}  // namespace

/* ---- Lambdas as tasks ------------------------------------------------------ */

CPP_TEST(lambda_captures) {
  int by_ref = 0;
  std::string text;
  std::vector<int> order;
  tracker::live = 0;
  gloop::run([&] {
    gloop::nursery n;
    /* One reference: travels inside the task argument. */
    n.start([&by_ref] { by_ref = 7; });
    /* A std::string by value plus references: goes to the heap. */
    std::string word = "guest";
    n.start([word, &text] { text = word + "loop"; });
    /* Move-only capture, mutable lambda, int result. */
    auto owned = std::make_unique<int>(5);
    n.start([p = std::move(owned), &order]() mutable -> int {
      order.push_back(*p);
      p.reset();
      return 0;
    });
    /* The callable is destroyed exactly once, when its task ends. */
    n.start([t = tracker(), &order] {
      (void)t;
      order.push_back(1);
    });
    /* A captureless lambda and a plain function. */
    n.start([] { gloop::checkpoint(); });
    n.start(plain_function, "plain");
    n.close();
  });
  CHECK_EQ(by_ref, 7);
  CHECK_EQ(text, std::string("guestloop"));
  CHECK_EQ(order.size(), std::size_t(2));
  CHECK_EQ(order[0], 5);
  CHECK_EQ(order[1], 1);
  CHECK_EQ(plain_function_ran, 1);
  CHECK_EQ(tracker::live, 0);
  CHECK(tracker::made >= 1);
}

CPP_TEST(task_names_and_results) {
  std::string seen;
  int status = gloop::run([&]() -> int {
    gloop::nursery n;
    n.start([&] { seen = gloop::task_name(); }, "named-child");
    n.close();
    return 3; /* a positive main status is returned, not thrown */
  });
  CHECK_EQ(status, 3);
  CHECK_EQ(seen, std::string("named-child"));
  CHECK_EQ(std::string(gloop::task_name()), std::string(""));
}

/* ---- Nurseries ----------------------------------------------------------------- */

CPP_TEST(nursery_child_exception) {
  bool sibling_cancelled = false;
  bool caught = false;
  gloop::run([&] {
    gloop::nursery n;
    n.start([&] {
      try {
        gloop::sleep(60);
      } catch (const gloop::error &e) {
        sibling_cancelled = e.cancelled();
        throw;
      }
    }, "sleeper");
    n.start([] { throw std::runtime_error("boom"); }, "thrower");
    try {
      n.close();
    } catch (const gloop::error &e) {
      caught = true;
      CHECK_EQ(e.code(), int(GLOOP_EINTERNAL));
      CHECK_CONTAINS(std::string(e.what()), "boom");
      CHECK_CONTAINS(std::string(e.what()), "thrower");
    }
  });
  CHECK(caught);
  CHECK(sibling_cancelled);
}

CPP_TEST(nursery_child_error_code) {
  /* A child returning a code, and one failing with gloop_fail()'s message. */
  CHECK_THROWS_CODE(gloop::run([] {
    gloop::nursery n;
    n.start([]() -> int { return GLOOP_EPIPE; });
    n.close();
  }), GLOOP_EPIPE);

  std::string message;
  gloop::run([&] {
    gloop::nursery n;
    n.start([]() -> int { return gloop_fail(GLOOP_EINVAL, "bad value %d", 42); }, "checker");
    try {
      n.close();
      FAIL("close did not throw");
    } catch (const gloop::error &e) {
      CHECK_EQ(e.code(), int(GLOOP_EINVAL));
      message = e.what();
    }
  });
  CHECK_CONTAINS(message, "bad value 42");
  CHECK_CONTAINS(message, "checker");

  /* A gloop::error thrown in a child keeps its code and message. */
  CHECK_THROWS_CODE(gloop::run([] {
    gloop::nursery n;
    n.start([] { throw gloop::error(GLOOP_ECONNRESET, "peer went away"); });
    n.close();
  }), GLOOP_ECONNRESET);
}

CPP_TEST(nursery_destructor_cancels) {
  /* The owner's code throws while children run: the destructor cancels
   * them and waits, so both have ended before the exception arrives. */
  int ended = 0;
  bool caught = false;
  gloop::run([&] {
    try {
      gloop::nursery n;
      for (int i = 0; i < 2; i++) {
        n.start([&] {
          struct on_exit {
            int &count;
            ~on_exit() { ++count; }
          } guard{ended};
          gloop::sleep_forever();
        });
      }
      gloop::checkpoint(); /* the children start and block */
      throw std::logic_error("owner gave up");
    } catch (const std::logic_error &e) {
      caught = true;
      CHECK_EQ(ended, 2);
      CHECK_EQ(std::string(e.what()), std::string("owner gave up"));
    }
  });
  CHECK(caught);
  CHECK_EQ(ended, 2);
}

CPP_TEST(open_nursery_semantics) {
  /* A child's failure wins over the body's cancellation it caused. */
  std::string what;
  gloop::run([&] {
    try {
      gloop::open_nursery([](gloop::nursery &n) {
        n.start([] { throw std::runtime_error("child broke"); });
        gloop::sleep(60); /* cancelled when the child fails */
        FAIL("the body was not cancelled");
      });
      FAIL("open_nursery did not throw");
    } catch (const gloop::error &e) {
      what = e.what();
    }
  });
  CHECK_CONTAINS(what, "child broke");

  /* Cancelling the nursery from its body ends at the block, as in Trio. */
  bool after_block = false;
  gloop::run([&] {
    gloop::open_nursery([](gloop::nursery &n) {
      n.start([] { gloop::sleep_forever(); });
      n.cancel();
      gloop::sleep(60);
    });
    after_block = true;
  });
  CHECK(after_block);

  /* A cancellation from further out keeps unwinding through the block. */
  bool outer_absorbed = false;
  gloop::run([&] {
    outer_absorbed = !gloop::cancel_scope::move_on_after(0.01).run([] {
      gloop::open_nursery([](gloop::nursery &n) {
        n.start([] { gloop::sleep_forever(); });
        gloop::sleep_forever();
      });
      FAIL("the block swallowed an outer cancellation");
    });
  });
  CHECK(outer_absorbed);
}

/* ---- Cancel scopes ----------------------------------------------------------- */

CPP_TEST(cancel_scope_raii) {
  mock_run m;
  gloop::run([&] {
    double t0 = gloop::now();

    /* move_on_after: the body stops, run() reports it, time moved by the timeout. */
    auto scope = gloop::cancel_scope::move_on_after(2.0);
    bool completed = scope.run([] { gloop::sleep(100); });
    CHECK(!completed);
    CHECK(scope.cancelled_caught());
    CHECK(scope.cancel_called());
    CHECK_EQ(gloop::now() - t0, 2.0);

    /* A body that finishes in time completes. */
    CHECK(gloop::cancel_scope::move_on_after(5.0).run([] { gloop::sleep(1); }));

    /* fail_after: ETIMEDOUT out of run(). */
    CHECK_THROWS_CODE(gloop::cancel_scope::fail_after(1.0).run([] { gloop::sleep(10); }),
                      GLOOP_ETIMEDOUT);

    /* A plain guard around C-style code: the destructor closes it. */
    {
      auto guard = gloop::cancel_scope::move_on_after(0.5);
      CHECK_EQ(gloop_sleep(10), int(GLOOP_ECANCELED));
      CHECK(guard.cancelled_caught());
    }
    /* ... and nothing is left open: this checkpoint is not cancelled. */
    gloop::checkpoint();

    /* A shield keeps an outer cancellation out. */
    bool shielded_slept = false;
    CHECK(!gloop::cancel_scope::move_on_after(1.0).run([&] {
      gloop::cancel_scope::shield().run([&] {
        gloop::sleep(3.0);
        shielded_slept = true;
      });
      gloop::checkpoint(); /* outside the shield the cancellation lands */
      FAIL("not cancelled after the shield closed");
    }));
    CHECK(shielded_slept);

    /* An inner scope does not absorb an outer scope's cancellation. */
    bool inner_returned = false;
    auto outer = gloop::cancel_scope::move_on_after(1.0);
    CHECK(!outer.run([&] {
      gloop::cancel_scope inner;
      inner.run([] { gloop::sleep(10); });
      inner_returned = true;
    }));
    CHECK(!inner_returned);
    CHECK(outer.cancelled_caught());

    /* cancel() and deadlines from the wrapper. */
    gloop::cancel_scope s;
    CHECK(std::isinf(s.deadline()));
    s.set_deadline(gloop::now() + 4.0);
    CHECK_EQ(s.deadline(), gloop::now() + 4.0);
    s.cancel();
    CHECK(!s.run([] { gloop::sleep(1); }));
    CHECK_THROWS_CODE(s.close(), GLOOP_ECLOSED);
  }, &m.opts);
}

CPP_TEST(cancel_scope_bad_input) {
  gloop::run([] {
    CHECK_THROWS_CODE(gloop::cancel_scope::move_on_after(-1.0), GLOOP_EINVAL);
    CHECK_THROWS_CODE(gloop::cancel_scope::move_on_after(NAN), GLOOP_EINVAL);
    CHECK_THROWS_CODE(gloop::cancel_scope(NAN), GLOOP_EINVAL);
    CHECK_THROWS_CODE(gloop::cancel_scope(0.0, 99), GLOOP_EINVAL);
    /* Closing an outer scope before the inner one is refused. */
    gloop::cancel_scope outer;
    gloop::cancel_scope inner;
    CHECK_THROWS_CODE(outer.close(), GLOOP_EINVAL);
    inner.close();
    outer.close();
  });
  /* Outside a run or a task. */
  CHECK_THROWS_CODE(gloop::cancel_scope::move_on_after(1.0), GLOOP_ENOTTASK);
  CHECK_THROWS_CODE(gloop::cancel_scope(), GLOOP_ENOTTASK);
  CHECK_THROWS_CODE(gloop::nursery(), GLOOP_ENOTTASK);
  CHECK_THROWS_CODE(gloop::sleep(1), GLOOP_ENOTTASK);
  CHECK_THROWS_CODE(gloop::cancel_run(), GLOOP_ENORUN);
}

/* ---- Exceptions become outcomes ---------------------------------------------- */

CPP_TEST(exception_outcome) {
  /* Standalone run: what() of the main task's exception is the outcome's message. */
  try {
    gloop::run([] { throw std::runtime_error("kaput"); });
    FAIL("run did not throw");
  } catch (const gloop::error &e) {
    CHECK_EQ(e.code(), int(GLOOP_EINTERNAL));
    CHECK_EQ(std::string(e.what()), std::string("kaput"));
  }
  /* std::bad_alloc maps to GLOOP_ENOMEM; anything else still arrives. */
  CHECK_THROWS_CODE(gloop::run([] { throw std::bad_alloc(); }), GLOOP_ENOMEM);
  try {
    gloop::run([] { throw 17; });
    FAIL("run did not throw");
  } catch (const gloop::error &e) {
    CHECK_EQ(e.code(), int(GLOOP_EINTERNAL));
    CHECK_CONTAINS(std::string(e.what()), "unknown C++ exception");
  }
  /* A cancellation of the main task arrives as ECANCELED. */
  CHECK_THROWS_CODE(gloop::run([] {
    gloop::cancel_run();
    gloop::sleep(1);
  }), GLOOP_ECANCELED);
}

/* ---- Guest runs from C++ --------------------------------------------------------
 * Hosted by the harness's toy host, which polices the guest-mode contract
 * (which post is called from which thread) as it goes. */

namespace {

/* Runs the toy host until pred() holds; the toy fails the case after 10 s
 * (scaled) of real time. */
template <class Pred>
void host_run_until(Pred pred) {
  host_toy_run_until([](void *p) { return (*static_cast<Pred *>(p))() ? 1 : 0; }, &pred, 10.0);
}

}  // namespace

CPP_TEST(guest_run) {
  host_toy_init();
  host_toy_expect_not_threadsafe(1);
  gloop_options opts = gloop::default_options();
  opts.run_sync_soon_not_threadsafe = host_toy_post_not_threadsafe;

  /* A run that sleeps (so the helper thread's threadsafe post is used) and
   * then fails with an exception: the done callable sees its message. */
  bool done = false;
  int status = 0;
  std::string message;
  gloop::start_guest_run([] {
    gloop::sleep(0.01);
    throw std::runtime_error("guest failed on purpose");
  }, host_toy_post_threadsafe, HOST_TOY_DATA, [&](const gloop_outcome &o) {
    done = true;
    status = o.status;
    message = o.message;
  }, &opts);
  host_run_until([&] { return done; });
  CHECK_EQ(status, int(GLOOP_EINTERNAL));
  CHECK_EQ(message, std::string("guest failed on purpose"));
  host_toy_stats st = host_toy_get_stats();
  CHECK(st.threadsafe_posts >= 1);
  CHECK(st.not_threadsafe_posts >= 1);
  CHECK(st.post_host_data == HOST_TOY_DATA);

  /* The done callable may start the next run (these have no
   * not-threadsafe post). */
  host_toy_expect_not_threadsafe(0);
  int runs = 0;
  std::function<void(const gloop_outcome &)> again = [&](const gloop_outcome &o) {
    CHECK_EQ(o.status, 0);
    if (++runs < 3)
      gloop::start_guest_run([] { gloop::checkpoint(); }, host_toy_post_threadsafe, HOST_TOY_DATA, again);
  };
  gloop::start_guest_run([] {}, host_toy_post_threadsafe, HOST_TOY_DATA, again);
  host_run_until([&] { return runs == 3; });

  /* A second run on the same thread is refused, and nothing leaks. */
  bool first_done = false;
  gloop::start_guest_run([] { gloop::sleep(0.01); }, host_toy_post_threadsafe, HOST_TOY_DATA,
                         [&](const gloop_outcome &) { first_done = true; });
  CHECK_THROWS_CODE(gloop::start_guest_run([] {}, host_toy_post_threadsafe, HOST_TOY_DATA,
                                           [](const gloop_outcome &) {}),
                    GLOOP_ERUNNING);
  CHECK_THROWS_CODE(gloop::start_guest_run([] {}, nullptr, HOST_TOY_DATA, [](const gloop_outcome &) {}),
                    GLOOP_EINVAL);
  host_run_until([&] { return first_done; });

  /* Abandoning frees the wrapper's state; the done callable never runs. */
  bool abandoned_done = false;
  gloop::start_guest_run([] { gloop::sleep_forever(); }, host_toy_post_threadsafe, HOST_TOY_DATA,
                         [&](const gloop_outcome &) { abandoned_done = true; });
  host_run_until([] { return host_toy_queued() == 0; });
  gloop::abandon_run();
  CHECK(!gloop_in_run());
  CHECK_THROWS_CODE(gloop::abandon_run(), GLOOP_ENORUN);
  host_toy_drain(); /* stale ticks are no-ops */
  CHECK(!abandoned_done);
  host_toy_fini();
}

/* ---- Events and channels -------------------------------------------------------- */

/* ---- Host-safe handles -------------------------------------------------------- */

/* Host code (a timer callback, as a button's slot would be) reaches a scope,
 * a task and an event through refs; once the object has ended the wrapper
 * says so with false instead of throwing. */
CPP_TEST(handles_wrapper) {
  struct host_state {
    gloop_scope_ref scope{};
    gloop_task_ref task{};
    gloop_event_ref ev{};
    bool scope_cancelled = false, task_cancelled = false, ev_set = false;
  } hs;
  gloop::run([&] {
    gloop_timer *timer = nullptr;
    gloop::check(gloop_timer_new(&timer));
    auto host = [](void *data) {
      auto *h = static_cast<host_state *>(data);
      h->scope_cancelled = gloop::cancel(h->scope);
      h->ev_set = gloop::set(h->ev);
    };
    gloop::event ev;
    hs.ev = ev.ref();
    auto scope = gloop::cancel_scope();
    hs.scope = scope.ref();
    gloop::check(gloop_timer_start(timer, 0.0, host, &hs));
    CHECK(!scope.run([] { gloop::sleep(1000); }));
    CHECK(hs.scope_cancelled);
    CHECK(hs.ev_set);
    CHECK(ev.is_set());
    ev.clear();
    CHECK(!ev.is_set());
    /* The scope has closed: the ref is stale, not an error. */
    CHECK(!gloop::cancel(hs.scope));
    CHECK_THROWS_CODE(scope.ref(), GLOOP_ECLOSED);

    /* A task cancelled through its ref ends with its nursery unharmed. */
    bool task_saw_cancel = false;
    gloop::open_nursery([&](gloop::nursery &n) {
      n.start([&] {
        hs.task = gloop::current_task_ref();
        try {
          gloop::sleep_forever();
        } catch (const gloop::error &e) {
          task_saw_cancel = e.cancelled();
          throw;
        }
      });
      gloop::checkpoint();
      hs.task_cancelled = gloop::cancel(hs.task);
    });
    CHECK(hs.task_cancelled);
    CHECK(task_saw_cancel);
    CHECK(!gloop::cancel(hs.task));

    /* A nursery's ref cancels the whole nursery; open_nursery() absorbs it. */
    gloop_scope_ref nref{};
    int children_cancelled = 0;
    gloop::open_nursery([&](gloop::nursery &n) {
      nref = n.ref();
      for (int i = 0; i < 2; i++) n.start([&]() -> int {
        children_cancelled += gloop_sleep_forever() == GLOOP_ECANCELED;
        return 0;
      });
      gloop::checkpoint();
      CHECK(gloop::cancel(nref));
    });
    CHECK_EQ(children_cancelled, 2);
    CHECK(!gloop::cancel(nref));
    gloop_timer_free(timer);
  });
  /* After the run. */
  CHECK_THROWS_CODE(gloop::cancel(hs.scope), GLOOP_ENORUN);
  CHECK_THROWS_CODE(gloop::set(hs.ev), GLOOP_ENORUN);
  CHECK_THROWS_CODE(gloop::current_task_ref(), GLOOP_ENOTTASK);
  CHECK_THROWS_CODE(gloop::cancel(gloop_scope_ref{}), GLOOP_EINVAL);
}

CPP_TEST(event_wrapper) {
  gloop::run([] {
    gloop::event ready;
    int woken = 0;
    gloop::nursery n;
    for (int i = 0; i < 3; i++) n.start([&] {
      ready.wait();
      ++woken;
    });
    gloop::checkpoint();
    CHECK(!ready.is_set());
    ready.set();
    ready.set(); /* idempotent */
    n.close();
    CHECK_EQ(woken, 3);
    CHECK(ready.is_set());

    /* Moving hands the handle over; the moved-from object refuses use. */
    gloop::event moved = std::move(ready);
    CHECK(moved.is_set());
    CHECK_THROWS_CODE(ready.set(), GLOOP_EINVAL);

    /* Freeing an event a task waits on wakes it with EDESTROYED. */
    auto doomed = std::make_unique<gloop::event>();
    int rc = 0;
    gloop::nursery m;
    m.start([&]() -> int {
      rc = gloop_event_wait(doomed->get());
      return 0;
    });
    gloop::checkpoint();
    doomed.reset();
    m.close();
    CHECK_EQ(rc, int(GLOOP_EDESTROYED));
  });
}

namespace {
struct reading {
  int id;
  double value;
};
}  // namespace

CPP_TEST(typed_channel) {
  gloop::run([] {
    gloop::channel<reading> ch(2);
    double sum = 0;
    int count = 0;
    gloop::nursery n;
    n.start([&] {
      for (int i = 1; i <= 5; i++) ch.send(reading{i, i * 1.5});
      ch.close();
    }, "producer");
    n.start([&] {
      while (auto r = ch.receive()) {
        sum += r->value;
        count += r->id;
      }
    }, "consumer");
    n.close();
    CHECK_EQ(count, 15);
    CHECK_EQ(sum, 22.5);
    /* Closed and drained. */
    CHECK(!ch.receive().has_value());
    CHECK_THROWS_CODE(ch.try_receive(), GLOOP_EENDOFCHANNEL);
    CHECK_THROWS_CODE(ch.send(reading{0, 0}), GLOOP_ECLOSED);
    CHECK_THROWS_CODE(ch.close(), GLOOP_ECLOSED);

    /* Non-blocking use, also what host code does. */
    gloop::channel<int> small(1);
    CHECK(!small.try_receive().has_value());
    CHECK(small.try_send(1));
    CHECK(!small.try_send(2));
    CHECK_EQ(small.size(), std::size_t(1));
    CHECK_EQ(*small.try_receive(), 1);

    /* Rendezvous: a send waits for a receiver. */
    gloop::channel<long> meet(0);
    long got = 0;
    gloop::nursery m;
    m.start([&] { got = *meet.receive(); });
    meet.send(99L);
    m.close();
    CHECK_EQ(got, 99L);

    /* A receive blocked in a cancelled scope throws ECANCELED inside, and
     * run() absorbs it. */
    CHECK(!gloop::cancel_scope::move_on_after(0.01).run([&] { (void)meet.receive(); }));
  });
}

/* ---- The cost of a lambda start ------------------------------------------------
 * Not a timed assertion: it checks that every start ran, and prints the cost
 * per start+finish of a C task function, of a lambda that fits in the task
 * argument, and of one that goes to the heap. All three are started through
 * gloop_nursery_start_ex() with one function pointer that the core calls
 * indirectly, once per task; for a lambda that pointer is the wrapper's
 * trampoline, which calls the lambda directly. In a Release build the
 * trampoline of `[&small_counter] { ++small_counter; }` compiles to the same
 * three instructions as c_task() below (add, xor, ret), and the heap one adds
 * only its operator delete. Measured on the 2-core reference machine
 * (Release): C 0.08-0.10 us, small lambda 0.08-0.09 us, heap lambda
 * 0.10-0.11 us per start+finish. So a lambda start costs the C start's one
 * indirect call and nothing more, plus one new/delete pair when the
 * callable is bigger than a pointer. */

namespace {
int c_counter = 0;
int c_task(void *arg) {
  ++*static_cast<int *>(arg);
  return 0;
}
}  // namespace

CPP_TEST(start_cost) {
  /* Batches of 256 tasks per nursery stay within the run's stack cache, so
   * after the first batch no stack is mapped or unmapped and the figures
   * show the start path itself. */
  const int batch = 256, batches = 100;
  int small_counter = 0;
  int heap_counter = 0;
  double c_time = 0, small_time = 0, heap_time = 0;
  gloop::run([&] {
    long pad[4] = {1, 2, 3, 4};
    for (int round = 0; round < batches; round++) {
      double t0 = cpp_test::real_now();
      {
        gloop::nursery n;
        for (int i = 0; i < batch; i++)
          gloop::check(gloop_nursery_start(n.get(), c_task, &c_counter, "c", nullptr));
        n.close();
      }
      double t1 = cpp_test::real_now();
      {
        gloop::nursery n;
        for (int i = 0; i < batch; i++) n.start([&small_counter] { ++small_counter; }, "small");
        n.close();
      }
      double t2 = cpp_test::real_now();
      {
        gloop::nursery n;
        for (int i = 0; i < batch; i++)
          n.start([&heap_counter, pad] { heap_counter += static_cast<int>(pad[0]); }, "heap");
        n.close();
      }
      double t3 = cpp_test::real_now();
      /* The first round maps the stacks; it is not part of the figures. */
      if (round == 0) continue;
      c_time += t1 - t0;
      small_time += t2 - t1;
      heap_time += t3 - t2;
    }
  });
  CHECK_EQ(c_counter, batch * batches);
  CHECK_EQ(small_counter, batch * batches);
  CHECK_EQ(heap_counter, batch * batches);
  auto captureless = [] {};
  auto one_reference = [&small_counter] { ++small_counter; };
  long pad[4] = {1, 2, 3, 4};
  auto four_longs = [pad] { return pad[0]; };
  static_assert(gloop::detail::fits_in_arg<decltype(captureless)>, "no captures: inline");
  static_assert(gloop::detail::fits_in_arg<decltype(one_reference)>, "one reference: inline");
  static_assert(!gloop::detail::fits_in_arg<decltype(four_longs)>, "32 bytes: heap");
  (void)four_longs;
  double per = 1e6 / (double(batch) * (batches - 1));
  std::printf("start+finish per task: C %.3f us, small lambda %.3f us, heap lambda %.3f us\n",
              c_time * per, small_time * per, heap_time * per);
}

int main(int argc, char **argv) { return cpp_test::main(argc, argv); }

CPP_TEST(to_thread) {
  gloop::run([&] {
    /* A result comes back, from a callable with or without a stop token. */
    CHECK_EQ(gloop::to_thread([] { return 6 * 7; }), 42);
    CHECK_EQ(gloop::to_thread([](gloop::stop_token st) { return st.stop_requested() ? 1 : 2; }), 2);
    std::string s = gloop::to_thread([] { return std::string("from a worker"); });
    CHECK(s == "from a worker");
    bool ran = false;
    gloop::to_thread([&] { ran = true; });
    CHECK(ran);

    /* An exception thrown on the worker is rethrown in the task. */
    bool caught = false;
    try {
      gloop::to_thread([]() -> int { throw std::runtime_error("job failed"); });
    } catch (const std::runtime_error &e) {
      caught = std::string(e.what()) == "job failed";
    }
    CHECK(caught);

    /* Cancelled while it waits: the job sees the stop request and returns
     * early; the task gets the cancellation. */
    int polls = 0;
    bool stopped = false;
    auto scope = gloop::cancel_scope::move_on_after(0.02);
    CHECK(!scope.run([&] {
      gloop::to_thread([&](gloop::stop_token st) {
        auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!st.stop_requested() && std::chrono::steady_clock::now() < until) {
          polls++;
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        stopped = st.stop_requested();
        return polls;
      });
      FAIL("to_thread returned after a cancellation");
    }));
    CHECK(stopped);
    CHECK(polls > 0);

    /* Outside a job the token says so: fd() throws EWRONGTHREAD. */
    CHECK_THROWS_CODE(gloop::stop_token{}.fd(), GLOOP_EWRONGTHREAD);
  });
}
