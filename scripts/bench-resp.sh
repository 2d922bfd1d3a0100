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
# (3; 0 leaves the cluster column out), NSNODE (default ./bin/nsnode), OLRIC
# (1: Olric 0.5.7's olricd, built from the Go module proxy into ./bin/olricd
# when missing, on base+40 (memberlist +42), set and get only, as DM.PUT and
# DM.GET; 0 leaves its column out; a failed build says so and leaves it out).
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

OLRIC=${OLRIC:-1}
OLRIC_PORT=$((base + 40))
[ "$OLRIC" = 1 ] && require_free_ports "$OLRIC_PORT" $((OLRIC_PORT + 2))

work=$(mktemp -d)
redis_pid="" ns_pid="" olric_pid=""
cluster_pids=()
# The cluster's nodes are SIGKILLed: a graceful leave of the last ones has
# nowhere to hand off to, and the benchmark's data is not kept.
cluster_cleanup() {
	local p
	for p in "${cluster_pids[@]}" $olric_pid; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
}
trap 'cluster_cleanup; bench_cleanup' EXIT

start_resp_servers

if [ "$OLRIC" = 1 ] && [ ! -x bin/olricd ]; then
	root=$PWD
	mkdir -p "$work/olric" bin
	printf 'module olricbuild\n\ngo 1.26\n\nrequire github.com/buraksezer/olric v0.5.7\n' >"$work/olric/go.mod"
	echo "building olricd (github.com/buraksezer/olric v0.5.7) into bin/olricd..." >&2
	if ! (cd "$work/olric" && GOFLAGS=-mod=mod GOWORK=off go build -o "$root/bin/olricd" github.com/buraksezer/olric/cmd/olricd) >"$work/olric-build.log" 2>&1; then
		echo "WARNING: Olric v0.5.7 did not build; its column is left out. The build said:" >&2
		tail -5 "$work/olric-build.log" >&2
		OLRIC=0
	fi
fi
if [ "$OLRIC" = 1 ]; then
	cat >"$work/olricd.yaml" <<YAML
olricd:
  bindAddr: 127.0.0.1
  bindPort: $OLRIC_PORT
  partitionCount: 271
  replicaCount: 1
  writeQuorum: 1
  readQuorum: 1
  memberCountQuorum: 1
logging:
  verbosity: 1
  level: WARN
  output: stderr
memberlist:
  environment: local
  bindAddr: 127.0.0.1
  bindPort: $((OLRIC_PORT + 2))
YAML
	bin/olricd -c "$work/olricd.yaml" >"$work/olric.log" 2>&1 &
	olric_pid=$!
	ok=""
	for _ in $(seq 1 100); do
		[ "$(redis-cli -h 127.0.0.1 -p "$OLRIC_PORT" DM.PUT bench ready 1 2>/dev/null)" = OK ] && { ok=1; break; }
		sleep 0.1
	done
	[ -n "$ok" ] || { echo "WARNING: olricd did not accept DM.PUT within 10s; its column is left out" >&2; tail -5 "$work/olric.log" >&2; OLRIC=0; }
fi
if [ "$OLRIC" = 1 ]; then
	# Olric answers DM.GET of a missing key with an error, which stops
	# redis-benchmark (Redis answers nil): write every key of the key space
	# first (redis-benchmark's __rand_int__ is 12 digits, zero-padded).
	# --pipe ends with an ECHO Olric does not know; its error reply still
	# says every write before it was answered.
	awk -v n="$KEYS" -v size="$SIZE" 'BEGIN {
		v = sprintf("%*s", size, ""); gsub(/ /, "x", v)
		for (i = 0; i < n; i++) {
			k = sprintf("key:%012d", i)
			printf "*4\r\n$6\r\nDM.PUT\r\n$5\r\nbench\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, size, v
		}
	}' | redis-cli -h 127.0.0.1 -p "$OLRIC_PORT" --pipe >/dev/null 2>&1 || true
fi

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
		if [ "$OLRIC" = 1 ]; then
			olric_bench olric "$OLRIC_PORT" "$olric_pid" "$P" "$t" >>"$work/results"
		fi
	done
done

printf '%-5s %3s | %11s %7s %7s %7s | %11s %7s %7s %7s | %8s %8s' op P "redis ops/s" "p50 ms" "p99 ms" "us/op" "ns ops/s" "p50 ms" "p99 ms" "us/op" "ops ns/r" "cpu ns/r"
[ "$CLUSTER_NODES" -gt 0 ] && printf ' | %11s %7s %7s %7s' "ns${CLUSTER_NODES}c ops/s" "p50 ms" "p99 ms" "us/op"
[ "$OLRIC" = 1 ] && printf ' | %11s %7s %7s %7s' "olric ops/s" "p50 ms" "p99 ms" "us/op"
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
		if [ "$OLRIC" = 1 ]; then
			awk -v t="$t" -v p="$P" '$1=="olric" && $2==t && $3==p {f = 1; printf " | %11.0f %7.3f %7.3f %7.2f", $4, $5, $6, $7}
				END {if (!f) printf " | %11s %7s %7s %7s", "-", "-", "-", "-"}' "$work/results"
		fi
		echo
	done
done
