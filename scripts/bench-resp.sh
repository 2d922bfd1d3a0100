#!/usr/bin/env bash
# redis-benchmark against a one-node nsnode over the Redis protocol (RESP),
# against redis-server, and (redis-benchmark --cluster) against a cluster of
# CLUSTER_NODES nsnodes with --resp-cluster, side by side, same clients,
# pipelining, value size and key space: ops/s, p50 and p99 latency, and
# server CPU per operation (utime+stime of the server processes over each
# run, from /proc/PID/stat, divided by the run's operations).
#
#   scripts/bench-resp.sh                  # or: make bench-resp
#   N=100000 PIPELINES=16 scripts/bench-resp.sh
#
# Environment: N (ops per test, default 200000), TESTS (set,get,incr),
# CLIENTS (50), SIZE (value bytes, 64), KEYS (key space, 100000), PIPELINES
# ("1 16"), REDIS_PORT (6399), NS_PORT_BASE (17700: gRPC, +1 gossip, +2
# admin HTTP, +3 RESP; the cluster's node i from base+10+4i), CLUSTER_NODES
# (3; 0 leaves the cluster column out), NSNODE (default ./bin/nsnode).
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

CLUSTER_NODES=${CLUSTER_NODES:-3}
cbase=$((base + 10))
cluster_ports=()
for ((i = 0; i < CLUSTER_NODES; i++)); do
	cluster_ports+=($((cbase + 4 * i)) $((cbase + 4 * i + 2)) $((cbase + 4 * i + 3)))
done
require_free_ports "$REDIS_PORT" "$base" $((base + 2)) "$NS_RESP_PORT" "${cluster_ports[@]}"

work=$(mktemp -d)
redis_pid="" ns_pid=""
cluster_pids=()
# The cluster's nodes are SIGKILLed: a graceful leave of the last ones has
# nowhere to hand off to, and the benchmark's data is not kept.
cluster_cleanup() {
	local p
	for p in "${cluster_pids[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
}
trap 'cluster_cleanup; bench_cleanup' EXIT

start_resp_servers

ready() { # ready PORT: PONG within 10s
	for _ in $(seq 1 100); do
		[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] && return 0
		sleep 0.1
	done
	echo "not ready: port $1" >&2; cat "$work"/*.log >&2; exit 1
}
for ((i = 0; i < CLUSTER_NODES; i++)); do
	b=$((cbase + 4 * i)) join=()
	[ "$i" -gt 0 ] && join=(--join "127.0.0.1:$((cbase + 1))")
	"$NSNODE" --node-id "c$i" --grpc-addr "127.0.0.1:$b" --gossip-addr "127.0.0.1:$((b + 1))" \
		--http-addr "127.0.0.1:$((b + 2))" --resp-addr "127.0.0.1:$((b + 3))" --resp-cluster "${join[@]}" \
		--log-level warn >"$work/cluster$i.log" 2>&1 &
	cluster_pids+=($!)
done

for ((i = 0; i < CLUSTER_NODES; i++)); do ready $((cbase + 4 * i + 3)); done
# Every cluster node knows every other, at one epoch.
for _ in $(seq 1 100); do
	agreed=$(for ((i = 0; i < CLUSTER_NODES; i++)); do
		redis-cli -h 127.0.0.1 -p $((cbase + 4 * i + 3)) cluster info 2>/dev/null |
			tr -d '\r' | awk -F: '$1=="cluster_known_nodes" || $1=="cluster_current_epoch" {printf "%s ", $2}'
		echo
	done | sort -u)
	[ "$CLUSTER_NODES" = 0 ] || { [ "$(echo "$agreed" | wc -l)" = 1 ] && [ "${agreed%% *}" = "$CLUSTER_NODES" ]; } && break
	sleep 0.1
done

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(redis-server --version | cut -d' ' -f1-3); N=$N clients=$CLIENTS value=${SIZE}B keys=$KEYS" >&2
for P in $PIPELINES; do
	for t in ${TESTS//,/ }; do
		echo "pipeline $P, $t..." >&2
		resp_bench redis "$REDIS_PORT" "$redis_pid" "$P" "$t" >>"$work/results"
		resp_bench ns "$NS_RESP_PORT" "$ns_pid" "$P" "$t" >>"$work/results"
		if [ "$CLUSTER_NODES" -gt 0 ]; then
			resp_bench nsc $((cbase + 3)) "${cluster_pids[*]}" "$P" "$t" --cluster >>"$work/results"
		fi
	done
done

printf '%-5s %3s | %11s %7s %7s %7s | %11s %7s %7s %7s | %8s %8s' op P "redis ops/s" "p50 ms" "p99 ms" "us/op" "ns ops/s" "p50 ms" "p99 ms" "us/op" "ops ns/r" "cpu ns/r"
[ "$CLUSTER_NODES" -gt 0 ] && printf ' | %11s %7s %7s %7s' "ns${CLUSTER_NODES}c ops/s" "p50 ms" "p99 ms" "us/op"
echo
for P in $PIPELINES; do
	for t in ${TESTS//,/ }; do
		r=$(awk -v t="$t" -v p="$P" '$1=="redis" && $2==t && $3==p' "$work/results")
		n=$(awk -v t="$t" -v p="$P" '$1=="ns" && $2==t && $3==p' "$work/results")
		echo "$r $n" | awk '{printf "%-5s %3s | %11.0f %7.3f %7.3f %7.2f | %11.0f %7.3f %7.3f %7.2f | %7.2fx %7.2fx",
			$2, $3, $4, $5, $6, $7, $12, $13, $14, $15, $12/$4, ($7 > 0 ? $15/$7 : 0)}'
		if [ "$CLUSTER_NODES" -gt 0 ]; then
			awk -v t="$t" -v p="$P" '$1=="nsc" && $2==t && $3==p {printf " | %11.0f %7.3f %7.3f %7.2f", $4, $5, $6, $7}' "$work/results"
		fi
		echo
	done
done
