#!/usr/bin/env bash
# Benchmark ns puts per durability mode (in memory, --fsync never, batch,
# always) next to redis-server SETs with the matching persistence (no AOF,
# appendonly with appendfsync no / everysec / always), one-node servers on
# this machine, same clients, pipelining, value size and key space. Then
# (RECOVERY=1, the default) measure how long an nsnode takes to recover a
# data directory holding about RECOVERY_MB MiB of data after a SIGKILL.
#
#   scripts/bench-durability.sh          # or: make bench-durability
#   REPS=1 DURATION=3s scripts/bench-durability.sh
#
# Environment: REPS (3; medians are printed), DURATION (per ns run, 5s),
# REDIS_N (requests per redis run, 200000; always-mode runs use a tenth),
# CLIENTS (50), SIZE (64), KEYS (100000), PIPELINES ("1 16"), THROUGHPUT (1:
# run the put comparison), RECOVERY (1),
# RECOVERY_MB (1024), REDIS_PORT (6399), NS_PORT_BASE (17800), DATA (a
# directory on the disk to measure; default a temporary one under
# ${TMPDIR:-/tmp}).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
DURATION=${DURATION:-5s}
REDIS_N=${REDIS_N:-200000}
CLIENTS=${CLIENTS:-50}
SIZE=${SIZE:-64}
KEYS=${KEYS:-100000}
PIPELINES=${PIPELINES:-"1 16"}
THROUGHPUT=${THROUGHPUT:-1}
RECOVERY=${RECOVERY:-1}
RECOVERY_MB=${RECOVERY_MB:-1024}
REDIS_PORT=${REDIS_PORT:-6399}
base=${NS_PORT_BASE:-17800}
NS_GRPC=127.0.0.1:$base
NS_GOSSIP=127.0.0.1:$((base + 1))
NS_HTTP=127.0.0.1:$((base + 2))
NSNODE=${NSNODE:-./bin/nsnode}
NSCTL=${NSCTL:-./bin/nsctl}

. scripts/bench-lib.sh
need_redis_and_ns

work=$(mktemp -d)
DATA=${DATA:-$work}
redis_pid="" ns_pid=""
stop_ns() { [ -n "$ns_pid" ] && kill -"${1:-TERM}" "$ns_pid" 2>/dev/null && wait "$ns_pid" 2>/dev/null || true; ns_pid=""; }
stop_redis() { [ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true; redis_pid=""; }
cleanup() { stop_ns KILL; stop_redis; rm -rf "$work"; [ "$DATA" = "$work" ] || rm -rf "$DATA"/ns-*; }
trap cleanup EXIT

ready() { # ready CMD...: poll for 60s
	for _ in $(seq 1 600); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	echo "not ready: $*" >&2; cat "$work"/*.log >&2; exit 1
}

# start_ns MODE: a fresh one-node nsnode; MODE memory or an --fsync mode.
start_ns() {
	local args=()
	if [ "$1" != memory ]; then
		rm -rf "$DATA/ns-$1"
		args=(--data-dir "$DATA/ns-$1" --fsync "$1")
	fi
	"$NSNODE" --node-id bench --grpc-addr "$NS_GRPC" --gossip-addr "$NS_GOSSIP" --http-addr "$NS_HTTP" --resp-addr "" \
		--log-level warn "${args[@]}" >"$work/nsnode-$1.log" 2>&1 &
	ns_pid=$!
	ready "$NSCTL" --endpoints "$NS_GRPC" health
}

# start_redis MODE: redis-server with MODE none (no AOF) or an appendfsync policy.
start_redis() {
	local args=(--appendonly no)
	[ "$1" != none ] && args=(--appendonly yes --appendfsync "$1" --dir "$work/redis-$1")
	mkdir -p "$work/redis-$1"
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --daemonize no \
		--logfile "$work/redis-$1.log" "${args[@]}" &
	redis_pid=$!
	ready redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
}

# ns_put P: "ops/s p50_ms p99_ms" of a put phase.
ns_put() {
	"$NSCTL" --endpoints "$NS_GRPC" --timeout 30s bench --ops put -c "$CLIENTS" --duration "$DURATION" \
		--value-size "$SIZE" --pipeline "$1" --keys "$KEYS" --no-progress |
		awk '$1=="put" {print $5, $6, $8}'
}

# redis_set P N: "ops/s p50_ms p99_ms" of a SET run.
redis_set() {
	redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -t set -c "$CLIENTS" -n "$2" -d "$SIZE" -P "$1" -r "$KEYS" --csv |
		tr -d '"' | awk -F, '$1=="SET" {print $2, $5, $7}'
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); data on $(df --output=source,fstype "$DATA" | tail -1); clients=$CLIENTS value=${SIZE}B keys=$KEYS reps=$REPS" >&2
[ "$THROUGHPUT" = 1 ] || PIPELINES=""
for mode in memory never batch always; do
	for P in $PIPELINES; do
		for r in $(seq 1 "$REPS"); do
			echo "ns $mode, pipeline $P, repetition $r/$REPS..." >&2
			start_ns "$mode"
			ns_put "$P" >>"$work/res-ns-$mode-$P"
			stop_ns
		done
	done
done
for mode in none no everysec always; do
	n=$REDIS_N
	[ "$mode" = always ] && n=$((REDIS_N / 10))
	for P in $PIPELINES; do
		for r in $(seq 1 "$REPS"); do
			echo "redis appendfsync=$mode, pipeline $P, repetition $r/$REPS..." >&2
			start_redis "$mode"
			redis_set "$P" "$n" >>"$work/res-redis-$mode-$P"
			stop_redis
			rm -rf "$work/redis-$mode"
		done
	done
done

col() { awk -v c="$2" '{print $c}' "$1" | median; }
[ -z "$PIPELINES" ] || printf '%-34s %3s | %10s %9s %9s\n' "server (durability)" P "ops/s" "p50 ms" "p99 ms"
for P in $PIPELINES; do
	for s in ns-memory:"ns, in memory" ns-never:"ns --fsync never" ns-batch:"ns --fsync batch" ns-always:"ns --fsync always" \
		redis-none:"redis, no AOF" redis-no:"redis AOF appendfsync no" redis-everysec:"redis AOF appendfsync everysec" redis-always:"redis AOF appendfsync always"; do
		f="$work/res-${s%%:*}-$P"
		printf '%-34s %3s | %10.0f %9.3f %9.3f\n' "${s#*:}" "$P" "$(col "$f" 1)" "$(col "$f" 2)" "$(col "$f" 3)"
	done
done

[ "$RECOVERY" = 1 ] || exit 0
# Recovery: about RECOVERY_MB MiB of 64 KiB values (random keys, some
# overwritten), --fsync batch, SIGKILL, restart.
n=$((RECOVERY_MB * 24))
echo "recovery: writing $n values of 64 KiB..." >&2
start_ns batch
"$NSCTL" --endpoints "$NS_GRPC" --timeout 60s bench --ops put -c 8 -n "$n" --value-size 65536 --keys "$n" \
	--no-progress >/dev/null
du_mb=$(du -sm "$DATA/ns-batch" | cut -f1)
nkeys() { "$NSCTL" --endpoints "$NS_GRPC" stats -o json 2>/dev/null | grep -o '"keys": *[0-9]*' | grep -o '[0-9]*$' | head -1; }
before=$(nkeys)
stop_ns KILL
sync
t0=$(date +%s.%N)
"$NSNODE" --node-id bench --grpc-addr "$NS_GRPC" --gossip-addr "$NS_GOSSIP" --http-addr "$NS_HTTP" --resp-addr "" \
	--log-level info --data-dir "$DATA/ns-batch" >"$work/nsnode-recover.log" 2>&1 &
ns_pid=$!
# readyz: /readyz answers 200 (plain bash, no curl needed).
readyz() {
	exec 3<>"/dev/tcp/127.0.0.1/$((base + 2))" || return 1
	printf 'GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n' >&3
	local status
	read -r _ status _ <&3 || true
	exec 3<&-
	[ "$status" = 200 ]
}
for _ in $(seq 1 6000); do
	readyz 2>/dev/null && break
	sleep 0.05
done
t1=$(date +%s.%N)
took=$(grep -o 'msg="data directory recovered".*' "$work/nsnode-recover.log" | grep -o 'took=[^ ]*' | head -1)
keys=$(nkeys)
stop_ns
printf 'recovery: %s MiB on disk (%d puts of 64 KiB), log replay %s, start to ready %.2fs, keys %s before the kill, %s after the restart\n' \
	"$du_mb" "$n" "${took#took=}" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b-a}')" "$before" "$keys"
