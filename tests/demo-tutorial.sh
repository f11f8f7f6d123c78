#!/bin/sh
# Golden test for coro-demo, run by 'make check' from the build directory:
#  - no arguments: stdout is byte for byte tests/tutorial.expected (the
#    output of the Python tutorial's producer/consumer), nothing on stderr;
#  - --help: exit 0, usage on stdout, nothing on stderr;
#  - an unknown option: exit 2, the error and "Try 'coro-demo --help'" on
#    stderr (not the whole usage), nothing on stdout.
# $srcdir (set by the harness) locates the expected output in VPATH builds;
# $CORO_TEST_WRAPPER (e.g. valgrind via libtool) runs the demo when set.
# Exit: 0 pass, 1 fail, 99 hard error (automake's convention).

srcdir=${srcdir:-.}
demo=./demo/coro-demo
expected=$srcdir/tests/tutorial.expected
wrapper=${CORO_TEST_WRAPPER:-}

if test ! -f "$demo"; then
    echo "demo-tutorial: $demo not found: run from the build directory" >&2
    exit 99
fi
if test ! -r "$expected"; then
    echo "demo-tutorial: $expected not found: set srcdir" >&2
    exit 99
fi

tmp=${TMPDIR:-/tmp}/coro-demo-tutorial.$$
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
umask 077
mkdir "$tmp" || exit 99

failed=0
fail() {
    echo "FAIL: $*" >&2
    failed=1
}

# run NAME ARGS...: run the demo, keeping stdout, stderr and the exit status.
run() {
    name=$1
    shift
    status=0
    # $wrapper is a command line to split into words, hence unquoted.
    $wrapper "$demo" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" || status=$?
}

show() {
    echo "--- $1:" >&2
    cat "$1" >&2
}

# 1. The tutorial.
run tutorial
if test "$status" -ne 0; then
    fail "coro-demo exited $status"
    show "$tmp/tutorial.err"
fi
if ! cmp -s "$expected" "$tmp/tutorial.out"; then
    fail "coro-demo output differs from $expected"
    diff -u "$expected" "$tmp/tutorial.out" >&2 || :
fi
if test -s "$tmp/tutorial.err"; then
    fail "coro-demo wrote to stderr"
    show "$tmp/tutorial.err"
fi

# 2. --help: usage on stdout.
run help --help
if test "$status" -ne 0; then
    fail "coro-demo --help exited $status, expected 0"
fi
if ! grep -q '^Usage:' "$tmp/help.out"; then
    fail "coro-demo --help printed no usage on stdout"
    show "$tmp/help.out"
fi
if test -s "$tmp/help.err"; then
    fail "coro-demo --help wrote to stderr"
    show "$tmp/help.err"
fi

# 3. An unknown option: the error and where to look, exit 2.
run bad --no-such-option
if test "$status" -ne 2; then
    fail "coro-demo --no-such-option exited $status, expected 2"
fi
if test -s "$tmp/bad.out"; then
    fail "coro-demo --no-such-option wrote to stdout"
    show "$tmp/bad.out"
fi
if ! grep -q "^coro-demo: unknown argument '--no-such-option'\$" "$tmp/bad.err" ||
    ! grep -q "^Try 'coro-demo --help' for more information\.\$" "$tmp/bad.err" ||
    grep -q 'Usage:' "$tmp/bad.err"; then
    fail "coro-demo --no-such-option: not the error and a 'Try' line on stderr"
    show "$tmp/bad.err"
fi

if test "$failed" -eq 0; then
    echo "PASS: coro-demo tutorial output, --help, unknown option"
fi
exit "$failed"
