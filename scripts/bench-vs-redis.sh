#!/usr/bin/env bash
# Benchmark the ns KV service (nsctl bench against a 1-node nsnode) next to
# redis-server (redis-benchmark) on this machine, at the same concurrency,
# pipelining, value size and key space, and print both side by side.
#
#   scripts/bench-vs-redis.sh            # or: make bench-redis
#   N=200000 REPS=1 scripts/bench-vs-redis.sh
#   PROFILE=1 scripts/bench-vs-redis.sh  # also a 5s CPU profile of nsnode during put -P 16
#                                        # (to $PROFILE_OUT, default /tmp/nsnode-cpu.pprof)
#
# Environment: N (ops per test, default 1000000), REPS (repetitions, medians
# are printed; default 3), CLIENTS (50), SIZE (value bytes, 64), KEYS (key
# space, 100000), PIPELINES ("1 16"), REDIS_PORT (6399), NS_PORT_BASE (17700:
# gRPC, +1 gossip, +2 admin HTTP), NSNODE/NSCTL (default ./bin/...).
# Needs redis-server and redis-benchmark (Debian: redis-server redis-tools; the
# script installs them with apt-get when it runs as root and they are missing).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-1000000}
REPS=${REPS:-3}
CLIENTS=${CLIENTS:-50}
SIZE=${SIZE:-64}
KEYS=${KEYS:-100000}
PIPELINES=${PIPELINES:-"1 16"}
REDIS_PORT=${REDIS_PORT:-6399}
base=${NS_PORT_BASE:-17700}
NS_GRPC=127.0.0.1:$base
NS_GOSSIP=127.0.0.1:$((base + 1))
NS_HTTP=127.0.0.1:$((base + 2))
NSNODE=${NSNODE:-./bin/nsnode}
NSCTL=${NSCTL:-./bin/nsctl}
PROFILE=${PROFILE:-0}
PROFILE_OUT=${PROFILE_OUT:-${TMPDIR:-/tmp}/nsnode-cpu.pprof}

. scripts/bench-lib.sh
need_redis_and_ns

require_free_ports "$REDIS_PORT" "$base" $((base + 2))

work=$(mktemp -d)
redis_pid="" ns_pid=""
trap bench_cleanup EXIT

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
	--logfile "$work/redis.log" &
redis_pid=$!
"$NSNODE" --node-id bench --grpc-addr "$NS_GRPC" --gossip-addr "$NS_GOSSIP" --http-addr "$NS_HTTP" --resp-addr "" \
	--log-level warn >"$work/nsnode.log" 2>&1 &
ns_pid=$!

ready() { # ready CMD...: poll for 10s
	for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "not ready: $*" >&2; cat "$work"/*.log >&2; exit 1
}
ready redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
ready "$NSCTL" --endpoints "$NS_GRPC" health


# redis_run P: lines "set|get rps p50_ms p99_ms".
redis_run() {
	redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -t set,get -c "$CLIENTS" -n "$N" -d "$SIZE" -P "$1" -r "$KEYS" --csv |
		tr -d '"' | awk -F, '$1=="SET"||$1=="GET" {print tolower($1), $2, $5, $7}'
}

# ns_run P: lines "put|get ops/s p50_ms p99_ms".
ns_run() {
	"$NSCTL" --endpoints "$NS_GRPC" --timeout 30s bench --ops put,get -c "$CLIENTS" -n "$N" --value-size "$SIZE" \
		--pipeline "$1" --keys "$KEYS" --no-progress |
		awk '$1=="put"||$1=="get" {print $1, $5, $6, $8}'
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); N=$N clients=$CLIENTS value=${SIZE}B keys=$KEYS reps=$REPS" >&2
for P in $PIPELINES; do
	for r in $(seq 1 "$REPS"); do
		echo "pipeline $P, repetition $r/$REPS..." >&2
		redis_run "$P" >>"$work/redis-$P"
		if [ "$PROFILE" = 1 ] && [ "$P" = 16 ] && [ "$r" = 1 ]; then
			(sleep 1; curl -s -o "$work/cpu.pprof" "http://$NS_HTTP/debug/pprof/profile?seconds=5") &
			prof=$!
			ns_run "$P" >>"$work/ns-$P"
			wait "$prof"
			cp "$work/cpu.pprof" "$PROFILE_OUT"
			echo "CPU profile of nsnode: $PROFILE_OUT (go tool pprof -top $NSNODE $PROFILE_OUT)" >&2
		else
			ns_run "$P" >>"$work/ns-$P"
		fi
	done
done

printf '%-8s %3s | %12s %9s %9s | %12s %9s %9s | %7s\n' op P "redis ops/s" "p50 ms" "p99 ms" "ns ops/s" "p50 ms" "p99 ms" "ns/redis"
for P in $PIPELINES; do
	for op in set get; do
		nsop=$op
		[ "$op" = set ] && nsop=put
		rr=$(awk -v o="$op" '$1==o {print $2}' "$work/redis-$P" | median)
		r50=$(awk -v o="$op" '$1==o {print $3}' "$work/redis-$P" | median)
		r99=$(awk -v o="$op" '$1==o {print $4}' "$work/redis-$P" | median)
		nr=$(awk -v o="$nsop" '$1==o {print $2}' "$work/ns-$P" | median)
		n50=$(awk -v o="$nsop" '$1==o {print $3}' "$work/ns-$P" | median)
		n99=$(awk -v o="$nsop" '$1==o {print $4}' "$work/ns-$P" | median)
		printf '%-8s %3s | %12.0f %9.3f %9.3f | %12.0f %9.3f %9.3f | %6.2fx\n' "$op/$nsop" "$P" \
			"$rr" "$r50" "$r99" "$nr" "$n50" "$n99" "$(awk -v a="$nr" -v b="$rr" 'BEGIN {print a/b}')"
	done
done
