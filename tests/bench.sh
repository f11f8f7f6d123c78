#!/bin/sh
# tests/bench.sh BUILDDIR SRCDIR: libcoro's benchmarks, run by 'make bench'
# after it has built the bench programs. Prints one table on stdout (progress
# on stderr) and writes, in BUILDDIR, bench-results.txt (the programs' raw
# records), bench-pairs.dat and, with gnuplot, bench-pairs.png.
#
# Environment (the Makefile passes them): BENCH_RUNS, runs per figure (the
# median is reported; default 5); BENCH_TARGETS, the programs built (no
# tests/bench-switch-fast where there is no fast switch); CC and CFLAGS, to
# describe the compiler; GNUPLOT, the gnuplot to draw with (empty: no plot).
# BENCH_QUICK=1 runs tiny workloads, only to try this script: its figures
# mean nothing.
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
thread_total=20000 thread_pairs=1,10,100,1000
demo_args="--pairs 10000 --messages 100 --style channel"
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    runs=1 mem_small=1000 mem_small_runs=1 mem_large=10000
    chan_total=20000 chan_pairs=1,10,100,1000 thread_total=2000 thread_pairs=1,10
    demo_args="--pairs 100 --messages 100 --style channel"
fi

note() {
    echo "bench: $*" >&2
}

# run TAG PROGRAM ARGS...: run a bench program, its records prefixed with TAG.
run() {
    tag=$1
    shift
    note "$*"
    t0=$(date +%s)
    "$@" >"$tmp/out"
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
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' config.h 2>/dev/null)
commit=
[ -e "$srcdir/.git" ] && commit=$(git -C "$srcdir" describe --always --dirty 2>/dev/null)
{
    echo "info cpu ${cpu:-unknown}, $ncpu online CPUs"
    echo "info date $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "info kernel $(uname -srm), $libc"
    echo "info compiler ${cc_version:-${CC:-cc}}; CFLAGS ${CFLAGS:-}"
    echo "info source libcoro ${version:-?}${commit:+ (git $commit)}, $srcdir"
    echo "info load $(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo '?')"
} >>"$raw"

## 1, 2: switching and a coroutine's life, each backend
run ucontext ./tests/bench-switch-ucontext "$runs"
case " ${BENCH_TARGETS:-tests/bench-switch-fast} " in
*" tests/bench-switch-fast "*) run fast ./tests/bench-switch-fast "$runs" ;;
esac

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

## 4, 5: producer/consumer pairs, coroutines and threads
run pairs ./tests/bench-pairs chan "$runs" $chan_total $chan_pairs $chan_caps
run pairs ./tests/bench-pairs threads "$runs" $thread_total $thread_pairs

## 6: coro-demo pairs in one process and in two, alternately
i=0
while [ $i -lt "$runs" ]; do
    for procs in 1 2; do
        note "coro-demo pairs $demo_args --procs $procs"
        # shellcheck disable=SC2086 # word splitting of demo_args is wanted
        ./demo/coro-demo pairs $demo_args --procs $procs >"$tmp/demo" 2>&1
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
        echo "procs $procs $rate" >>"$raw"
    done
    i=$((i + 1))
done

## The table, the plot's data, the plot
{
    echo "demo $demo_args"
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
$1 == "runs" { runs = $2 }
$1 == "info" { k = $2; $1 = $2 = ""; info[k] = substr($0, 3) }
$1 == "wall" { wall = $2 }
$1 == "demo" { $1 = ""; demo = substr($0, 2) }
($1 == "ucontext" || $1 == "fast") && $2 == "switch" { b = $1; $1 = $2 = ""; name[b] = substr($0, 3) }
($1 == "ucontext" || $1 == "fast") && $2 != "switch" { sw[$1, $2] = $3 }
$1 == "mem" {
    n = $3; mem_n[n] = 1
    mem_created[n] = $5; mem_err[n] = $13
    mem_rss[n] = mem_rss[n] " " $7; mem_pte[n] = mem_pte[n] " " $9
    mem_tot[n] = mem_tot[n] " " ($7 + $9); mem_ns[n] = mem_ns[n] " " $11; mem_k[n]++
    mem_maps[n] = mem_maps[n] " " $15; mem_max_maps = $17
}
$1 == "pairs" && $2 == "switch" { $1 = $2 = ""; chan_switch = substr($0, 3) }
$1 == "pairs" && $2 == "chan" { p = $3; chan_p[p] = 1; chan_m[p] = $5; chan[p, $4] = $6 }
$1 == "pairs" && $2 == "threads" { p = $3; thr_p[p] = 1; thr_m[p] = $4; thr[p] = $5 }
$1 == "procs" { procs[$2] = procs[$2] " " $3; procs_k[$2]++ }
END {
    print "libcoro benchmarks (make bench)"
    printf "   CPU       %s\n", info["cpu"]
    printf "   date      %s\n", info["date"]
    printf "   kernel    %s\n", info["kernel"]
    printf "   compiler  %s\n", info["compiler"]
    printf "   load      %s at the start, %s at the end (load average, 1/5/15 min)\n", info["load"], info["load_end"]
    printf "   library   %s; switch as configured: %s\n", info["source"], chan_switch
    printf "   figures   the median of %d run%s, unless the line says otherwise\n", runs, runs == 1 ? "" : "s"
    printf "\n   %-52s %14s   %-17s %s\n", "", "measured", "target", "result"

    print "1. Switch: coro_resume() + coro_yield() round trip, ns"
    for (b = 1; b <= 2; b++) {
        be = b == 1 ? "ucontext" : "fast"
        if (!((be, "roundtrip") in sw)) continue
        row("raw glibc swapcontext ping-pong (" be " program)", sprintf("%.1f", sw[be, "raw_swapcontext"]), "", "")
    }
    be = ("fast", "floor") in sw ? "fast" : "ucontext"
    if ((be, "floor") in sw) {
        row("floor: callee-saved registers only (bench's asm)", sprintf("%.1f", sw[be, "floor"]), "", "")
        row("floor + MXCSR and x87 control word (as the library)", sprintf("%.1f", sw[be, "floor_fp"]), "", "")
    }
    # The ratios are medians of run-by-run ratios (see bench-switch.c).
    if (("ucontext", "roundtrip") in sw) {
        u = sw["ucontext", "roundtrip"]; r = 1 / sw["ucontext", "raw_ratio"]
        row("libcoro, " name["ucontext"] " backend", sprintf("%.1f", u), "", "")
        row("  ... / raw swapcontext, run by run", sprintf("%.2fx", r), "<= 1.10x", at_most(r, 1.10))
    }
    if (("fast", "roundtrip") in sw) {
        f = sw["fast", "roundtrip"]; r = sw["fast", "raw_ratio"]
        row("libcoro, " name["fast"] " backend", sprintf("%.1f", f), "<= 10 ns", at_most(f, 10))
        row("  ... times faster than raw swapcontext, run by run", sprintf("%.1fx", r), ">= 30x", at_least(r, 30))
    } else
        row("libcoro, fast backend", "-", "<= 10 ns", "not built (no fast switch for this CPU)")

    print "2. create + first resume + finish + destroy, default stack (0), ns"
    for (b = 1; b <= 2; b++) {
        be = b == 1 ? "ucontext" : "fast"
        if (!((be, "create_pooled") in sw)) continue
        v = sw[be, "create_pooled"]
        row(name[be] ", stack from the pool", sprintf("%.1f", v), "<= 40 ns", at_most(v, 40))
    }
    for (b = 1; b <= 2; b++) {
        be = b == 1 ? "ucontext" : "fast"
        if (!((be, "create_unpooled") in sw)) continue
        row(name[be] ", no pool: mmap + guard + munmap each", sprintf("%.1f", sw[be, "create_unpooled"]), "", "")
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
    printf "   %8s %10s %16s %16s   %-17s %s\n", "pairs", "msgs/pair", "unbuffered", "capacity 16", "target", "result"
    for (i = 1; i <= np; i++) {
        p = ps[i]; v = chan[p, 0]; target = verdict = ""
        if (p == 1 || p == 100) { target = ">= 25M"; verdict = at_least(v, 25e6) }
        if (p == 10000) { target = ">= 4M"; verdict = at_least(v, 4e6) }
        if (p == 100000) { target = "completes"; verdict = "met (every message checked)" }
        out(sprintf("   %8s %10s %16s %16s   %-17s %s", group(p), group(chan_m[p]), group(v),
            ((p, 16) in chan) ? group(chan[p, 16]) : "-", target, verdict))
    }

    nt = 0
    for (p in thr_p) ts[++nt] = p + 0
    for (i = 2; i <= nt; i++)
        for (j = i; j > 1 && ts[j - 1] > ts[j]; j--) { t = ts[j]; ts[j] = ts[j - 1]; ts[j - 1] = t }
    print "5. OS threads: 2 per pair, one-slot mailbox (mutex + condition variable), msg/s"
    printf "   %8s %10s %16s %16s %8s   %-8s %s\n", "pairs", "msgs/pair", "threads", "coroutines", "ratio", "target", "result"
    for (i = 1; i <= nt; i++) {
        p = ts[i]; c = chan[p, 0]; ratio = (c != "" && thr[p] > 0) ? c / thr[p] : ""
        target = verdict = ""
        if (p == 1000) { target = ">= 50x"; verdict = at_least(ratio, 50) }
        out(sprintf("   %8s %10s %16s %16s %8s   %-8s %s", group(p), group(thr_m[p]), group(thr[p]),
            c != "" ? group(c) : "-", ratio != "" ? sprintf("%.0fx", ratio) : "-", target, verdict))
    }
    printf "   (coroutines: the unbuffered figure of table 4, same run)\n"

    print "6. coro-demo pairs " demo ": one process against two"
    p1 = median(procs[1]); p2 = median(procs[2])
    row("--procs 1 (median of " procs_k[1] "), msg/s", group(p1), "", "")
    row("--procs 2 (median of " procs_k[2] "), msg/s", group(p2), "", "")
    r = p1 > 0 ? p2 / p1 : ""
    row("--procs 2 / --procs 1", r != "" ? sprintf("%.2fx", r) : "-", ">= 1.7x", at_least(r, 1.7))
    printf "wall time of the measurements: %d s\n", wall

    # The plot's data: coroutines (both capacities) and threads against P.
    print "# pairs  coroutines_unbuffered  coroutines_capacity16  threads  (msg/s; - not run)" > dat
    for (i = 1; i <= np; i++) {
        p = ps[i]
        printf "%d %s %s %s\n", p, chan[p, 0], ((p, 16) in chan) ? chan[p, 16] : "-",
            (p in thr) ? thr[p] : "-" > dat
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
     '' using 1:4 with linespoints lw 2 pt 9 title 'threads, one-slot mailbox (label: coroutines unbuffered / threads)', \
     '' using 1:4:(sprintf("%.0fx", \$2 / \$4)) with labels offset 0,-1.2 notitle
EOF
    [ -f bench-pairs.png ] && echo "plot: $builddir/bench-pairs.png (data: bench-pairs.dat)"
else
    echo "plot: skipped (no gnuplot; data: $builddir/bench-pairs.dat)"
fi
echo "raw records: $builddir/$raw"
exit 0
