/* test-list.h - the one list of core test cases.
 *
 * One GLOOP_TEST(name) line per case, each at the start of its line: the
 * runner includes this file to build its table, and tests/CMakeLists.txt reads
 * the same lines to register each case as the ctest test core.<name>. A case
 * is defined with TEST_CASE(name) in one of the test_*.c files.
 */

/* test_run.c */
GLOOP_TEST(run_trivial_success)
GLOOP_TEST(run_trivial_not_threadsafe)
GLOOP_TEST(run_error_outcome)
GLOOP_TEST(run_standalone)
GLOOP_TEST(run_standalone_threads)
GLOOP_TEST(run_start_usable)
GLOOP_TEST(api_options_version)

/* test_stack_cache.c */
GLOOP_TEST(stack_cache_reuse)
GLOOP_TEST(stack_cache_bound)
GLOOP_TEST(stack_cache_two_threads)
GLOOP_TEST(stack_guard_mappings)

/* test_timer_spin.c */
GLOOP_TEST(timer_spin_never_early)
GLOOP_TEST(timer_spin_learns_lead)
GLOOP_TEST(timer_spin_off)
GLOOP_TEST(timer_spin_options)
GLOOP_TEST(timer_spin_short_deadline)

/* test_sched.c */
GLOOP_TEST(sched_batch_fifo)
GLOOP_TEST(sched_wake_later_batch)
GLOOP_TEST(sched_handoff_guest)
GLOOP_TEST(sched_handoff_standalone)
GLOOP_TEST(sched_tick_budget)

/* test_time.c */
GLOOP_TEST(time_sleep_order)
GLOOP_TEST(time_timers)
GLOOP_TEST(time_mock_autojump)
GLOOP_TEST(time_mock_manual)
GLOOP_TEST(time_idle_no_polling)
GLOOP_TEST(time_host_event_wake)
GLOOP_TEST(time_host_deadline_earlier)
GLOOP_TEST(time_host_deadline_later)

/* test_cancel.c */
GLOOP_TEST(cancel_scope_wakes)
GLOOP_TEST(cancel_caught_flag)
GLOOP_TEST(cancel_shield)
GLOOP_TEST(cancel_move_on_fail_after)
GLOOP_TEST(cancel_nested)
GLOOP_TEST(cancel_run)
GLOOP_TEST(cancel_cached_shield_close)
GLOOP_TEST(cancel_cached_shield_drop)
GLOOP_TEST(cancel_cached_scope_of_ready_task)
GLOOP_TEST(cancel_cached_ready_task)
GLOOP_TEST(cancel_cached_walks_once)

/* test_nursery.c */
GLOOP_TEST(nursery_waits_all)
GLOOP_TEST(nursery_first_failure)
GLOOP_TEST(nursery_cancel)
GLOOP_TEST(nursery_host_start)
GLOOP_TEST(nursery_start_while_closing)
GLOOP_TEST(nursery_start_after_close)
GLOOP_TEST(nursery_bad_input)
GLOOP_TEST(nursery_stack_size_range)
GLOOP_TEST(nursery_left_open)

/* test_sync.c */
GLOOP_TEST(sync_event)
GLOOP_TEST(sync_semaphore)
GLOOP_TEST(sync_semaphore_host_release)
GLOOP_TEST(sync_lock)
GLOOP_TEST(sync_free_with_waiters)

/* test_channel.c */
GLOOP_TEST(chan_buffered)
GLOOP_TEST(chan_close)
GLOOP_TEST(chan_rendezvous)

/* test_io.c */
GLOOP_TEST(io_pipe_wakes_guest)
GLOOP_TEST(io_bulk_pipe)
GLOOP_TEST(io_wait_errors)
GLOOP_TEST(io_tcp)

/* test_threads.c */
GLOOP_TEST(token_post)
GLOOP_TEST(token_call)
GLOOP_TEST(token_start_system_task)
GLOOP_TEST(thread_pool)
GLOOP_TEST(thread_cancel)

/* test_job_cancel.c */
GLOOP_TEST(job_check_cancelled_standalone)
GLOOP_TEST(job_check_cancelled_guest)
GLOOP_TEST(job_cancel_fd_standalone)
GLOOP_TEST(job_cancel_fd_guest)
GLOOP_TEST(job_cancelled_with_the_run)
GLOOP_TEST(job_abandoned_is_told)
GLOOP_TEST(job_told_at_abandon)
GLOOP_TEST(job_calls_outside_a_job)

/* test_signal.c */
GLOOP_TEST(sigint_cancels_run)
GLOOP_TEST(sigint_second_signal)
GLOOP_TEST(sigint_after_failure_reported)

/* test_lifecycle.c */
GLOOP_TEST(abandon_run)
GLOOP_TEST(abandon_before_first_tick)
GLOOP_TEST(objects_after_run)
GLOOP_TEST(errors_table)
GLOOP_TEST(errors_outside_table)

/* test_badinput.c */
GLOOP_TEST(bad_start_args)
GLOOP_TEST(bad_durations)
GLOOP_TEST(bad_null_args)
GLOOP_TEST(bad_not_in_task)
GLOOP_TEST(bad_lock_release_outside_task)
GLOOP_TEST(bad_objects_without_run)
GLOOP_TEST(bad_second_run)
GLOOP_TEST(bad_wrong_thread)

/* test_faults.c */
GLOOP_TEST(faults_guest_sweep)
GLOOP_TEST(faults_standalone_sweep)
GLOOP_TEST(faults_persistent)

/* test_overflow.c */
GLOOP_TEST(stack_deep_ok)
GLOOP_TEST(stack_overflow_death)
GLOOP_TEST(stack_overflow_small_frames)
GLOOP_TEST(stack_overflow_8k_frames)
GLOOP_TEST(stack_overflow_64k_frames)
GLOOP_TEST(stack_overflow_own_mapping)
GLOOP_TEST(stack_overflow_after_recovered_fault)
GLOOP_TEST(stack_cache_guard_kept)

/* test_fd_waits.c */
GLOOP_TEST(io_pingpong_standalone)
GLOOP_TEST(io_pingpong_guest)
GLOOP_TEST(io_many_waiters_standalone)
GLOOP_TEST(io_many_waiters_guest)
GLOOP_TEST(io_pipe_eof_standalone)
GLOOP_TEST(io_pipe_eof_guest)
GLOOP_TEST(io_read_deadline_standalone)
GLOOP_TEST(io_read_deadline_guest)
GLOOP_TEST(io_notify_closing_standalone)
GLOOP_TEST(io_notify_closing_guest)
GLOOP_TEST(io_busy_wait_standalone)
GLOOP_TEST(io_busy_wait_guest)

/* test_pool_token.c */
GLOOP_TEST(thread_offload_keeps_ticking_standalone)
GLOOP_TEST(thread_offload_keeps_ticking_guest)
GLOOP_TEST(thread_token_call_from_worker_standalone)
GLOOP_TEST(thread_token_call_from_worker_guest)
GLOOP_TEST(thread_post_burst_one_wake_standalone)
GLOOP_TEST(thread_post_burst_one_wake_guest)
GLOOP_TEST(thread_post_after_end_standalone)
GLOOP_TEST(thread_post_after_end_guest)
GLOOP_TEST(token_burst_queues_once_standalone)
GLOOP_TEST(token_burst_queues_once_guest)
GLOOP_TEST(token_shared_order_per_thread_standalone)
GLOOP_TEST(token_shared_order_per_thread_guest)
GLOOP_TEST(token_close_takes_back_standalone)
GLOOP_TEST(token_close_takes_back_guest)
GLOOP_TEST(token_segment_out_of_memory_standalone)
GLOOP_TEST(token_segment_out_of_memory_guest)

/* test_edges.c */
GLOOP_TEST(edge_mock_clock_below_zero_standalone)
GLOOP_TEST(edge_mock_clock_below_zero_guest)
GLOOP_TEST(edge_mock_clock_range)
GLOOP_TEST(edge_negative_infinite_deadline_standalone)
GLOOP_TEST(edge_negative_infinite_deadline_guest)
GLOOP_TEST(edge_thread_idle_timeout_standalone)
GLOOP_TEST(edge_thread_idle_timeout_guest)
GLOOP_TEST(edge_worker_jobs_run_in_parallel)
GLOOP_TEST(edge_semaphore_at_uint_max)

/* test_edge_values.c */
GLOOP_TEST(edge_values_sleep)
GLOOP_TEST(edge_values_scopes)
GLOOP_TEST(edge_values_timer)
GLOOP_TEST(edge_values_mock_clock)
GLOOP_TEST(edge_values_run_options)
GLOOP_TEST(edge_values_counts)

/* test_boundaries.c */
GLOOP_TEST(boundary_end_sequence_standalone)
GLOOP_TEST(boundary_end_sequence_guest)
GLOOP_TEST(boundary_start_at_end_standalone)
GLOOP_TEST(boundary_start_at_end_guest)
GLOOP_TEST(boundary_starts_racing_the_end)
GLOOP_TEST(boundary_abandon_with_work_queued)
GLOOP_TEST(boundary_abandon_with_jobs_in_flight)
GLOOP_TEST(boundary_abandon_with_jobs_in_flight_cached)
GLOOP_TEST(boundary_epoll_failure_standalone)
GLOOP_TEST(boundary_epoll_failure_guest)

/* test_host.c */
GLOOP_TEST(host_policy_run_done)
GLOOP_TEST(host_policy_quit_cancels)
GLOOP_TEST(host_policy_quit_from_task)
GLOOP_TEST(host_policy_done_starts_next)
GLOOP_TEST(host_policy_ending_abandons)
GLOOP_TEST(host_policy_quit_then_ending)
GLOOP_TEST(host_policy_direct_abandon)
GLOOP_TEST(host_policy_misuse)
GLOOP_TEST(host_policy_two_threads)

/* test_handles.c */
GLOOP_TEST(handles_scope_ref_standalone)
GLOOP_TEST(handles_scope_ref_guest)
GLOOP_TEST(handles_task_ref_standalone)
GLOOP_TEST(handles_task_ref_guest)
GLOOP_TEST(handles_task_ref_main)
GLOOP_TEST(handles_event_clear_standalone)
GLOOP_TEST(handles_event_clear_guest)
GLOOP_TEST(handles_event_clear_after_wake)
GLOOP_TEST(handles_token_refs_standalone)
GLOOP_TEST(handles_token_refs_guest)
GLOOP_TEST(handles_token_ref_abandon)
GLOOP_TEST(handles_edges)
GLOOP_TEST(handles_nursery_ref)
GLOOP_TEST(handles_out_of_memory)
