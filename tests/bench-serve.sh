#!/bin/sh
# coro-demo serve against nginx and redis-server (doc/performance.md, the
# section on serve). Not run by make check or make bench: it needs wrk,
# redis-benchmark and, for the peers, nginx and redis-server (Debian:
# apt-get install wrk redis-tools nginx-light redis-server); what is
# missing is skipped. Run from the build directory:
#
#     sh tests/bench-serve.sh
#
# With two CPUs or more, each server runs on CPU 0 and each client on CPU 1
# (taskset). BENCH_SECONDS (default 5) per wrk run, BENCH_SERVE_RUNS (default 3)
# runs of each, alternating; BENCH_NGINX_PORT (18080) and BENCH_REDIS_PORT
# (16379) for the peers. Prints one line per run: requests/s, wrk's p99
# latency, socket errors and non-2xx answers, and the server's CPU time per
# request (its user + system time over the run, from /proc: what the
# server itself spends, which the CPUs' sharing disturbs less than the
# rate); --procs 2 against nginx with
# two workers (both unpinned, sharing the CPUs with wrk); redis-benchmark at
# -P16 and -P1. 'make bench' runs it after its table.
set -u

demo=./demo/coro-demo
secs=${BENCH_SECONDS:-5}
runs=${BENCH_SERVE_RUNS:-3}
nginx_port=${BENCH_NGINX_PORT:-18080}
redis_port=${BENCH_REDIS_PORT:-16379}

[ -x "$demo" ] || { echo "bench-serve: $demo not found: run from the build directory" >&2; exit 2; }
have() { command -v "$1" >/dev/null 2>&1; }

server_cpu= client_cpu=
if have taskset && [ "$(getconf _NPROCESSORS_ONLN)" -ge 2 ]; then
    server_cpu="taskset -c 0"
    client_cpu="taskset -c 1"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-serve.XXXXXX") || exit 2
pids=
cleanup() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    for p in $pids; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup 0
trap 'exit 1' HUP INT TERM

# start_demo NAME PIN ARGS...: coro-demo serve ARGS on an ephemeral port,
# under PIN (a taskset command line, or empty); sets $port.
start_demo() {
    name=$1 pin=$2
    shift 2
    # shellcheck disable=SC2086 # $pin is a command line
    $pin "$demo" serve "$@" --port 0 2>"$tmp/$name.err" &
    pids="$pids $!"
    server_pid=$!
    port=
    for _ in $(seq 100); do
        port=$(sed -n 's/^coro-demo serve .*: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/$name.err" | head -n 1)
        [ -n "$port" ] && return 0
        sleep 0.05
    done
    echo "bench-serve: coro-demo serve $* did not start:" >&2
    cat "$tmp/$name.err" >&2
    exit 1
}

# cpu_ticks PID: the process's user + system time so far, in clock ticks
# (0 when unknown).
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# wrk_rate PORT CONNECTIONS [PID]: "N req/s, p99 T, E errors, X non-2xx" of
# one run, and with the server's PID ", C us CPU/req".
wrk_rate() {
    t0=$( [ -n "${3:-}" ] && cpu_ticks "$3")
    # shellcheck disable=SC2086
    $client_cpu wrk -t1 -c"$2" -d"${secs}s" --latency "http://127.0.0.1:$1/" >"$tmp/wrk.out"
    t1=$( [ -n "${3:-}" ] && cpu_ticks "$3")
    awk -v t0="${t0:-}" -v t1="${t1:-}" -v hz="$(getconf CLK_TCK)" '
        / requests in / { n = $1 }
        /^Requests\/sec/ { rate = $2 }
        $1 == "99%" { p99 = $2 }
        /Socket errors/ { gsub(/,/, ""); err = $4 + $6 + $8 + $10 }
        /Non-2xx/ { non2xx = $NF }
        END {
            printf "%s req/s, p99 %s, %d socket errors, %d non-2xx", rate, p99, err, non2xx
            if (t0 != "" && t1 > t0 && n > 0)
                printf ", %.1f us CPU/req", (t1 - t0) / hz * 1e6 / n
        }' "$tmp/wrk.out"
}

# redis_rates PORT PIPELINE: "SET: N GET: N" requests per second.
redis_rates() {
    # shellcheck disable=SC2086
    $client_cpu redis-benchmark -p "$1" -t set,get -n 200000 -c 50 -P "$2" -q 2>/dev/null |
        tr '\r' '\n' | awk '/requests per second/ {printf "%s %s ", $1, $2}'
}

if have wrk; then
    start_demo http "$server_cpu" http
    http_port=$port http_pid=$server_pid
    ngx=
    if have nginx; then
        mkdir -p "$tmp/nginx/logs"
        cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $tmp/nginx/logs/error.log warn;
pid $tmp/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { return 200 "hello\n"; }
    }
}
EOF
        # shellcheck disable=SC2086
        $server_cpu nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" &
        pids="$pids $!"
        ngx=$nginx_port ngx_pid=$!
        sleep 0.5
    else
        echo "bench-serve: no nginx: coro-demo alone" >&2
    fi
    for c in 100 1000; do
        for r in $(seq "$runs"); do
            line="wrk -t1 -c$c run $r: coro-demo $(wrk_rate "$http_port" "$c" "$http_pid")"
            [ -n "$ngx" ] && line="$line | nginx $(wrk_rate "$ngx" "$c" "$ngx_pid")"
            echo "$line"
        done
    done
    # Two workers against one, both servers on both CPUs (wrk shares them).
    if [ -n "$server_cpu" ]; then
        start_demo http2 "" http --procs 2
        p2=$port
        ngx2=
        if [ -n "$ngx" ]; then
            mkdir -p "$tmp/nginx2/logs"
            sed -e "s/^master_process off;/master_process on;/" -e "s/^worker_processes 1;/worker_processes 2;/" \
                -e "s/127.0.0.1:$nginx_port/127.0.0.1:$((nginx_port + 1))/" -e "s|$tmp/nginx/|$tmp/nginx2/|g" \
                "$tmp/nginx/nginx.conf" >"$tmp/nginx2/nginx.conf"
            nginx -p "$tmp/nginx2" -c "$tmp/nginx2/nginx.conf" &
            pids="$pids $!"
            ngx2=$((nginx_port + 1))
            sleep 0.5
        fi
        for r in $(seq "$runs"); do
            line="wrk -t1 -c100 two workers, run $r: coro-demo --procs 2 $(wrk_rate "$p2" 100)"
            [ -n "$ngx2" ] && line="$line | nginx 2 workers $(wrk_rate "$ngx2" 100)"
            echo "$line"
        done
    fi
else
    echo "bench-serve: no wrk: http skipped" >&2
fi

if have redis-benchmark; then
    start_demo resp "$server_cpu" resp
    resp_port=$port
    red=
    if have redis-server; then
        # shellcheck disable=SC2086
        $server_cpu redis-server --port "$redis_port" --save '' --appendonly no \
            --daemonize no --logfile "$tmp/redis.log" &
        pids="$pids $!"
        red=$redis_port
        sleep 0.5
    else
        echo "bench-serve: no redis-server: coro-demo alone" >&2
    fi
    for pl in 16 1; do
        for r in $(seq "$runs"); do
            line="redis-benchmark -c50 -P$pl run $r: coro-demo $(redis_rates "$resp_port" "$pl")"
            [ -n "$red" ] && line="$line| redis-server $(redis_rates "$red" "$pl")"
            echo "$line"
        done
    done
else
    echo "bench-serve: no redis-benchmark: resp skipped" >&2
fi
