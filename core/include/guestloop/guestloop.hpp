/* guestloop.hpp - the header-only C++17 wrapper of libguestloop: lambdas as tasks, RAII nurseries, scopes, events and channels, errors as exceptions. */
#ifndef GUESTLOOP_HPP
#define GUESTLOOP_HPP

/**
 * \file guestloop.hpp
 * \brief Header-only C++17 wrapper around the C API of guestloop.h.
 *
 * Error style: **exceptions**. Every wrapper that fails throws gloop::error,
 * which carries the GLOOP_E* code and a message. Cancellation is an
 * exception too (code GLOOP_ECANCELED), as in Trio: it unwinds the task's
 * stack, running destructors, up to the scope that was cancelled
 * (cancel_scope::run() or open_nursery() absorbs it) or out of the task,
 * where the task trampoline turns it back into the task's return code.
 * Code that prefers return codes calls the C API directly; every wrapper
 * object hands out its C handle with get().
 *
 * Rules that come from running C++ on coroutine stacks:
 *  - No exception crosses into C: each task's trampoline catches everything
 *    and turns it into the task's failure (gloop_fail() with what()).
 *  - Do not wait (sleep, wait, receive, close a nursery, ...) inside a catch
 *    handler. The C++ runtime keeps one stack of "currently caught"
 *    exceptions per thread, shared by every task of that thread; a task that
 *    switches away inside a handler lets another task's handler interleave
 *    with it. Copy what you need, leave the handler, then wait.
 *    (Waiting in a destructor that runs during unwinding is fine.)
 *  - std::uncaught_exceptions() counts the exceptions in flight in every
 *    task of the thread, not only the calling one.
 *  - A run abandoned with gloop_abandon_run() never resumes its tasks, so
 *    destructors of objects on their stacks do not run and the callables
 *    of unfinished tasks are not freed.
 */

#include "guestloop/guestloop.h"

#if !defined(__cpp_exceptions) && !defined(__EXCEPTIONS) && !defined(_CPPUNWIND)
#error "guestloop.hpp reports errors with exceptions; without them, use guestloop.h directly"
#endif

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

/** \brief The C++ wrapper of libguestloop. */
namespace gloop {

/* ======================================================================== */
/* Errors                                                                   */
/* ======================================================================== */

/**
 * \brief A failed libguestloop call, or a task that failed.
 *
 * code() is a negative GLOOP_E* value (or a task's own non-zero status);
 * what() is the message that came with it, or gloop_strerror(code()) when
 * there was none.
 */
class error : public std::runtime_error {
 public:
  /** \brief An error with the library's standard message for \p code. */
  explicit error(int code) : error(code, std::string()) {}
  /** \brief An error with its own message; an empty one means the standard message. */
  error(int code, const std::string &message)
      : std::runtime_error(message.empty() ? std::string(gloop_strerror(code)) : message),
        code_(code) {}
  /** \brief The GLOOP_E* code (or a task's status). */
  int code() const noexcept { return code_; }
  /** \brief The code's name without the GLOOP_ prefix, such as "ECANCELED". */
  const char *name() const noexcept { return gloop_err_name(code_); }
  /** \brief True for a cancellation (GLOOP_ECANCELED). */
  bool cancelled() const noexcept { return code_ == GLOOP_ECANCELED; }

 private:
  int code_;
};

/** \brief Throws gloop::error(rc) if \p rc is negative; returns \p rc otherwise. */
inline int check(int rc) {
  if (rc < 0) throw error(rc);
  return rc;
}

/* ======================================================================== */
/* Internals: how a C++ callable becomes a gloop_task_fn                    */
/* ======================================================================== */

/** \cond INTERNAL */
namespace detail {

/* Runs a task's callable and converts its end into a task status. Nothing
 * may propagate from here: the caller is the C scheduler. An exception's
 * what() becomes the task's failure message, which the nursery (or the
 * run's outcome) reports. */
template <class Fn>
int invoke_task(Fn &fn) noexcept {
  using result = std::invoke_result_t<Fn &>;
  static_assert(std::is_void_v<result> || std::is_same_v<result, int>,
                "a task callable returns void or int (0 = success, < 0 = GLOOP_E* code)");
  try {
    if constexpr (std::is_void_v<result>) {
      fn();
      return 0;
    } else {
      return static_cast<int>(fn());
    }
  } catch (const error &e) {
    return gloop_fail(e.code(), "%s", e.what());
  } catch (const std::bad_alloc &e) {
    return gloop_fail(GLOOP_ENOMEM, "%s", e.what());
  } catch (const std::exception &e) {
    return gloop_fail(GLOOP_EINTERNAL, "%s", e.what());
  } catch (...) {
    return gloop_fail(GLOOP_EINTERNAL, "%s", "unknown C++ exception");
  }
}

/* A callable that is trivially copyable and no bigger than a pointer (a
 * lambda without captures, or capturing one reference or pointer) travels
 * inside the void * argument itself, so starting it allocates nothing. */
template <class Fn>
inline constexpr bool fits_in_arg = std::is_trivially_copyable_v<Fn> &&
                                    sizeof(Fn) <= sizeof(void *) &&
                                    alignof(Fn) <= alignof(void *);

/* The task function the core calls for a callable of type Fn: the one
 * indirect call of every task start. The call of the callable itself is
 * direct and usually inlined here. */
template <class Fn>
int task_entry(void *arg) noexcept {
  if constexpr (fits_in_arg<Fn>) {
    /* The bytes were copied in by packed_task; copying them into suitably
     * aligned storage creates the trivially copyable object again (implicit
     * object creation by memcpy). */
    alignas(Fn) unsigned char storage[sizeof(Fn)];
    std::memcpy(storage, &arg, sizeof(Fn));
    return invoke_task(*std::launder(reinterpret_cast<Fn *>(storage)));
  } else {
    /* The task owns its callable: freed when the task ends, on the task's
     * own stack, by whichever path it ends. */
    std::unique_ptr<Fn> fn(static_cast<Fn *>(arg));
    return invoke_task(*fn);
  }
}

/* The entry of a callable that outlives the run (gloop::run() keeps it on
 * its caller's stack), so nothing is freed. */
template <class Fn>
int borrowed_entry(void *arg) noexcept {
  return invoke_task(*static_cast<Fn *>(arg));
}

/* A callable packed for a C start call: entry() and arg() go to the core.
 * Until release() is called the packing owns the callable and frees it,
 * so a refused start leaks nothing. */
template <class F>
class packed_task {
 public:
  using fn_type = std::decay_t<F>;
  static_assert(std::is_invocable_v<fn_type &>, "a task callable takes no arguments");

  explicit packed_task(F &&f) {
    if constexpr (fits_in_arg<fn_type>) {
      /* Through a decayed copy, so that a function (not a pointer to one)
       * is stored as its address. */
      fn_type copy(std::forward<F>(f));
      std::memcpy(&arg_, std::addressof(copy), sizeof(fn_type));
    } else {
      arg_ = new fn_type(std::forward<F>(f));
      owned_ = true;
    }
  }
  ~packed_task() {
    if constexpr (!fits_in_arg<fn_type>) {
      if (owned_) delete static_cast<fn_type *>(arg_);
    }
  }
  packed_task(const packed_task &) = delete;
  packed_task &operator=(const packed_task &) = delete;

  gloop_task_fn entry() const noexcept { return &task_entry<fn_type>; }
  void *arg() const noexcept { return arg_; }
  /* The core accepted the start: the task frees the callable now. */
  void release() noexcept { owned_ = false; }

 private:
  void *arg_ = nullptr;
  bool owned_ = false;
};

/* Calls a user's done callable, which may not throw into the C caller. */
template <class Done>
void invoke_done(Done &done, const gloop_outcome *outcome) noexcept {
  try {
    done(*outcome);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "guestloop: exception from a done callback: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "guestloop: unknown exception from a done callback\n");
  }
}

/* The state of a guest run started from C++: the host's two posts and its
 * host_data, and the done callable. The core gets this object as its
 * host_data, so the posts below forward to the host's own functions with
 * the host's own host_data. It is freed right before the done callable
 * runs (which may start the next run), or by gloop::abandon_run(). */
struct guest_state {
  gloop_post_fn post = nullptr;
  gloop_post_fn post_not_threadsafe = nullptr;
  void *host_data = nullptr;
  virtual void done(const gloop_outcome *outcome) noexcept = 0;
  virtual ~guest_state() = default;
};

/* The state of the guest run started from C++ on this thread, if any. One
 * run per thread at a time is the core's rule too. */
inline thread_local guest_state *current_guest = nullptr;

template <class Done>
struct guest_state_for final : guest_state {
  explicit guest_state_for(Done &&d) : fn(std::forward<Done>(d)) {}
  void done(const gloop_outcome *outcome) noexcept override { invoke_done(fn, outcome); }
  std::decay_t<Done> fn;
};

inline void guest_post(gloop_callback_fn fn, void *fn_arg, void *data) {
  auto *st = static_cast<guest_state *>(data);
  st->post(fn, fn_arg, st->host_data);
}

inline void guest_post_not_threadsafe(gloop_callback_fn fn, void *fn_arg, void *data) {
  auto *st = static_cast<guest_state *>(data);
  st->post_not_threadsafe(fn, fn_arg, st->host_data);
}

inline void guest_done(const gloop_outcome *outcome, void *data) {
  std::unique_ptr<guest_state> st(static_cast<guest_state *>(data));
  if (current_guest == st.get()) current_guest = nullptr;
  st->done(outcome);
}

}  // namespace detail
/** \endcond */

/* ======================================================================== */
/* Runs                                                                     */
/* ======================================================================== */

/** \brief gloop_options filled with the defaults (gloop_options_init()). */
inline gloop_options default_options() noexcept {
  gloop_options o;
  gloop_options_init(&o);
  return o;
}

/**
 * \brief Runs \p main as the main task on the calling thread until every task
 * has ended, like trio.run.
 *
 * \p main is any callable taking no arguments and returning void or int. It
 * stays on the caller's stack for the whole run (no allocation).
 * \return the main task's status when it is not negative (0, or the positive
 *         value the callable returned).
 * \throws gloop::error if the run could not start, or with the outcome's
 *         status and message if the main task failed.
 */
template <class F>
int run(F &&main, const gloop_options *opts = nullptr) {
  using fn_type = std::remove_reference_t<F>;
  static_assert(std::is_invocable_v<fn_type &>, "the main callable takes no arguments");
  struct outcome_copy {
    bool arrived = false;
    int status = 0;
    std::string message;
  } out;
  auto keep_outcome = [](const gloop_outcome *o, void *data) {
    auto *c = static_cast<outcome_copy *>(data);
    c->arrived = true;
    c->status = o->status;
    /* The message is valid only during this call. A failed copy (no
     * memory) keeps the status; error() then uses the standard message. */
    try {
      c->message = o->message;
    } catch (...) {
      c->message.clear();
    }
  };
  void *arg = const_cast<void *>(static_cast<const void *>(std::addressof(main)));
  int rc = gloop_run(&detail::borrowed_entry<fn_type>, arg, opts, keep_outcome, &out);
  if (!out.arrived) throw error(rc < 0 ? rc : GLOOP_EINTERNAL); /* it never started */
  if (out.status < 0) throw error(out.status, out.message);
  return out.status;
}

/**
 * \brief Starts a guest run of \p main on the calling (host) thread, as
 * gloop_start_guest_run_ex() does, and returns once it is set up.
 *
 * \p post and \p host_data are the host's threadsafe post and its data,
 * exactly as for the C call; the not-threadsafe post, if any, is taken from
 * \p opts. \p done is a callable taking `const gloop_outcome &`; it runs
 * once on the host thread when the run has ended. Exceptions from \p done are
 * printed to stderr and go no further.
 * \throws gloop::error if the run could not start (nothing was posted then).
 */
template <class F, class Done>
void start_guest_run(F &&main, gloop_post_fn post, void *host_data, Done &&done,
                     const gloop_options *opts = nullptr) {
  if (post == nullptr) throw error(GLOOP_EINVAL, "start_guest_run: no post function");
  detail::packed_task<F> task(std::forward<F>(main));
  auto st = std::make_unique<detail::guest_state_for<Done>>(std::forward<Done>(done));
  st->post = post;
  st->host_data = host_data;
  gloop_options o = opts != nullptr ? *opts : default_options();
  if (o.run_sync_soon_not_threadsafe != nullptr) {
    st->post_not_threadsafe = o.run_sync_soon_not_threadsafe;
    o.run_sync_soon_not_threadsafe = &detail::guest_post_not_threadsafe;
  }
  int rc = gloop_start_guest_run_ex(task.entry(), task.arg(), &detail::guest_post,
                                    &detail::guest_done, st.get(), &o);
  if (rc < 0) throw error(rc);
  task.release();
  detail::current_guest = st.release();
}

/**
 * \brief Abandons the guest run live on this thread (gloop_abandon_run()) and
 * frees what start_guest_run() allocated for it. The tasks' own callables
 * and stack objects are not freed: they never resume.
 * \throws gloop::error GLOOP_ENORUN or GLOOP_EBUSY as the C call.
 */
inline void abandon_run() {
  check(gloop_abandon_run());
  delete detail::current_guest;
  detail::current_guest = nullptr;
}

/** \brief Cancels the whole run (gloop_cancel_run()). */
inline void cancel_run() { check(gloop_cancel_run()); }

/** \brief The run's clock, in seconds (NaN outside a run). */
inline double now() noexcept { return gloop_now(); }

/* ======================================================================== */
/* Waiting                                                                  */
/* ======================================================================== */

/** \brief Sleeps for \p seconds. \throws gloop::error GLOOP_ECANCELED when cancelled. */
inline void sleep(double seconds) { check(gloop_sleep(seconds)); }
/** \brief Sleeps until the clock reads \p deadline. */
inline void sleep_until(double deadline) { check(gloop_sleep_until(deadline)); }
/** \brief Yields to the other ready tasks; throws when cancelled. */
inline void checkpoint() { check(gloop_checkpoint()); }

/** \brief Sleeps until cancelled: always throws (GLOOP_ECANCELED). */
[[noreturn]] inline void sleep_forever() {
  int rc = gloop_sleep_forever();
  throw error(rc < 0 ? rc : GLOOP_EINTERNAL);
}

/** \brief The running task's name, or "" outside a task. */
inline const char *task_name() noexcept {
  gloop_task *t = gloop_current_task();
  return t != nullptr ? gloop_task_name(t) : "";
}

/* ======================================================================== */
/* Cancel scopes                                                            */
/* ======================================================================== */

/**
 * \brief A cancel scope of the current task (gloop_scope_open()).
 *
 * Open one with a factory, then either run a body in it with run(), which
 * absorbs the cancellation this scope caused (Trio's `with` block), or keep
 * the object as a plain RAII guard around code that checks return codes.
 * The scope closes at run()'s end, at close(), or in the destructor. A
 * destructor cannot stop an exception, so a cancellation thrown inside a
 * plain guard keeps unwinding past it: use run() for code that throws.
 * Scopes nest and must close in reverse order, which C++ scoping does.
 */
class cancel_scope {
 public:
  /** \brief A scope with an absolute deadline (infinity = none) and GLOOP_SCOPE_* flags. */
  explicit cancel_scope(double deadline = std::numeric_limits<double>::infinity(),
                        int flags = 0) {
    check(gloop_scope_open(deadline, flags, &scope_));
  }
  /** \brief Trio's move_on_after(): cancelled \p seconds from now. */
  static cancel_scope move_on_after(double seconds) { return cancel_scope(after(seconds), 0); }
  /** \brief Trio's move_on_at(): cancelled when the clock reaches \p deadline. */
  static cancel_scope move_on_at(double deadline) { return cancel_scope(deadline, 0); }
  /** \brief Trio's fail_after(): as move_on_after(), and closing it then throws GLOOP_ETIMEDOUT. */
  static cancel_scope fail_after(double seconds) {
    return cancel_scope(after(seconds), GLOOP_SCOPE_FAIL);
  }
  /** \brief Trio's fail_at(). */
  static cancel_scope fail_at(double deadline) { return cancel_scope(deadline, GLOOP_SCOPE_FAIL); }
  /** \brief A shielded scope: cancellation from outside does not reach inside. */
  static cancel_scope shield() {
    return cancel_scope(std::numeric_limits<double>::infinity(), GLOOP_SCOPE_SHIELD);
  }

  cancel_scope(cancel_scope &&other) noexcept
      : scope_(std::exchange(other.scope_, nullptr)),
        cancel_called_(other.cancel_called_),
        cancelled_caught_(other.cancelled_caught_) {}
  cancel_scope &operator=(cancel_scope &&) = delete;
  cancel_scope(const cancel_scope &) = delete;
  cancel_scope &operator=(const cancel_scope &) = delete;

  /** \brief Closes the scope if still open; a fail scope's timeout is dropped here (use close()). */
  ~cancel_scope() {
    if (scope_ != nullptr) gloop_scope_close(scope_);
  }

  /**
   * \brief Runs \p body inside the scope, then closes the scope.
   * \return true if the body ran to its end, false if a cancellation caused
   *         by this scope (its deadline or cancel()) stopped it.
   * \throws gloop::error GLOOP_ETIMEDOUT when a fail scope's deadline fired;
   *         any other exception from \p body passes through (the scope is
   *         closed on the way out).
   */
  template <class F>
  bool run(F &&body) {
    if (scope_ == nullptr) throw error(GLOOP_ECLOSED, "cancel_scope::run: the scope is closed");
    bool completed = true;
    try {
      std::forward<F>(body)();
    } catch (const error &e) {
      /* Only a cancellation this scope delivered stops here; one from a
       * scope further out keeps going (and the destructor closes us). */
      if (!e.cancelled() || !gloop_scope_cancelled_caught(scope_)) throw;
      completed = false;
    }
    close();
    return completed;
  }

  /**
   * \brief Closes the scope now.
   * \throws gloop::error GLOOP_ETIMEDOUT for a fail scope whose deadline
   *         fired, GLOOP_EINVAL if it is not the task's innermost scope.
   */
  void close() {
    if (scope_ == nullptr) throw error(GLOOP_ECLOSED, "cancel_scope::close: already closed");
    cancel_called_ = gloop_scope_cancel_called(scope_) != 0;
    cancelled_caught_ = gloop_scope_cancelled_caught(scope_) != 0;
    int rc = gloop_scope_close(scope_);
    if (rc == GLOOP_EINVAL) throw error(rc, "cancel_scope::close: not the innermost open scope");
    scope_ = nullptr;
    if (rc < 0) throw error(rc, gloop_last_message());
  }

  /** \brief Cancels the scope (task or host context). */
  void cancel() { check(gloop_scope_cancel(open_handle())); }
  /** \brief Moves the absolute deadline (infinity = none). */
  void set_deadline(double deadline) { check(gloop_scope_set_deadline(open_handle(), deadline)); }
  /** \brief The absolute deadline (infinity = none). */
  double deadline() const { return gloop_scope_deadline(open_handle()); }
  /** \brief Turns the shield on or off. */
  void set_shield(bool on) { check(gloop_scope_set_shield(open_handle(), on ? 1 : 0)); }
  /** \brief True once the scope was cancelled (by call or deadline); kept after close. */
  bool cancel_called() const noexcept {
    return scope_ != nullptr ? gloop_scope_cancel_called(scope_) != 0 : cancel_called_;
  }
  /** \brief True if a wait inside was cancelled because of this scope; kept after close. */
  bool cancelled_caught() const noexcept {
    return scope_ != nullptr ? gloop_scope_cancelled_caught(scope_) != 0 : cancelled_caught_;
  }
  /** \brief The C handle, or nullptr once closed. */
  gloop_scope *get() const noexcept { return scope_; }
  /**
   * \brief A host-safe handle to this scope (gloop_scope_get_ref()), for
   *        host code such as a Cancel button; see gloop::cancel(gloop_scope_ref).
   * \throws gloop::error GLOOP_ECLOSED once closed, GLOOP_ENOMEM.
   */
  gloop_scope_ref ref() const {
    gloop_scope_ref r{};
    check(gloop_scope_get_ref(open_handle(), &r));
    return r;
  }

 private:
  static double after(double seconds) {
    /* Checked here so that a bad duration reads as EINVAL, not as a NaN
     * deadline; outside a task gloop_now() is NaN and the open reports
     * GLOOP_ENOTTASK. */
    if (!(seconds >= 0)) throw error(GLOOP_EINVAL, "cancel_scope: negative or NaN duration");
    double t = gloop_now();
    if (t != t) throw error(GLOOP_ENOTTASK);
    return t + seconds;
  }
  gloop_scope *open_handle() const {
    if (scope_ == nullptr) throw error(GLOOP_ECLOSED, "cancel_scope: the scope is closed");
    return scope_;
  }

  gloop_scope *scope_ = nullptr;
  bool cancel_called_ = false;
  bool cancelled_caught_ = false;
};

/* ======================================================================== */
/* Host-safe handles                                                        */
/* ======================================================================== */

namespace detail {
/* A handle call's result: true if it acted, false if the object has ended
 * (GLOOP_ENOTFOUND), which host code expects and need not treat as an error. */
inline bool acted(int rc) {
  if (rc == GLOOP_ENOTFOUND) return false;
  check(rc);
  return true;
}
}  // namespace detail

/**
 * \brief Cancels the scope a ref names (gloop_scope_ref_cancel()). Task or
 *        host context of its run.
 * \return true if the scope was still open, false if it has closed.
 * \throws gloop::error GLOOP_EINVAL (null ref), GLOOP_ENORUN (its run has
 *         ended), GLOOP_EWRONGTHREAD.
 */
inline bool cancel(gloop_scope_ref ref) { return detail::acted(gloop_scope_ref_cancel(ref)); }
/** \brief Cancels the task a ref names (gloop_task_ref_cancel()); false if it has ended. */
inline bool cancel(gloop_task_ref ref) { return detail::acted(gloop_task_ref_cancel(ref)); }
/** \brief Sets the event a ref names (gloop_event_ref_set()); false if it was freed. */
inline bool set(gloop_event_ref ref) { return detail::acted(gloop_event_ref_set(ref)); }

/**
 * \brief A host-safe handle to the running task (gloop_task_get_ref()).
 * \throws gloop::error GLOOP_ENOTTASK outside a task, GLOOP_ENOMEM.
 */
inline gloop_task_ref current_task_ref() {
  gloop_task *t = gloop_current_task();
  if (t == nullptr) throw error(GLOOP_ENOTTASK);
  gloop_task_ref r{};
  check(gloop_task_get_ref(t, &r));
  return r;
}

/* ======================================================================== */
/* Nurseries                                                                */
/* ======================================================================== */

/**
 * \brief A nursery of the current task (gloop_nursery_open()).
 *
 * The constructor opens it; start() starts children from any callable;
 * close() waits for them and throws the first child failure. If the object
 * is destroyed while still open (an exception is unwinding through the
 * owner), the destructor cancels the children and waits for them, so no
 * child outlives its nursery. Because that path cannot report the children's
 * failure, prefer open_nursery(), which does.
 */
class nursery {
 public:
  /** \brief Opens a nursery owned by the current task. \throws gloop::error (GLOOP_ENOTTASK, GLOOP_ENOMEM). */
  nursery() { check(gloop_nursery_open(&nursery_)); }
  /** \brief Cancels and closes the nursery if close() was not called. */
  ~nursery() {
    if (nursery_ != nullptr) {
      gloop_nursery_cancel(nursery_);
      gloop_nursery_close(nursery_);
    }
  }
  nursery(const nursery &) = delete;
  nursery &operator=(const nursery &) = delete;

  /**
   * \brief Starts \p fn as a child task.
   *
   * \p fn is any callable taking no arguments and returning void (success)
   * or int (0 or an error code). A small trivially copyable callable (no
   * captures, or one reference or pointer) is passed to the core inside
   * the task argument; any other is moved to the heap once and freed when
   * the task ends. An exception escaping \p fn becomes the task's failure
   * with the exception's what() as message. Task or host context.
   * \param fn the task's callable.
   * \param name the task's name, copied (nullptr = "task-N").
   * \param stack_size bytes (0 = the run's default).
   * \return the task handle, valid until the task ends.
   */
  template <class F>
  gloop_task *start(F &&fn, const char *name = nullptr, std::size_t stack_size = 0) {
    detail::packed_task<F> task(std::forward<F>(fn));
    gloop_task *t = nullptr;
    check(gloop_nursery_start_ex(open_handle(), task.entry(), task.arg(), name, stack_size, &t));
    task.release();
    return t;
  }

  /** \brief Cancels every child and the owner's code inside the nursery. */
  void cancel() { check(gloop_nursery_cancel(open_handle())); }
  /**
   * \brief A host-safe handle to the nursery's cancel scope
   *        (gloop_nursery_get_ref()): gloop::cancel() on it cancels the nursery.
   * \throws gloop::error GLOOP_ECLOSED once closed, GLOOP_ENOMEM.
   */
  gloop_scope_ref ref() const {
    gloop_scope_ref r{};
    check(gloop_nursery_get_ref(open_handle(), &r));
    return r;
  }

  /**
   * \brief Waits for every child to end, then frees the nursery.
   * \throws gloop::error with the first failed child's status and message
   *         ("task 'NAME' failed: ...").
   */
  void close() {
    gloop_nursery *n = open_handle();
    nursery_ = nullptr;
    int rc = gloop_nursery_close(n);
    if (rc != 0) throw error(rc, gloop_last_message());
  }

  /** \brief The C handle, or nullptr once closed. */
  gloop_nursery *get() const noexcept { return nursery_; }

 private:
  gloop_nursery *open_handle() const {
    if (nursery_ == nullptr) throw error(GLOOP_ECLOSED, "nursery: already closed");
    return nursery_;
  }

  gloop_nursery *nursery_ = nullptr;
};

/**
 * \brief Trio's `async with open_nursery() as n:` block: runs body(n), then
 * closes the nursery.
 *
 * If the body throws, the children are cancelled and waited for. Then:
 *  - a child's failure wins over the cancellation of the body it caused;
 *  - a cancellation that came from the nursery itself (nursery::cancel())
 *    ends here, and open_nursery() returns normally;
 *  - any other exception from the body, including a cancellation from a
 *    scope further out, is rethrown.
 * \throws gloop::error for a failed child, or the body's own exception.
 */
template <class F>
void open_nursery(F &&body) {
  nursery n;
  std::exception_ptr thrown;
  bool body_cancelled = false;
  try {
    std::forward<F>(body)(n);
  } catch (const error &e) {
    body_cancelled = e.cancelled();
    thrown = std::current_exception();
  } catch (...) {
    thrown = std::current_exception();
  }
  /* Waiting happens outside the handlers (see the file comment). */
  if (!thrown) {
    n.close();
    return;
  }
  n.cancel();
  if (!body_cancelled) {
    try {
      n.close();
    } catch (const error &) {
      /* The body's own exception is the one reported; the children were
       * cancelled because of it. */
    }
    std::rethrow_exception(thrown);
  }
  /* A child's failure, if that is what cancelled the body, wins. */
  n.close();
  /* No child failed, so the body's cancellation came from the nursery's
   * own scope (nursery::cancel()) or from a scope further out. The first
   * ends here, as in Trio; the second must keep unwinding. A checkpoint
   * tells them apart: it reports a cancellation only from further out. */
  if (gloop_checkpoint() == GLOOP_ECANCELED) std::rethrow_exception(thrown);
}

/* ======================================================================== */
/* Events and channels                                                      */
/* ======================================================================== */

/** \brief An event (gloop_event): set, wakes every waiter; clear() makes it reusable. */
class event {
 public:
  /** \brief Creates an event of the run live on this thread. */
  event() { check(gloop_event_new(&event_)); }
  /** \brief Frees it; tasks still waiting wake with GLOOP_EDESTROYED. */
  ~event() { gloop_event_free(event_); }
  event(event &&other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
  event &operator=(event &&other) noexcept {
    if (this != &other) {
      gloop_event_free(event_);
      event_ = std::exchange(other.event_, nullptr);
    }
    return *this;
  }
  event(const event &) = delete;
  event &operator=(const event &) = delete;

  /** \brief Sets it and wakes every waiter (task or host context). */
  void set() { check(gloop_event_set(handle())); }
  /** \brief True once set (until cleared). */
  bool is_set() const noexcept { return gloop_event_is_set(event_) != 0; }
  /** \brief Clears it, so later waits block until the next set() (task or host context). */
  void clear() { check(gloop_event_clear(handle())); }
  /** \brief A host-safe handle (gloop_event_get_ref()); see gloop::set(gloop_event_ref). */
  gloop_event_ref ref() const {
    gloop_event_ref r{};
    check(gloop_event_get_ref(handle(), &r));
    return r;
  }
  /** \brief Waits until set. \throws gloop::error GLOOP_ECANCELED, GLOOP_EDESTROYED. */
  void wait() { check(gloop_event_wait(handle())); }
  /** \brief The C handle. */
  gloop_event *get() const noexcept { return event_; }

 private:
  gloop_event *handle() const {
    if (event_ == nullptr) throw error(GLOOP_EINVAL, "event: moved from");
    return event_;
  }
  gloop_event *event_ = nullptr;
};

/**
 * \brief A bounded FIFO channel (gloop_channel) of values of type T, copied in
 * and out. T must be trivially copyable (the core copies bytes) and default
 * constructible (receive() fills a T).
 */
template <class T>
class channel {
  static_assert(std::is_trivially_copyable_v<T>, "channel<T> copies bytes: T must be trivially copyable");
  static_assert(std::is_default_constructible_v<T>, "channel<T> needs a default-constructible T");

 public:
  /** \brief A channel holding up to \p capacity values (0 = rendezvous). */
  explicit channel(std::size_t capacity) { check(gloop_channel_new(capacity, sizeof(T), &channel_)); }
  /** \brief Frees it; tasks still waiting wake with GLOOP_EDESTROYED. */
  ~channel() { gloop_channel_free(channel_); }
  channel(channel &&other) noexcept : channel_(std::exchange(other.channel_, nullptr)) {}
  channel &operator=(channel &&other) noexcept {
    if (this != &other) {
      gloop_channel_free(channel_);
      channel_ = std::exchange(other.channel_, nullptr);
    }
    return *this;
  }
  channel(const channel &) = delete;
  channel &operator=(const channel &) = delete;

  /** \brief Sends a copy of \p value, waiting while full. \throws gloop::error GLOOP_ECLOSED, GLOOP_ECANCELED. */
  void send(const T &value) { check(gloop_channel_send(handle(), std::addressof(value))); }
  /** \brief Sends without waiting; false when full (task or host context). */
  bool try_send(const T &value) {
    int rc = gloop_channel_try_send(handle(), std::addressof(value));
    if (rc == GLOOP_EAGAIN) return false;
    check(rc);
    return true;
  }
  /**
   * \brief Receives the next value, waiting while empty.
   * \return the value, or std::nullopt once the channel is closed and drained.
   * \throws gloop::error GLOOP_ECANCELED, GLOOP_EDESTROYED.
   */
  std::optional<T> receive() {
    T value{};
    int rc = gloop_channel_receive(handle(), std::addressof(value));
    if (rc == GLOOP_EENDOFCHANNEL) return std::nullopt;
    check(rc);
    return value;
  }
  /**
   * \brief Receives without waiting (task or host context).
   * \return the value, or std::nullopt while the channel is empty.
   * \throws gloop::error GLOOP_EENDOFCHANNEL once closed and drained.
   */
  std::optional<T> try_receive() {
    T value{};
    int rc = gloop_channel_try_receive(handle(), std::addressof(value));
    if (rc == GLOOP_EAGAIN) return std::nullopt;
    check(rc);
    return value;
  }
  /** \brief Closes it: senders get GLOOP_ECLOSED, receivers drain then see the end. */
  void close() { check(gloop_channel_close(handle())); }
  /** \brief The number of values buffered. */
  std::size_t size() const noexcept { return gloop_channel_size(channel_); }
  /** \brief The C handle. */
  gloop_channel *get() const noexcept { return channel_; }

 private:
  gloop_channel *handle() const {
    if (channel_ == nullptr) throw error(GLOOP_EINVAL, "channel: moved from");
    return channel_;
  }
  gloop_channel *channel_ = nullptr;
};

/* ------------------------------------------------------------------------ */
/* Worker threads                                                           */
/* ------------------------------------------------------------------------ */

/** \brief What a job run by to_thread() sees of its task's cancellation. */
struct stop_token {
  /** \brief True once a scope around the waiting task was cancelled (or the
   * run abandoned): gloop_thread_check_cancelled(). Cheap; poll it. */
  bool stop_requested() const noexcept {
    return gloop_thread_check_cancelled() == GLOOP_ECANCELED;
  }
  /** \brief A descriptor that becomes readable when stop_requested() turns
   * true, for jobs that block in poll(): gloop_thread_cancel_fd(). Owned by
   * the library. \throws gloop::error (GLOOP_EMFILE, GLOOP_ENOMEM). */
  int fd() const { return check(gloop_thread_cancel_fd()); }
};

/** \brief Runs \p f on a worker of the run's thread pool and returns its
 * result, as gloop_to_thread() (Trio's to_thread.run_sync). \p f is called
 * as f(stop_token) if it takes one, else as f(). An exception thrown by \p f
 * is carried back and rethrown in the task. If the task is cancelled while
 * it waits, it keeps waiting until \p f returns (f sees stop_requested()
 * and may return early); then \p f's exception, if any, is rethrown, else
 * gloop::error with GLOOP_ECANCELED is thrown and the result is dropped.
 * \throws gloop::error (GLOOP_ECANCELED, GLOOP_ENOMEM, GLOOP_ENOTTASK). */
template <class F>
auto to_thread(F f) {
  constexpr bool takes_token = std::is_invocable_v<F &, stop_token>;
  using R = std::conditional_t<takes_token, std::invoke_result<F &, stop_token>,
                               std::invoke_result<F &>>;
  using result_t = typename R::type;
  struct job {
    F fn;
    std::optional<std::conditional_t<std::is_void_v<result_t>, char, result_t>> value;
    std::exception_ptr failure;
  } j{std::move(f), std::nullopt, nullptr};
  auto body = [](void *arg) -> void * {
    auto *jp = static_cast<job *>(arg);
    try {
      if constexpr (std::is_void_v<result_t>) {
        if constexpr (takes_token) jp->fn(stop_token{}); else jp->fn();
        jp->value.emplace('\0');
      } else if constexpr (takes_token) {
        jp->value.emplace(jp->fn(stop_token{}));
      } else {
        jp->value.emplace(jp->fn());
      }
    } catch (...) {
      jp->failure = std::current_exception();
    }
    return nullptr;
  };
  int rc = gloop_to_thread(+body, &j, 0, nullptr);
  if (j.failure) std::rethrow_exception(j.failure);
  check(rc);
  if constexpr (!std::is_void_v<result_t>) return std::move(*j.value);
}

}  // namespace gloop

#endif /* GUESTLOOP_HPP */
