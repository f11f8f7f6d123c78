/*
 * The peers: Boost.Context and Boost.Fiber doing what tests/bench-switch.c
 * and tests/bench-pairs.c time for libcoro, so that tests/bench.sh can set
 * libcoro's figures beside them, run by run. Built by 'make bench' only when
 * configure found a C++ compiler, Boost.Context (HAVE_BOOST_CONTEXT) and, for
 * the Boost.Fiber figures, Boost.Fiber (BENCH_BOOST_FIBER).
 *
 * Usage: bench-boost RUNS TOTAL P[,P...]
 * Prints "boost VERSION", then "KEY NS" records, each the median of RUNS
 * runs, in nanoseconds per operation:
 *   jump_fcontext   jump_fcontext() into a context that jumps straight back,
 *                   a value each way, checked: a round trip, two jumps
 *   fiber_create    boost::context::fiber with a fixedsize_stack of 64 KiB:
 *                   made, resumed, run to its end (which frees its stack)
 *   fiber_yield     boost::this_fiber::yield() between two fibers: per yield
 *   fiber_mutex     two fibers passing a fibers::mutex back and forth: per
 *                   hand-off (bench-sync.c's mutex_handoff), checked: the
 *                   mutex changes hands on every iteration
 *   fiber_mutex_uncontended
 *                   fibers::mutex lock + unlock in one fiber (bench-sync.c's
 *                   mutex_uncontended)
 *   fiber_cond      a one-slot mailbox, fibers::mutex + condition_variable:
 *                   per message (bench-sync.c's cond)
 *   fiber_chan P M  P producer/consumer fiber pairs joined by
 *                   unbuffered_channel<uint64_t>, M messages a pair (M =
 *                   max(10, TOTAL/P)): per message
 * The timed runs take about 0.1 s each, except fiber_chan, which sends TOTAL
 * messages per run after one untimed warm-up. Every fiber of Boost.Fiber
 * gets a fixedsize_stack of 16 KiB, so that 20,000 of them fit anywhere.
 * Exit 1 when a call fails (a Boost exception) or a message is lost.
 */
#include "config.h"

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <utility>
#include <vector>

#include <boost/context/detail/fcontext.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <boost/version.hpp>
#if BENCH_BOOST_FIBER
#include <boost/fiber/all.hpp>
#endif

#include "bench.h"

namespace {

namespace bctx = boost::context;
namespace fcx = boost::context::detail;

const int64_t run_ns = 100000000; // each timed run, about (bench-switch.c's)
const std::size_t jump_stack = 64 * 1024;
const std::size_t fiber_stack = 64 * 1024;       // boost::context::fiber
const std::size_t fibers_fiber_stack = 16 * 1024; // boost::fibers::fiber

/* jump_fcontext: the context hands back whatever it is sent. */
fcx::fcontext_t jump_ctx;

void
jump_entry(fcx::transfer_t t)
{
    for (;;)
        t = fcx::jump_fcontext(t.fctx, t.data);
}

void
jump_body(uint64_t n, void *)
{
    fcx::fcontext_t ctx = jump_ctx;

    for (uint64_t i = 1; i <= n; i++) {
        void *v = reinterpret_cast<void *>(static_cast<uintptr_t>(i));
        fcx::transfer_t t = fcx::jump_fcontext(ctx, v);

        if (t.data != v)
            bench_die("jump_fcontext: the round trip went wrong");
        ctx = t.fctx;
    }
    jump_ctx = ctx;
}

/* boost::context::fiber: made, run to its end, freed. */
uint64_t fibers_run;

void
fiber_body(uint64_t n, void *)
{
    uint64_t before = fibers_run;

    for (uint64_t i = 0; i < n; i++) {
        bctx::fiber f{std::allocator_arg, bctx::fixedsize_stack(fiber_stack),
                      [](bctx::fiber &&caller) {
                          fibers_run++;
                          return std::move(caller);
                      }};

        f = std::move(f).resume();
        if (f)
            bench_die("boost::context::fiber: did not run to its end");
    }
    if (fibers_run - before != n)
        bench_die("boost::context::fiber: %" PRIu64 " of %" PRIu64 " fibers ran",
                  fibers_run - before, n);
}

#if BENCH_BOOST_FIBER
namespace bf = boost::fibers;

bf::fixedsize_stack
small_stack()
{
    return bf::fixedsize_stack(fibers_fiber_stack);
}

/* Two fibers taking turns: n yields in all. */
void
yield_body(uint64_t n, void *)
{
    uint64_t counts[2] = {(n + 1) / 2, n / 2}, done[2] = {0, 0};
    auto yielder = [&](int k) {
        for (uint64_t i = 0; i < counts[k]; i++) {
            boost::this_fiber::yield();
            done[k]++;
        }
    };
    bf::fiber a{std::allocator_arg, small_stack(), yielder, 0};
    bf::fiber b{std::allocator_arg, small_stack(), yielder, 1};

    a.join();
    b.join();
    if (done[0] != counts[0] || done[1] != counts[1])
        bench_die("this_fiber::yield: the fibers did not finish");
}

/* Two fibers passing a boost::fibers::mutex back and forth, as
 * bench-sync.c's mutex_handoff does: n hand-offs in all.
 *
 * Boost's unlock does not hand the mutex to its first waiter: it wakes the
 * waiter and leaves the mutex free, so the unlocking fiber's next lock() takes
 * it straight back. Written as mutex_handoff is (unlock, lock), the loop
 * passes the mutex twice in all and times an uncontended lock + unlock. Here
 * each fiber yields after its unlock, which is what makes Boost.Fiber's mutex
 * change hands: the check below fails otherwise. */
void
mutex_body(uint64_t n, void *)
{
    bf::mutex m;
    uint64_t shared = 0, passes = 0, counts[2] = {(n + 1) / 2, n / 2};
    int last = -1;
    auto passer = [&](int k) {
        m.lock();
        boost::this_fiber::yield(); // the first holder lets the other start and wait
        for (uint64_t i = 0; i < counts[k]; i++) {
            passes += last != k;
            last = k;
            shared++;
            m.unlock();
            boost::this_fiber::yield();
            m.lock();
        }
        m.unlock();
    };
    bf::fiber a{std::allocator_arg, small_stack(), passer, 0};
    bf::fiber b{std::allocator_arg, small_stack(), passer, 1};

    a.join();
    b.join();
    if (shared != n)
        bench_die("fibers::mutex: %" PRIu64 " of %" PRIu64 " hand-offs", shared, n);
    if (passes + 1 < n)
        bench_die("fibers::mutex: it changed hands %" PRIu64 " times in %" PRIu64 " iterations",
                  passes, n);
}

/* lock + unlock of a boost::fibers::mutex nobody else wants, in one fiber. */
void
mutex_uncontended_body(uint64_t n, void *)
{
    bf::mutex m;
    uint64_t shared = 0;
    bf::fiber a{std::allocator_arg, small_stack(), [&] {
                    for (uint64_t i = 0; i < n; i++) {
                        m.lock();
                        shared++;
                        m.unlock();
                    }
                }};

    a.join();
    if (shared != n)
        bench_die("fibers::mutex: %" PRIu64 " of %" PRIu64 " increments", shared, n);
}

/* A producer and a consumer of a one-slot mailbox, a mutex and one
 * condition_variable, as bench-sync.c's cond: per message. */
void
cond_body(uint64_t n, void *)
{
    bf::mutex m;
    bf::condition_variable c;
    bool full = false;
    uint64_t sum = 0;
    bf::fiber prod{std::allocator_arg, small_stack(), [&] {
                       for (uint64_t i = 1; i <= n; i++) {
                           std::unique_lock<bf::mutex> lk(m);
                           c.wait(lk, [&] { return !full; });
                           sum += i;
                           full = true;
                           c.notify_one();
                       }
                   }};
    bf::fiber cons{std::allocator_arg, small_stack(), [&] {
                       for (uint64_t i = 1; i <= n; i++) {
                           std::unique_lock<bf::mutex> lk(m);
                           c.wait(lk, [&] { return full; });
                           full = false;
                           c.notify_one();
                       }
                   }};

    prod.join();
    cons.join();
    if (sum != n * (n + 1) / 2 || full)
        bench_die("fibers::condition_variable: messages lost");
}

/* P pairs: each producer sends 1..m, then closes; each consumer sums. */
struct pair {
    bf::unbuffered_channel<uint64_t> chan;
    uint64_t received = 0, sum = 0;
    bool push_failed = false;
};

/* Nanoseconds per message of one run. */
double
chan_run(uint64_t np, uint64_t m)
{
    std::vector<std::unique_ptr<pair>> pairs;
    std::vector<bf::fiber> fibers;
    uint64_t want = m % 2 == 0 ? (m / 2) * (m + 1) : m * ((m + 1) / 2), bad = 0;

    pairs.reserve(np);
    fibers.reserve(2 * np);
    for (uint64_t i = 0; i < np; i++) {
        pairs.push_back(std::make_unique<pair>());
        pair *p = pairs.back().get();

        fibers.emplace_back(std::allocator_arg, small_stack(), [p, m] {
            for (uint64_t k = 1; k <= m; k++)
                if (p->chan.push(k) != bf::channel_op_status::success) {
                    p->push_failed = true;
                    break;
                }
            p->chan.close();
        });
        fibers.emplace_back(std::allocator_arg, small_stack(), [p] {
            uint64_t k;

            while (p->chan.pop(k) == bf::channel_op_status::success) {
                p->received++;
                p->sum += k;
            }
        });
    }
    /* The fibers start when this one blocks: in the first join(). */
    int64_t t0 = bench_now();
    for (bf::fiber &f : fibers)
        f.join();
    int64_t ns = bench_now() - t0;
    for (uint64_t i = 0; i < np; i++) {
        const pair &p = *pairs[i];

        if (p.push_failed || p.received != m || p.sum != want) {
            if (bad++ < 3)
                std::fprintf(stderr,
                             "%s: unbuffered_channel P=%" PRIu64 ", pair %" PRIu64 ": %" PRIu64
                             " of %" PRIu64 " messages, sum %" PRIu64 " (want %" PRIu64 ")%s\n",
                             bench_name, np, i, p.received, m, p.sum, want,
                             p.push_failed ? "; push failed" : "");
        }
    }
    if (bad)
        bench_die("unbuffered_channel: %" PRIu64 " of %" PRIu64 " pairs lost messages", bad, np);
    return static_cast<double>(ns) / static_cast<double>(np * m);
}
#endif

struct measure {
    const char *key;
    bench_body *body;
    uint64_t n;
    std::vector<double> ns;
};

int
run(int argc, char **argv)
{
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s RUNS TOTAL P[,P...]\n", argv[0]);
        return BENCH_USAGE;
    }
    std::size_t runs = bench_arg(argv[1], 1), nps;
    uint64_t total = bench_arg(argv[2], 1);
    uint64_t *ps = bench_list(argv[3], 1, &nps);
    std::vector<measure> m = {
        {"jump_fcontext", jump_body, 0, {}},
        {"fiber_create", fiber_body, 0, {}},
#if BENCH_BOOST_FIBER
        {"fiber_yield", yield_body, 0, {}},
        {"fiber_mutex", mutex_body, 0, {}},
        {"fiber_mutex_uncontended", mutex_uncontended_body, 0, {}},
        {"fiber_cond", cond_body, 0, {}},
#endif
    };
    std::vector<char> stack(jump_stack);

    jump_ctx = fcx::make_fcontext(stack.data() + stack.size(), stack.size(), jump_entry);
    jump_ctx = fcx::jump_fcontext(jump_ctx, nullptr).fctx; /* now in its loop */
    for (measure &k : m) {
        k.n = bench_calibrate(k.body, nullptr, run_ns); /* also warms up */
        k.ns.resize(runs);
    }
    for (std::size_t r = 0; r < runs; r++)
        for (measure &k : m)
            k.ns[r] = bench_ns_per_op(k.body, nullptr, k.n);

    std::printf("boost %d.%d.%d\n", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
                BOOST_VERSION % 100);
    for (measure &k : m)
        std::printf("%s %.2f\n", k.key, bench_median(k.ns.data(), runs));
    std::fflush(stdout);
#if BENCH_BOOST_FIBER
    std::vector<double> ns(runs);
    for (std::size_t i = 0; i < nps; i++) {
        uint64_t np = ps[i], msgs = total / np > 10 ? total / np : 10;

        (void)chan_run(np, msgs); /* warm-up: the heap then has every stack */
        for (std::size_t r = 0; r < runs; r++)
            ns[r] = chan_run(np, msgs);
        std::printf("fiber_chan %" PRIu64 " %" PRIu64 " %.2f\n", np, msgs,
                    bench_median(ns.data(), runs));
        std::fflush(stdout);
    }
#else
    (void)total;
    (void)nps;
#endif
    std::free(ps);
    if (std::ferror(stdout) || std::fflush(stdout) == EOF)
        bench_fail("writing the output");
    return BENCH_OK;
}

} // namespace

int
main(int argc, char **argv)
{
    bench_name = "bench-boost";
    try {
        return run(argc, argv);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s: %s\n", bench_name, e.what());
        return BENCH_FAIL;
    }
}
