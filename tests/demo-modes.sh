#!/bin/sh
# coro-demo's modes: small runs of 'pairs' (both styles, a buffered channel,
# worker processes) and 'compare', their summaries and exit statuses, --help,
# and bad arguments. Run by 'make check' from the build directory, with
# srcdir exported; CORO_TEST_WRAPPER may name a wrapper such as valgrind.
# Timing figures are never checked.
set -u

demo=./demo/coro-demo
tmp=$(mktemp -d "${TMPDIR:-/tmp}/demo-modes.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' 0
trap 'exit 1' HUP INT TERM
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# run STATUS ARGS...: run the demo with ARGS; $tmp/out and $tmp/err keep its
# output. Returns 1 (after saying so) unless it exited with STATUS.
run() {
    want=$1
    shift
    # $CORO_TEST_WRAPPER is a command line of its own: split it.
    ${CORO_TEST_WRAPPER:-} "$demo" "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    echo "coro-demo $* -> exit $got"
    if [ "$got" -ne "$want" ]; then
        fail "coro-demo $*: exit status $got, expected $want"
        show "$tmp/out"
        show "$tmp/err"
        return 1
    fi
    return 0
}

# The checks read files with the shell's own read and case (shell patterns,
# not regexes): a grep per check would cost more than the runs themselves.

# count GLOB FILE: set $nmatch to the number of lines of FILE matching GLOB.
count() {
    nmatch=0
    while IFS= read -r line || [ -n "$line" ]; do
        # shellcheck disable=SC2254 # $1 is a pattern
        case $line in $1) nmatch=$((nmatch + 1)) ;; esac
    done <"$2"
}

show() {
    sed 's/^/  | /' "$1"
}

# has GLOB FILE: FILE has a line matching GLOB.
has() {
    count "$1" "$2"
    [ "$nmatch" -gt 0 ] || { fail "$2 has no line matching '$1'"; show "$2"; }
}

# count_is N GLOB FILE
count_is() {
    count "$2" "$3"
    [ "$nmatch" -eq "$1" ] || { fail "$3: $nmatch lines match '$2', expected $1"; show "$3"; }
}

# A successful run says nothing on stderr: no progress line off a terminal.
quiet() {
    [ ! -s "$tmp/err" ] || { fail "unexpected stderr"; show "$tmp/err"; }
}

# pairs_ok WORKERS ARGS...: a pairs run that must deliver everything.
pairs_ok() {
    workers=$1
    shift
    run 0 pairs "$@" || return
    has '  every message arrived: yes' "$tmp/out"
    has '  context switches/s: *[0-9]*' "$tmp/out"
    has '  peak RSS: *[0-9]* MiB*' "$tmp/out"
    count_is "$workers" "worker [1-9]*/$workers (pid [0-9]*): *: ok" "$tmp/out"
    count_is 1 'summary: *' "$tmp/out"
    # The total is what the workers received, which is what was sent.
    sum=0 total=
    while IFS= read -r line; do
        case $line in
        'worker '*)
            line=${line#*, }                 # "100/100 messages, setup ..."
            sum=$((sum + ${line%%/*})) ;;
        '  messages: '*)
            total=${line#*:} ;;              # "   150 of 150 arrived"
        esac
    done <"$tmp/out"
    # shellcheck disable=SC2086 # split "150 of 150 arrived"
    set -- $total
    [ "$#" -eq 4 ] && [ "$1" = "$3" ] && [ "$1" = "$sum" ] ||
        { fail "the total '$total' is not the workers' sum $sum"; show "$tmp/out"; }
    quiet
}

## pairs: both styles, rendezvous and buffered channels, worker processes
pairs_ok 1 --pairs 3 --messages 50
has 'summary: 3 pairs x 50 messages, generator style, 1 worker' "$tmp/out"
has '  messages: *150 of 150 arrived' "$tmp/out"
pairs_ok 1 --pairs 3 --messages 50 --style channel
has '*channel style (capacity 0*' "$tmp/out"
pairs_ok 1 --pairs 3 --messages 50 --style=channel --capacity=4
has '*channel style (capacity 4)*' "$tmp/out"
pairs_ok 1 --pairs 3 --messages 50 --procs 1
pairs_ok 2 --pairs 3 --messages 50 --procs 2
has 'worker 1/2 (pid *): 2 pairs, 100/100 messages, *' "$tmp/out"
has 'worker 2/2 (pid *): 1 pair, 50/50 messages, *' "$tmp/out"
has '  messages: *150 of 150 arrived' "$tmp/out"
pairs_ok 2 --pairs 4 --messages 20 --procs 2 --style channel --capacity 1
# more workers than pairs: one per pair
pairs_ok 2 --pairs 2 --messages 10 --procs 5
# one per online CPU
if run 0 pairs --pairs 2 --messages 10 --procs 0; then
    has '  every message arrived: yes' "$tmp/out"
fi

## compare: one row per N
if run 0 compare --pairs 1,4 --messages 100; then
    count_is 1 '       1 *[0-9] *[0-9] *[0-9]x  yes' "$tmp/out"
    count_is 1 '       4 *[0-9] *[0-9] *[0-9]x  yes' "$tmp/out"
    quiet
fi
if run 0 compare --pairs 2 --messages 30 --style channel --capacity 2; then
    count_is 1 '       2 *[0-9] *[0-9] *[0-9]x  yes' "$tmp/out"
fi

## --help and --version: stdout, exit 0
for mode in "" pairs compare serve "serve http"; do
    # shellcheck disable=SC2086 # an empty mode is no argument
    if run 0 $mode --help; then
        has 'Usage: coro-demo*' "$tmp/out"
        quiet
    fi
done
if run 0 --version; then
    has 'coro-demo (*) *' "$tmp/out"
    has 'context switch: *' "$tmp/out"
fi

## Bad arguments: the error and where to look, two lines on stderr (as GNU
## tools do), nothing on stdout, exit 2
bad() {
    run 2 "$@" || return
    [ ! -s "$tmp/out" ] || { fail "coro-demo $*: wrote to stdout"; show "$tmp/out"; }
    has 'coro-demo*: *' "$tmp/err"
    has "Try 'coro-demo *--help' for more information." "$tmp/err"
    [ "$(wc -l < "$tmp/err")" -eq 2 ] || { fail "coro-demo $*: not two lines on stderr"; show "$tmp/err"; }
}
bad nonsense
bad --help extra
bad pairs --pairs
bad pairs --pairs 10x
bad pairs --pairs 0
bad pairs --pairs -3
bad pairs --pairs 99999999999999999999999
bad pairs --pairs ''
bad pairs --messages 1.5
bad pairs --style fibers
bad pairs --capacity 4
bad pairs --procs many
bad pairs --bogus
bad pairs stray
bad compare --pairs 1,,4
bad compare --pairs 1,x
bad compare --messages
bad compare --threads 4
bad serve
bad serve ftp
bad serve --port 80
bad serve http --port 65536
bad serve http --port
bad serve http --procs -1
bad serve http --idle-timeout x
bad serve resp --idle-timeout 5
bad serve http --host ''
bad serve resp --bogus
bad serve http stray

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
