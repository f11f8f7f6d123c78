/*
 * The sync primitives' and select's workloads (bench-sync.c), timed by
 * bench-switch. Each is a bench_body: n operations; ctx is unused.
 *   mutex_uncontended   coro_mutex_lock() + coro_mutex_unlock() in a task,
 *                       nobody else wanting it
 *   mutex_handoff       two tasks passing a mutex back and forth: per
 *                       hand-off, an unlock to the waiting task, a lock that
 *                       waits, a switch (Boost.Fiber: the same with
 *                       boost::fibers::mutex)
 *   cond                a producer and a consumer of a one-slot mailbox, a
 *                       mutex and one condition variable: per message
 *   wg_done             coro_wg_done() on a wait group nobody waits on
 *   recv1               send + coro_chan_recv() on one buffered channel
 *   select4             send + coro_select() of 4 ready receives
 */
#ifndef CORO_BENCH_SYNC_H
#define CORO_BENCH_SYNC_H

#include <stdint.h>

void bench_mutex_uncontended_body(uint64_t n, void *ctx);
void bench_mutex_handoff_body(uint64_t n, void *ctx);
void bench_cond_body(uint64_t n, void *ctx);
void bench_wg_done_body(uint64_t n, void *ctx);
void bench_recv1_body(uint64_t n, void *ctx);
void bench_select4_body(uint64_t n, void *ctx);

#endif /* CORO_BENCH_SYNC_H */
