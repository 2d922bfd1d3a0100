#!/usr/bin/env bash
# redis-benchmark against a one-node nsnode over the Redis protocol (RESP)
# and against redis-server, side by side, same clients, pipelining, value
# size and key space: ops/s, p50 and p99 latency, and server CPU per
# operation (utime+stime of the server process over each run, from
# /proc/PID/stat, divided by the run's operations).
#
#   scripts/bench-resp.sh                  # or: make bench-resp
#   N=100000 PIPELINES=16 scripts/bench-resp.sh
#
# Environment: N (ops per test, default 200000), TESTS (set,get,incr),
# CLIENTS (50), SIZE (value bytes, 64), KEYS (key space, 100000), PIPELINES
# ("1 16"), REDIS_PORT (6399), NS_PORT_BASE (17700: gRPC, +1 gossip, +2
# admin HTTP, +3 RESP), NSNODE (default ./bin/nsnode).
# Needs redis-server and redis-benchmark (Debian: redis-server redis-tools;
# installed with apt-get when the script runs as root and they are missing).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-200000}
TESTS=${TESTS:-set,get,incr}
CLIENTS=${CLIENTS:-50}
SIZE=${SIZE:-64}
KEYS=${KEYS:-100000}
PIPELINES=${PIPELINES:-"1 16"}
REDIS_PORT=${REDIS_PORT:-6399}
base=${NS_PORT_BASE:-17700}
NS_RESP_PORT=$((base + 3))
NSNODE=${NSNODE:-./bin/nsnode}
NSCTL=${NSCTL:-./bin/nsctl}

. scripts/bench-lib.sh
need_redis_and_ns

require_free_ports "$REDIS_PORT" "$base" $((base + 2)) "$NS_RESP_PORT"

work=$(mktemp -d)
redis_pid="" ns_pid=""
trap bench_cleanup EXIT

start_resp_servers

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(redis-server --version | cut -d' ' -f1-3); N=$N clients=$CLIENTS value=${SIZE}B keys=$KEYS" >&2
for P in $PIPELINES; do
	for t in ${TESTS//,/ }; do
		echo "pipeline $P, $t..." >&2
		resp_bench redis "$REDIS_PORT" "$redis_pid" "$P" "$t" >>"$work/results"
		resp_bench ns "$NS_RESP_PORT" "$ns_pid" "$P" "$t" >>"$work/results"
	done
done

printf '%-5s %3s | %11s %7s %7s %7s | %11s %7s %7s %7s | %8s %8s\n' op P "redis ops/s" "p50 ms" "p99 ms" "us/op" "ns ops/s" "p50 ms" "p99 ms" "us/op" "ops ns/r" "cpu ns/r"
for P in $PIPELINES; do
	for t in ${TESTS//,/ }; do
		r=$(awk -v t="$t" -v p="$P" '$1=="redis" && $2==t && $3==p' "$work/results")
		n=$(awk -v t="$t" -v p="$P" '$1=="ns" && $2==t && $3==p' "$work/results")
		echo "$r $n" | awk '{printf "%-5s %3s | %11.0f %7.3f %7.3f %7.2f | %11.0f %7.3f %7.3f %7.2f | %7.2fx %7.2fx\n",
			$2, $3, $4, $5, $6, $7, $12, $13, $14, $15, $12/$4, ($7 > 0 ? $15/$7 : 0)}'
	done
done
