#!/bin/sh
# tests/bench.sh BUILDDIR SRCDIR: libcoro's benchmarks, run by 'make bench'
# after it has built the bench programs. Prints one table on stdout (progress
# on stderr) and writes, in BUILDDIR, bench-results.txt (the programs' raw
# records), bench-pairs.dat and, with gnuplot, bench-pairs.png; and the
# outputs of callgrind and strace, bench-callgrind.N.out and bench-strace.N.out.
#
# Environment (the Makefile passes them): BENCH_RUNS, runs per figure (the
# median is reported; default 5); BENCH_TARGETS, the programs built (no
# tests/bench-switch-fast where there is no fast switch, no tests/bench-boost
# without Boost.Context); BENCH_BOOST_CONTEXT and BENCH_BOOST_FIBER, "yes" or
# why configure left that peer out; CC, CFLAGS, CXX and CXXFLAGS, to describe
# the compilers; GNUPLOT, the gnuplot to draw with (empty: no plot); LIBTOOL,
# VALGRIND and STRACE, to count instructions and system calls (empty: that
# row is skipped). BENCH_QUICK=1 runs tiny workloads, only to try this
# script: its figures mean nothing.
#
# Every program runs under 'taskset -c 0' when there is a taskset (coro-demo
# --procs 2 under 'taskset -c 0,1': its two workers need two CPUs). The
# programs whose figures are compared (bench-switch-*, bench-boost,
# bench-pairs) run once per run, taking turns, so that a ratio can be taken
# run by run between figures measured seconds apart (their records are
# tagged NAME@RUN in bench-results.txt).
#
# The programs measure; nothing here judges a time. The table marks each
# figure against the target the issue gave, and the exit status is 1 only
# when a program fails (a call failed or a message was lost).
set -u

builddir=$1
srcdir=$2
runs=${BENCH_RUNS:-5}
cd "$builddir" || exit 1
start=$(date +%s)
raw=bench-results.txt
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' 0
trap 'exit 1' HUP INT TERM

# The workloads. Sizes are part of the table's labels.
mem_small=100000 mem_small_runs=3
mem_large=1000000 mem_large_runs=1 # about 2 minutes here: one fresh stack each
chan_total=2000000 chan_pairs=1,10,100,1000,10000,100000 chan_caps=0,16
boost_pairs=1,100,10000 # Boost.Fiber's channels, same chan_total
thread_total=20000 thread_pairs=1,10,100,1000
demo_args="--pairs 10000 --messages 100 --style channel"
count_n1=100000 count_n2=200000 # callgrind: round trips; strace: coroutines
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    runs=1 mem_small=1000 mem_small_runs=1 mem_large=10000
    chan_total=20000 chan_pairs=1,10,100,1000,10000 thread_total=2000 thread_pairs=1,10
    demo_args="--pairs 100 --messages 100 --style channel"
    count_n1=10000 count_n2=20000
fi

note() {
    echo "bench: $*" >&2
}

# Every program on one CPU, when taskset can do it.
pin='' pin2='' pinned="not pinned (no taskset)"
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true 2>/dev/null; then
    pin="taskset -c 0"
    pinned="taskset -c 0: every program on CPU 0"
    if taskset -c 0,1 true 2>/dev/null; then
        pin2="taskset -c 0,1"
        pinned="$pinned, but coro-demo --procs 2 on CPUs 0 and 1 (taskset -c 0,1)"
    fi
fi

has_target() {
    case " ${BENCH_TARGETS:-tests/bench-switch-fast} " in
    *" $1 "*) return 0 ;;
    esac
    return 1
}

# run TAG PROGRAM ARGS...: run a bench program, pinned, its records prefixed with TAG.
run() {
    tag=$1
    shift
    note "$pin $*"
    t0=$(date +%s)
    # shellcheck disable=SC2086 # word splitting of pin is wanted
    $pin "$@" >"$tmp/out"
    rc=$?
    if [ $rc -ne 0 ]; then
        note "FAILED: $* (exit status $rc)"
        exit 1
    fi
    sed "s/^/$tag /" "$tmp/out" >>"$raw"
    note "  ... $(($(date +%s) - t0)) s"
}

: >"$raw" || exit 1
echo "runs $runs" >>"$raw"

## The machine
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)
[ -n "$cpu" ] || cpu=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
libc=$(getconf GNU_LIBC_VERSION 2>/dev/null || echo 'libc ?')
cc_version=$(${CC:-cc} --version 2>/dev/null | head -n 1)
cxx_version=$(${CXX:-c++} --version 2>/dev/null | head -n 1)
[ -n "$cxx_version" ] || cxx_version="none (${CXX:-c++} --version failed)"
boost_context=${BENCH_BOOST_CONTEXT:-not configured}
boost_fiber=${BENCH_BOOST_FIBER:-not configured}
has_target tests/bench-boost || [ "$boost_context" != yes ] || boost_context="tests/bench-boost not built"
[ "$boost_context" = yes ] || [ "$boost_fiber" != yes ] || boost_fiber=$boost_context
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' config.h 2>/dev/null)
commit=
[ -e "$srcdir/.git" ] && commit=$(git -C "$srcdir" describe --always --dirty 2>/dev/null)
{
    echo "info cpu ${cpu:-unknown}, $ncpu online CPUs"
    echo "info date $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "info kernel $(uname -srm), $libc"
    echo "info compiler ${cc_version:-${CC:-cc}}; CFLAGS ${CFLAGS:-}"
    echo "info cxx $cxx_version; CXXFLAGS ${CXXFLAGS:-}"
    echo "info pinned $pinned"
    echo "info boost_context $boost_context"
    echo "info boost_fiber $boost_fiber"
    echo "info source libcoro ${version:-?}${commit:+ (git $commit)}, $srcdir"
    echo "info load $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo '?')"
} >>"$raw"

## 1, 2, 4, 5, 7: switching, a coroutine's life, channels, threads and the
## peers. One process per program and run, the programs taking turns, so
## that the ratios of tables 5 and 7 compare figures of the same run,
## measured close in time.
r=1
while [ $r -le "$runs" ]; do
    note "run $r of $runs"
    run "ucontext@$r" ./tests/bench-switch-ucontext 1
    has_target tests/bench-switch-fast && run "fast@$r" ./tests/bench-switch-fast 1
    has_target tests/bench-switch-nolist && run "nolist@$r" ./tests/bench-switch-nolist 1
    has_target tests/bench-boost && run "boost@$r" ./tests/bench-boost 1 $chan_total $boost_pairs
    run "pairs@$r" ./tests/bench-pairs chan 1 $chan_total $chan_pairs $chan_caps
    run "pairs@$r" ./tests/bench-pairs threads 1 $thread_total $thread_pairs
    r=$((r + 1))
done

## 3: memory per suspended coroutine (one measurement per process)
i=0
while [ $i -lt $mem_small_runs ]; do
    run mem ./tests/bench-memory $mem_small
    i=$((i + 1))
done
i=0
while [ $i -lt $mem_large_runs ]; do
    run mem ./tests/bench-memory $mem_large
    i=$((i + 1))
done

## 6: coro-demo pairs in one process and in two, alternately
i=0
while [ $i -lt "$runs" ]; do
    for procs in 1 2; do
        p=$pin
        [ $procs = 1 ] || p=$pin2
        note "$p coro-demo pairs $demo_args --procs $procs"
        # shellcheck disable=SC2086 # word splitting of p and demo_args is wanted
        $p ./demo/coro-demo pairs $demo_args --procs $procs >"$tmp/demo" 2>&1
        rc=$?
        if [ $rc -ne 0 ]; then
            cat "$tmp/demo" >&2
            note "FAILED: coro-demo pairs $demo_args --procs $procs (exit status $rc)"
            exit 1
        fi
        rate=$(sed -n 's/^ *messages\/s: *\([0-9][0-9]*\).*/\1/p' "$tmp/demo")
        if [ -z "$rate" ]; then
            cat "$tmp/demo" >&2
            note "FAILED: no messages/s in the output of coro-demo pairs"
            exit 1
        fi
        echo "procs@$((i + 1)) $procs $rate" >>"$raw"
    done
    i=$((i + 1))
done

## 8: counted, not timed, through the shared library: instructions per round
## trip (callgrind) and system calls per coroutine (strace), each at two N.
## Their outputs stay in the build directory (bench-callgrind.N.out,
## bench-strace.N.out), so that the recorded commands can be rerun as they are.
libtool=${LIBTOOL:-./libtool}
# counted TOOL COMMAND...: run one, recorded as "TOOL_cmd COMMAND"; 1 when it failed.
counted() {
    tool=$1
    shift
    echo "${tool}_cmd $pin $*" >>"$raw"
    note "$pin $*"
    # shellcheck disable=SC2086 # word splitting of pin is wanted
    $pin "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -ne 0 ] || ! grep -q '^count ' "$tmp/out"; then
        cat "$tmp/err" >&2
        note "$tool failed (exit status $rc): its row is not measured"
        echo "${tool}_skip not measured: $tool failed (exit status $rc)" >>"$raw"
        return 1
    fi
    return 0
}
# The program alone first: a failure there is a failure of the bench.
run count ./tests/bench-count roundtrip 1000
run count ./tests/bench-count life 1000
valgrind=${VALGRIND:-$(command -v valgrind 2>/dev/null)}
if [ -z "$valgrind" ]; then
    echo "cg_skip skipped: valgrind not found" >>"$raw"
else
    for n in $count_n1 $count_n2; do
        out=bench-callgrind.$n.out
        rm -f "$out"
        # shellcheck disable=SC2086 # word splitting of libtool is wanted
        counted cg $libtool --mode=execute "$valgrind" --tool=callgrind --callgrind-out-file=$out \
            tests/bench-count roundtrip $n || break
        insn=$(sed -n 's/^totals: *\([0-9][0-9]*\).*/\1/p' "$out")
        [ -n "$insn" ] || insn=$(sed -n 's/^summary: *\([0-9][0-9]*\).*/\1/p' "$out")
        [ -n "$insn" ] && echo "cg $n $insn" >>"$raw"
    done
fi
strace=${STRACE:-$(command -v strace 2>/dev/null)}
if [ -z "$strace" ]; then
    echo "st_skip skipped: strace not found" >>"$raw"
else
    for n in $count_n1 $count_n2; do
        out=bench-strace.$n.out
        rm -f "$out"
        # shellcheck disable=SC2086 # word splitting of libtool is wanted
        counted st $libtool --mode=execute "$strace" -f -c -o $out tests/bench-count life $n || break
        # "% time, seconds, usecs/call, calls, [errors,] syscall"
        awk -v n="$n" '$1 ~ /^[0-9.]+$/ && $NF != "total" { print "st", n, $NF, $4 }' "$out" >>"$raw"
    done
fi

## The table, the plot's data, the plot
{
    echo "demo $demo_args"
    echo "chan_total $chan_total"
    echo "wall $(($(date +%s) - start))"
    echo "info load_end $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo '?')"
} >>"$raw"
cat >"$tmp/table.awk" <<'EOF'
function group(x,    s, neg) {        # 1234567 -> 1,234,567
    s = sprintf("%.0f", x)
    neg = substr(s, 1, 1) == "-"
    if (neg) s = substr(s, 2)
    while (s ~ /[0-9][0-9][0-9][0-9]/)
        sub(/[0-9][0-9][0-9]([,]|$)/, ",&", s)
    return (neg ? "-" : "") s
}
function median(list,    n, v, i, j, t) {   # of a space-separated list
    n = split(list, v, " ")
    for (i = 2; i <= n; i++)                  # insertion sort, numeric
        for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) {
            t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
        }
    if (n == 0) return ""
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
# The verdict on "value <= limit" or "value >= limit": met, or missed and by
# how much ("8% over", "38% short", "3.4x over").
function at_most(v, limit) {
    if (v == "") return "not measured"
    if (v <= limit) return "met"
    return sprintf(v < 2 * limit ? "missed (%.0f%% over)" : "missed (%.1fx over)",
                   v < 2 * limit ? (v / limit - 1) * 100 : v / limit)
}
function at_least(v, limit) {
    if (v == "") return "not measured"
    if (v >= limit) return "met"
    return sprintf(2 * v > limit ? "missed (%.0f%% short)" : "missed (%.1fx short)",
                   2 * v > limit ? (1 - v / limit) * 100 : limit / v)
}
function out(line) {
    sub(/ +$/, "", line)
    print line
}
function row(label, value, target, verdict) {
    out(sprintf("   %-52s %14s   %-17s %s", label, value, target, verdict))
}
# Records of the programs run once per run are tagged TAG@RUN; put() keeps
# each figure by run, for medians and for ratios taken run by run.
function put(key, r, v) {
    V[key, r] = v; L[key] = L[key] " " v
    if (r > maxrun) maxrun = r
}
function med(key) { return (key in L) ? median(L[key]) : "" }
function rmed(a, b,    r, l) {               # median of the runs' a / b
    l = ""
    for (r = 1; r <= maxrun; r++)
        if (((a, r) in V) && ((b, r) in V) && V[b, r] > 0) l = l " " V[a, r] / V[b, r]
    return median(l)
}
function be7() { return ("fast:roundtrip" in L) ? "fast" : "ucontext" }
function ns(v) { return v == "" ? "-" : sprintf("%.1f", v) }
# A row of table 7: libcoro's figure a, the peer's b, their ratio run by run
# against "<= limit" (no target: limit ""); skip says why b was not measured.
function prow(label, x, y, r, t, v) {
    out(sprintf("   %-52s %9s %9s %7s   %-9s %s", label, x, y, r, t, v))
}
function cmp(label, a, b, limit, skip,    r, t, v) {
    r = rmed(a, b)
    t = limit != "" ? sprintf("<= %.1fx", limit) : ""
    if (!(a in L)) v = "not measured"
    else if (skip != "") v = skip
    else if (!(b in L)) v = "not measured"
    else v = limit != "" ? at_most(r, limit) : ""
    prow(label, ns(med(a)), ns(med(b)), r != "" ? sprintf("%.2fx", r) : "-", t, v)
}
$1 == "runs" { runs = $2 }
$1 == "info" { k = $2; $1 = $2 = ""; info[k] = substr($0, 3) }
$1 == "wall" { wall = $2 }
$1 == "demo" { $1 = ""; demo = substr($0, 2) }
$1 == "chan_total" { chan_total = $2 }
{ tag = $1; rn = 0 }
split($1, tg, "@") == 2 { tag = tg[1]; rn = tg[2] + 0 }
(tag == "ucontext" || tag == "fast") && $2 == "switch" { b = tag; $1 = $2 = ""; name[b] = substr($0, 3) }
(tag == "ucontext" || tag == "fast") && $2 != "switch" { put(tag ":" $2, rn, $3) }
tag == "nolist" && $2 != "switch" { put("nolist:" $2, rn, $3) }
tag == "boost" && $2 == "boost" { boost_version = $3 }
tag == "boost" && $2 == "fiber_chan" { put("fiber_chan:" $3, rn, $5) }
tag == "boost" && $2 != "boost" && $2 != "fiber_chan" { put("boost:" $2, rn, $3) }
$1 == "mem" {
    n = $3; mem_n[n] = 1
    mem_created[n] = $5; mem_err[n] = $13
    mem_rss[n] = mem_rss[n] " " $7; mem_pte[n] = mem_pte[n] " " $9
    mem_tot[n] = mem_tot[n] " " ($7 + $9); mem_ns[n] = mem_ns[n] " " $11; mem_k[n]++
    mem_maps[n] = mem_maps[n] " " $15; mem_max_maps = $17
}
tag == "pairs" && $2 == "switch" { $1 = $2 = ""; chan_switch = substr($0, 3) }
tag == "pairs" && $2 == "chan" {
    p = $3; chan_p[p] = 1; chan_m[p] = $5; put("chan:" p ":" $4, rn, $6)
    if ($4 == 0 && $6 > 0) put("chan_ns:" p, rn, 1e9 / $6)
}
tag == "pairs" && $2 == "threads" { p = $3; thr_p[p] = 1; thr_m[p] = $4; put("threads:" p, rn, $5) }
tag == "procs" { put("procs:" $2, rn, $3); procs_k[$2]++ }
$1 == "cg" { cg_n[++cg_k] = $2; cg_i[cg_k] = $3 }
$1 == "cg_cmd" { $1 = ""; cg_cmd[++cg_cmds] = substr($0, 2) }
$1 == "cg_skip" { $1 = ""; cg_skip = substr($0, 2) }
$1 == "st" { st_n[$2] = 1; st[$2, $3] = $4; st_name[$3] = 1 }
$1 == "st_cmd" { $1 = ""; st_cmd[++st_cmds] = substr($0, 2) }
$1 == "st_skip" { $1 = ""; st_skip = substr($0, 2) }
END {
    print "libcoro benchmarks (make bench)"
    printf "   CPU       %s\n", info["cpu"]
    printf "   date      %s\n", info["date"]
    printf "   kernel    %s\n", info["kernel"]
    printf "   compiler  %s\n", info["compiler"]
    printf "   C++       %s (%s)\n", info["cxx"], info["boost_context"] == "yes" ? "the Boost peers of table 7" : \
        "Boost peers skipped: " info["boost_context"]
    printf "   load      %s at the start, %s at the end (load average, 1/5/15 min)\n", info["load"], info["load_end"]
    printf "   library   %s; switch as configured: %s\n", info["source"], chan_switch
    printf "   pinned    %s\n", info["pinned"]
    printf "   figures   the median of %d run%s, unless the line says otherwise; in each run, each\n", runs, runs == 1 ? "" : "s"
    printf "             program of tables 1, 2, 4, 5 and 7 is one process, the programs taking turns\n"
    printf "\n   %-52s %14s   %-17s %s\n", "", "measured", "target", "result"

    print "1. Switch: coro_resume() + coro_yield() round trip; coro_sched_yield() between two tasks; ns"
    for (b = 1; b <= 2; b++) {
        be = b == 1 ? "ucontext" : "fast"
        if (!((be ":roundtrip") in L)) continue
        row("raw glibc swapcontext ping-pong (" be " program)", ns(med(be ":raw_swapcontext")), "", "")
    }
    be = ("fast:floor" in L) ? "fast" : "ucontext"
    if ((be ":floor") in L) {
        row("floor: callee-saved registers only (bench's asm)", ns(med(be ":floor")), "", "")
        row("floor + MXCSR and x87 control word (as the library)", ns(med(be ":floor_fp")), "", "")
    }
    # The ratios are medians of run-by-run ratios (see bench-switch.c).
    if ("ucontext:roundtrip" in L) {
        r = 1 / med("ucontext:raw_ratio")
        row("libcoro, " name["ucontext"] " backend", ns(med("ucontext:roundtrip")), "", "")
        row("  ... / raw swapcontext, run by run", sprintf("%.2fx", r), "<= 1.10x", at_most(r, 1.10))
    }
    if ("fast:roundtrip" in L) {
        r = med("fast:raw_ratio")
        row("libcoro, " name["fast"] " backend", ns(med("fast:roundtrip")), "in table 7", "")
        row("  ... times faster than raw swapcontext, run by run", sprintf("%.1fx", r), ">= 30x", at_least(r, 30))
    } else
        row("libcoro, fast backend", "-", "", "not built (no fast switch for this CPU)")
    for (b = 1; b <= 2; b++) {
        be = b == 1 ? "ucontext" : "fast"
        if (!((be ":sched_yield") in L)) continue
        row(name[be] " backend: task yield, 2 tasks", ns(med(be ":sched_yield")), be == be7() ? "in table 7" : "", "")
    }

    print "2. create + first resume + finish + destroy, default stack (0), ns"
    for (b = 1; b <= 2; b++) {
        be = b == 1 ? "ucontext" : "fast"
        if (!((be ":create_pooled") in L)) continue
        row(name[be] ", stack from the pool", ns(med(be ":create_pooled")), be == be7() ? "in table 7" : "", "")
    }
    if ("nolist:create_pooled" in L) {
        row("fast, without the list of live coroutines (gdb, dump)", ns(med("nolist:create_pooled")), "", "")
        d = ""
        for (r = 1; r <= maxrun; r++)
            if ((("fast:create_pooled", r) in V) && (("nolist:create_pooled", r) in V))
                d = d " " (V["fast:create_pooled", r] - V["nolist:create_pooled", r])
        d = median(d)
        row("  the list's cost per life, run by run", ns(d), "a few ns", d == "" ? "not measured" : d <= 5 ? "met" : "missed")
    }
    for (b = 1; b <= 2; b++) {
        be = b == 1 ? "ucontext" : "fast"
        if (!((be ":create_unpooled") in L)) continue
        row(name[be] ", no pool: mmap + guard + munmap each", ns(med(be ":create_unpooled")), "", "")
    }

    print "3. Resident memory per suspended coroutine, default stack, bytes (RSS + page tables)"
    nm = 0
    for (n in mem_n) ms[++nm] = n + 0
    for (i = 2; i <= nm; i++)
        for (j = i; j > 1 && ms[j - 1] > ms[j]; j--) { t = ms[j]; ms[j] = ms[j - 1]; ms[j - 1] = t }
    for (i = 1; i <= nm; i++) {
        n = ms[i]
        how = mem_k[n] == 1 ? "1 run" : "median of " mem_k[n]
        label = sprintf("%s live (%s): RSS %.0f + PTE %.0f", group(n), how, median(mem_rss[n]), median(mem_pte[n]))
        target = i == nm ? "<= 5120 (5 KiB)" : ""
        verdict = i == nm ? at_most(median(mem_tot[n]), 5120) : ""
        if (mem_err[n] != "-") {
            label = sprintf("%s wanted: only %s created (%s)", group(n), group(mem_created[n]), mem_err[n])
            verdict = i == nm ? "missed (could not create them all)" : ""
        }
        row(label, sprintf("%.0f", median(mem_tot[n])), target, verdict)
        row("  create + first resume, a fresh stack each (ns)", sprintf("%.0f", median(mem_ns[n])), "", "")
        row(sprintf("  memory mappings of the process (vm.max_map_count %s)", mem_max_maps),
            sprintf("%.0f", median(mem_maps[n])), "", "")
    }

    np = 0
    for (p in chan_p) ps[++np] = p + 0
    for (i = 2; i <= np; i++)
        for (j = i; j > 1 && ps[j - 1] > ps[j]; j--) { t = ps[j]; ps[j] = ps[j - 1]; ps[j - 1] = t }
    print "4. Channels: P producer/consumer task pairs on one scheduler, msg/s (" chan_switch ")"
    printf "   %8s %10s %16s %8s %16s   %-17s %s\n", "pairs", "msgs/pair", "unbuffered", "ns/msg", "capacity 16", "target", "result"
    for (i = 1; i <= np; i++) {
        p = ps[i]; v = med("chan:" p ":0"); target = verdict = ""
        if (p == 1 || p == 100) { target = ">= 25M"; verdict = at_least(v, 25e6) }
        if (p == 10000) { target = ">= 4M"; verdict = at_least(v, 4e6) }
        if (p == 100000) { target = "completes"; verdict = "met (every message checked)" }
        out(sprintf("   %8s %10s %16s %8s %16s   %-17s %s", group(p), group(chan_m[p]), group(v),
            ns(med("chan_ns:" p)), ("chan:" p ":16") in L ? group(med("chan:" p ":16")) : "-", target, verdict))
    }

    nt = 0
    for (p in thr_p) ts[++nt] = p + 0
    for (i = 2; i <= nt; i++)
        for (j = i; j > 1 && ts[j - 1] > ts[j]; j--) { t = ts[j]; ts[j] = ts[j - 1]; ts[j - 1] = t }
    print "5. OS threads: 2 per pair, one-slot mailbox (mutex + condition variable), msg/s"
    printf "   %8s %10s %16s %16s %8s   %-8s %s\n", "pairs", "msgs/pair", "threads", "coroutines", "ratio", "target", "result"
    for (i = 1; i <= nt; i++) {
        p = ts[i]; c = med("chan:" p ":0"); ratio = rmed("chan:" p ":0", "threads:" p)
        target = verdict = ""
        if (p == 1000) { target = ">= 50x"; verdict = at_least(ratio, 50) }
        out(sprintf("   %8s %10s %16s %16s %8s   %-8s %s", group(p), group(thr_m[p]), group(med("threads:" p)),
            c != "" ? group(c) : "-", ratio != "" ? sprintf("%.0fx", ratio) : "-", target, verdict))
    }
    printf "   (coroutines: the unbuffered figure of table 4; ratio: the median of the runs' ratios)\n"

    print "6. coro-demo pairs " demo ": one process against two"
    row("--procs 1 (median of " procs_k[1] "), msg/s", group(med("procs:1")), "", "")
    row("--procs 2 (median of " procs_k[2] "), msg/s", group(med("procs:2")), "", "")
    r = rmed("procs:2", "procs:1")
    row("--procs 2 / --procs 1, run by run", r != "" ? sprintf("%.2fx", r) : "-", ">= 1.7x", at_least(r, 1.7))

    be = be7()
    skc = info["boost_context"] == "yes" ? "" : "skipped: " info["boost_context"]
    skf = info["boost_fiber"] == "yes" ? "" : "skipped: " info["boost_fiber"]
    print "7. libcoro (" name[be] ") against Boost" (boost_version != "" ? " " boost_version : "") ", same run, ns; ratios run by run"
    prow("", "libcoro", "Boost", "ratio", "target", "result")
    cmp("resume + yield round trip / jump_fcontext round trip", be ":roundtrip", "boost:jump_fcontext", 1.0, skc)
    cmp("task yield, 2 tasks / jump_fcontext round trip", be ":sched_yield", "boost:jump_fcontext", 1.0, skc)
    cmp("  task yield / Boost.Fiber this_fiber::yield()", be ":sched_yield", "boost:fiber_yield", "", skf)
    cmp("create + run + destroy, pooled / context::fiber", be ":create_pooled", "boost:fiber_create", 0.6, skc)
    split("1 100 10000", cp, " ")
    for (i = 1; i <= 3; i++)
        cmp(sprintf("unbuffered channel, %s pair%s / jump_fcontext", group(cp[i]), cp[i] == 1 ? "" : "s"),
            "chan_ns:" cp[i], "boost:jump_fcontext", cp[i] == 10000 ? 15 : 2, skc)
    for (i = 1; i <= 3; i++)
        cmp(sprintf("  %s pair%s / Boost.Fiber unbuffered_channel", group(cp[i]), cp[i] == 1 ? "" : "s"),
            "chan_ns:" cp[i], "fiber_chan:" cp[i], "", skf)
    printf "   libcoro: tables 1, 2 (%s program) and 4 (ns per message: 1e9 / unbuffered msg/s)\n", be
    printf "   Boost:   tests/bench-boost; jump_fcontext there and back, a value each way; context::fiber\n"
    printf "            with fixedsize_stack(64 KiB) made, run to its end, freed; Boost.Fiber's fibers on\n"
    printf "            fixedsize_stack(16 KiB) (libcoro's tasks: the default 256 KiB), %s messages a row\n", group(chan_total)
    printf "   ratio:   the median of the runs' libcoro / Boost, both figures of the same run\n"

    print "8. Counted, not timed: tests/bench-count through lib/.libs/libcoro.so (" chan_switch ")"
    if (cg_k == 2) {
        v = (cg_i[2] - cg_i[1]) / (cg_n[2] - cg_n[1])
        row("callgrind: instructions per resume+yield round trip", sprintf("%.1f", v), "<= 80", at_most(v, 80))
        printf "     (I(N2) - I(N1)) / (N2 - N1): I(%s) = %s, I(%s) = %s instructions\n", group(cg_n[1]),
            group(cg_i[1]), group(cg_n[2]), group(cg_i[2])
        for (i = 1; i <= cg_cmds; i++) printf "     %s\n", cg_cmd[i]
    } else
        row("callgrind: instructions per resume+yield round trip", "-", "<= 80", cg_skip != "" ? cg_skip : "not measured")
    nsn = 0
    for (n in st_n) sn[++nsn] = n + 0
    if (nsn == 2) {
        if (sn[1] > sn[2]) { t = sn[1]; sn[1] = sn[2]; sn[2] = t }
        dn = sn[2] - sn[1]; grow = diff = ""; tot1 = tot2 = kinds = ngrow = 0
        for (k in st_name) {
            c1 = st[sn[1], k] + 0; c2 = st[sn[2], k] + 0; tot1 += c1; tot2 += c2; kinds++
            if (c2 == c1) continue
            diff = diff sprintf("%s%s %s -> %s", diff == "" ? "" : ", ", k, group(c1), group(c2))
            if ((c2 - c1) / dn >= 0.001) { # 1 more per 1,000 coroutines or more: it grows with N
                ngrow++
                grow = grow sprintf("%s%s %.3g", grow == "" ? "" : ", ", k, (c2 - c1) / dn)
            }
        }
        row("strace: system calls that grow with N, pooled life", ngrow,
            "none", grow == "" ? "met" : "missed (per coroutine: " grow ")")
        printf "     %s lives: %s system calls of %d kinds; %s lives: %s%s; %.3g per coroutine\n",
            group(sn[1]), group(tot1), kinds, group(sn[2]), group(tot2),
            diff == "" ? ", the same counts" : " (" diff ")", (tot2 - tot1) / dn
        for (i = 1; i <= st_cmds; i++) printf "     %s\n", st_cmd[i]
    } else
        row("strace: system calls that grow with N, pooled life", "-", "none", st_skip != "" ? st_skip : "not measured")
    print "9. Mutex, condition variable, wait group, select (" name[be] " program), ns; ratios run by run"
    row("mutex lock + unlock, uncontended, in a task", ns(med(be ":mutex_uncontended")), "<= 5",
        at_most(med(be ":mutex_uncontended"), 5))
    row("coro_wg_done, nobody waiting", ns(med(be ":wg_done")), "<= 5", at_most(med(be ":wg_done"), 5))
    row("mutex hand-off between two tasks (unlock to a waiter)", ns(med(be ":mutex_handoff")), "", "")
    r = rmed(be ":mutex_handoff", be ":sched_yield")
    row("  ... / task yield (table 1)", r != "" ? sprintf("%.2fx", r) : "-", "<= 1.5x", at_most(r, 1.5))
    row("send + coro_chan_recv, one buffered channel", ns(med(be ":recv1")), "", "")
    row("send + coro_select of 4 ready receives", ns(med(be ":select4")), "", "")
    r = rmed(be ":select4", be ":recv1")
    row("  ... / send + coro_chan_recv", r != "" ? sprintf("%.2fx", r) : "-", "<= 2x", at_most(r, 2))
    prow("", "libcoro", "Boost", "ratio", "target", "result")
    cmp("mutex passed back and forth / Boost.Fiber mutex", be ":mutex_handoff", "boost:fiber_mutex", 0.5, skf)
    cmp("one-slot mailbox, mutex + condvar / Boost.Fiber", be ":cond", "boost:fiber_cond", 0.5, skf)
    cmp("  uncontended lock + unlock / Boost.Fiber mutex", be ":mutex_uncontended", "boost:fiber_mutex_uncontended", "", skf)
    printf "   tests/bench-sync.c and tests/bench-boost.cc: the same work on both sides. libcoro's unlock\n"
    printf "   hands the mutex to its waiter; Boost.Fiber's wakes the waiter and leaves the mutex free, so\n"
    printf "   the unlocker's next lock takes it back (unlock + lock there passes it twice in a million\n"
    printf "   iterations): its fibers yield after each unlock, and the mutex changes hands every time\n"

    printf "wall time of the measurements: %d s\n", wall

    # The plot's data: coroutines (both capacities) and threads against P.
    print "# pairs  coroutines_unbuffered  coroutines_capacity16  threads  ratio  (msg/s; ratio: table 5's; - not run)" > dat
    for (i = 1; i <= np; i++) {
        p = ps[i]; ratio = rmed("chan:" p ":0", "threads:" p)
        printf "%d %s %s %s %s\n", p, med("chan:" p ":0"), ("chan:" p ":16") in L ? med("chan:" p ":16") : "-",
            ("threads:" p) in L ? med("threads:" p) : "-", ratio != "" ? ratio : "-" > dat
    }
    close(dat)
}
EOF
awk -v dat=bench-pairs.dat -f "$tmp/table.awk" "$raw" || exit 1

rm -f bench-pairs.png
if [ -n "${GNUPLOT:-}" ] && command -v "$GNUPLOT" >/dev/null 2>&1; then
    if "$GNUPLOT" -e 'set terminal pngcairo' >/dev/null 2>&1; then
        term='pngcairo size 900,560 font ",11"'
    else
        term='png size 900,560'
    fi
    "$GNUPLOT" <<EOF || note "gnuplot failed: no plot"
set terminal $term
set output 'bench-pairs.png'
set title "Producer/consumer pairs: coroutines (one thread) against OS threads (2 per pair)\n$(sed -n 's/^info cpu //p' "$raw"); $(sed -n 's/^info date //p' "$raw")"
set xlabel 'pairs'
set ylabel 'messages per second'
set logscale xy
set format x '10^{%L}'
set format y '10^{%L}'
set grid
set key bottom left
set datafile missing '-'
set offsets graph 0.05, graph 0.05, graph 0.1, graph 0.05
plot 'bench-pairs.dat' using 1:2 with linespoints lw 2 pt 7 title 'coroutines, unbuffered channel', \
     '' using 1:3 with linespoints lw 2 pt 5 title 'coroutines, channel of capacity 16', \
     '' using 1:4 with linespoints lw 2 pt 9 title 'threads, one-slot mailbox (label: coroutines unbuffered / threads, run by run)', \
     '' using 1:4:(sprintf("%.0fx", \$5)) with labels offset 0,-1.2 notitle
EOF
    [ -f bench-pairs.png ] && echo "plot: $builddir/bench-pairs.png (data: bench-pairs.dat)"
else
    echo "plot: skipped (no gnuplot; data: $builddir/bench-pairs.dat)"
fi
echo "raw records: $builddir/$raw"
exit 0
