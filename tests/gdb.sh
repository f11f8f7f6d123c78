#!/bin/sh
# The gdb commands (gdb/libcoro-gdb.py): tests/gdb-target stopped at its
# breakpoint under 'gdb -batch', the commands sourced. 'info coroutines'
# must list every coroutine by number, name, status and where it is; 'coro
# bt' must show a suspended one's frames and leave the thread's registers
# and selected frame as they were (the program then runs on and ends
# normally); misuse must be refused with a clear message. Run by 'make
# check' from the build directory, with srcdir exported.
#
# Skipped (77) without gdb, when gdb may not trace a process here, and under
# a wrapper (CORO_TEST_WRAPPER: valgrind, qemu), since gdb runs the program
# itself: a plain 'make check' of the same build runs it.
set -u

prog=tests/gdb-target
ext=$srcdir/gdb/libcoro-gdb.py
gdb=${GDB:-gdb}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gdb-test.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' 0
trap 'exit 1' HUP INT TERM
failures=0

skip() {
    echo "SKIP: $*"
    exit 77
}

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

command -v "$gdb" >/dev/null 2>&1 || skip "$gdb is not installed"
[ -z "${CORO_TEST_WRAPPER:-}" ] ||
    skip "gdb runs the program itself, not under CORO_TEST_WRAPPER ($CORO_TEST_WRAPPER)"
./libtool --mode=execute "$prog" || { fail "$prog alone: exit status $?"; exit 1; }

# LeakSanitizer cannot run under ptrace: in an ASan build, no leak check
# under gdb (the plain runs of the suite still make it).
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
export ASAN_OPTIONS

# run_gdb OUT ARGS...: gdb -batch on the program, the commands sourced.
# No init files, no debuginfod; each -ex runs even when one before failed.
run_gdb() {
    out=$1
    shift
    ./libtool --mode=execute "$gdb" -q -nx -batch \
        -iex 'set debuginfod enabled off' -iex 'set pagination off' -iex 'set width 0' \
        -ex "source $ext" -ex "source $ext" -ex 'info coroutines' \
        -ex 'break stop_here' -ex run "$@" "$prog" >"$out" 2>&1
}

run_gdb "$tmp/out" \
    -ex 'echo ==info\n' -ex 'info coroutines' \
    -ex 'up' -ex 'printf "==regs %p %p %p\n", $pc, $sp, $fp' \
    -ex 'echo ==bt 1\n' -ex 'coro bt 1' \
    -ex 'echo ==bt producer\n' -ex 'coro bt producer' \
    -ex 'echo ==bt 4 full\n' -ex 'coro bt 4 -full' \
    -ex 'echo ==bt 0\n' -ex 'coro bt 0' \
    -ex 'echo ==bt all\n' -ex 'coro bt all' \
    -ex 'printf "==regs %p %p %p\n", $pc, $sp, $fp' \
    -ex 'python print("==level %d" % gdb.selected_frame().level())' \
    -ex 'echo ==errors\n' \
    -ex 'coro bt 8' -ex 'coro bt 2' -ex 'coro bt 99' -ex 'coro bt nobody' -ex 'coro bt' \
    -ex 'print $coro(3)->name' \
    -ex 'echo ==continue\n' -ex continue

# The program had to stop at the breakpoint, or nothing below means anything.
if ! grep -q '^Breakpoint 1, stop_here' "$tmp/out"; then
    if grep -Eq 'ptrace|Operation not permitted|Could not trace' "$tmp/out"; then
        cat "$tmp/out"
        skip "gdb may not trace a process here"
    fi
    cat "$tmp/out"
    fail "the program did not stop at stop_here"
    exit 1
fi

# section NAME: the output between "==NAME" and the next "==" line.
section() {
    awk -v want="==$1" '/^==/ { on = ($0 == want); next } on' "$tmp/out"
}

# expect WHAT REGEX: some line of the section WHAT matches.
expect() {
    section "$1" | grep -Eq -- "$2" || fail "$1: no line matches '$2'"
}

# Before the program runs.
grep -q '^The program is not being run\.' "$tmp/out" ||
    fail "info coroutines before run: no 'The program is not being run.'"

# info coroutines: every one, with its number, kind, name, status and where.
f='\(gdb-target\.c:[0-9]+\)'
a='0x[0-9a-f]+'
expect info '^  Id +Address +Kind +Name +Status +Where$'
expect info "^  0 +- +thread +\(thread's own stack\) +normal +main $f\$"
expect info "^  1 +$a +coro +counter +suspended +counter $f\$"
expect info "^  2 +$a +coro +coro-2 +created +idle $f, not started\$"
expect info "^  3 +$a +task +producer +waiting +producer $f\$"
expect info "^  4 +$a +task +consumer +waiting +consumer $f\$"
expect info "^  5 +$a +task +sleeper +waiting +sleeper $f\$"
expect info "^  6 +$a +task +joiner +waiting +joiner $f\$"
expect info "^  7 +$a +task +yielder +ready +yielder $f\$"
expect info "^\* 8 +$a +task +inspector +running +stop_here $f\$"
expect info "^  9 +$a +task +task-9 +ready +latecomer $f, not started\$"
# Suspended tasks are where they called into libcoro: the line of the call,
# not the statement after it.
line_of() { grep -n -- "$1" "$srcdir/tests/gdb-target.c" | head -n 1 | cut -d: -f1; }
expect info "^  3 +$a +task +producer +waiting +producer \(gdb-target\.c:$(line_of 'coro_chan_send(nobody_receives')\)\$"
expect info "^  4 +$a +task +consumer +waiting +consumer \(gdb-target\.c:$(line_of 'coro_chan_recv(nobody_sends')\)\$"
n=$(section info | grep -c '^[ *] [0-9]')
[ "$n" -eq 10 ] || fail "info coroutines: $n lines, expected 10"

# coro bt: the coroutine's own frames, down to its start.
expect 'bt 1' '^#[0-9]+ .*counter \(arg=.*gdb-target\.c:[0-9]+$'
expect 'bt 1' '^#[0-9]+ .* in trampoline \(\)'
expect 'bt producer' '^#[0-9]+ .*producer \(arg=.*gdb-target\.c:[0-9]+$'
expect 'bt producer' '^#[0-9]+ .* in trampoline \(\)'
expect 'bt 4 full' '^#[0-9]+ .*consumer \(arg=.*gdb-target\.c:[0-9]+$'
expect 'bt 4 full' '^ +v = '
expect 'bt 0' '^#[0-9]+ .* in main \(\) at .*gdb-target\.c:[0-9]+$'
expect 'bt 0' ' coro_sched_run \('
for name in counter producer consumer sleeper joiner yielder; do
    expect 'bt all' "^coroutine [0-9] \"$name\" \((coro|task), (suspended|waiting|ready)\):\$"
    expect 'bt all' "^#[0-9]+ .*$name \(arg="
done
expect 'bt all' "^the thread's own stack \(thread, normal\):\$"
section 'bt all' | grep -q 'inspector\|task-9\|coro-2' &&
    fail "bt all: a running or unstarted coroutine has a backtrace"

# The registers and the selected frame, as they were.
regs=$(grep '^==regs' "$tmp/out" | sort -u | wc -l)
[ "$regs" -eq 1 ] || fail "the registers changed: $(grep '^==regs' "$tmp/out" | tr '\n' ' ')"
grep -q '^==level 1$' "$tmp/out" || fail "the selected frame is not frame 1 any more"

# Misuse.
expect errors '^libcoro: coroutine 8 "inspector" is running: its frames are the thread.s \(bt\)$'
expect errors '^libcoro: coroutine 2 "coro-2" has not started: it has no frames yet$'
expect errors '^libcoro: no coroutine 99 in thread 1 \(see info coroutines\)$'
expect errors '^libcoro: no coroutine named "nobody" in thread 1'
expect errors '^Usage: coro bt '
expect errors '^\$1 = "producer'

# The program went on, and ended as it does without gdb.
expect continue '^\[Inferior 1 \(process [0-9]+\) exited normally\]$'

# Without the library's debug information: a clear message. (A shared build
# only: the program runs with a copy of the library stripped of it.)
lib=$(ls lib/.libs/libcoro.so.*.*.* 2>/dev/null | head -n 1)
if [ -n "$lib" ]; then
    mkdir "$tmp/lib" && objcopy --strip-debug "$lib" "$tmp/lib/$(basename "$lib")" &&
        ln -s "$(basename "$lib")" "$tmp/lib/libcoro.so.0" || fail "cannot strip $lib"
    run_gdb "$tmp/nodebug" -iex "set environment LD_LIBRARY_PATH=$tmp/lib" \
        -ex 'info sharedlibrary libcoro' -ex 'info coroutines' -ex 'coro bt 1'
    grep -q "^0x.* $tmp/lib/libcoro" "$tmp/nodebug" || fail "without debug info: the stripped copy was not loaded"
    n=$(grep -c '^libcoro: no debug information for libcoro' "$tmp/nodebug")
    [ "$n" -eq 2 ] || fail "without debug info: $n messages saying so, expected 2"
    [ "$failures" -eq 0 ] || cat "$tmp/nodebug"
fi

if [ "$failures" -ne 0 ]; then
    echo "--- gdb's output:"
    cat "$tmp/out"
    echo "$failures failures"
    exit 1
fi
echo "gdb: info coroutines and coro bt: ok"
exit 0
