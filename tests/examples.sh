#!/bin/sh
# The README's examples (examples/*.c, installed under $(docdir)/examples),
# run by 'make check' from the build directory: each program builds (make
# check built it) and prints what the README says, and README.md shows each
# one's code exactly, so that neither can change without the other.
# $CORO_TEST_WRAPPER (valgrind, qemu) runs the programs when set.
set -u
srcdir=${srcdir:-.}
wrapper=${CORO_TEST_WRAPPER:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/examples-test.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' 0
trap 'exit 1' HUP INT TERM
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# check NAME EXPECTED-FILE: run examples/NAME, compare its stdout.
check() {
    # $wrapper is a command line to split into words, hence unquoted.
    if ! $wrapper "./examples/$1" >"$tmp/$1.out" 2>"$tmp/$1.err"; then
        fail "examples/$1 exited with status $?"
        cat "$tmp/$1.err"
    fi
    [ ! -s "$tmp/$1.err" ] || { fail "examples/$1 wrote to stderr"; cat "$tmp/$1.err"; }
    if cmp -s "$2" "$tmp/$1.out"; then
        echo "ok: examples/$1 prints what the README says"
    else
        fail "examples/$1: unexpected output"
        diff -u "$2" "$tmp/$1.out"
    fi
}

check tutorial "$srcdir/tests/tutorial.expected"
printf 'got %s\n' 1 2 3 4 5 >"$tmp/sched.expected"
check sched "$tmp/sched.expected"

# Every ```c block of the README, one file each; each example's code (after
# its leading comment) must be one of them.
awk -v dir="$tmp" '
    /^```c$/ { n++; out = dir "/readme-" n ".c"; printf "" > out; next }
    /^```$/ && out != "" { close(out); out = ""; next }
    out != "" { print >> out }
' "$srcdir/README.md"
for name in tutorial sched; do
    sed '1,/\*\//d' "$srcdir/examples/$name.c" >"$tmp/$name.code"
    found=no
    for block in "$tmp"/readme-*.c; do
        cmp -s "$block" "$tmp/$name.code" && found=yes
    done
    if [ "$found" = yes ]; then
        echo "ok: README.md shows examples/$name.c"
    else
        fail "README.md does not show examples/$name.c as it is (a \`\`\`c block equal to the file after its comment)"
    fi
done

[ "$failures" -eq 0 ]
