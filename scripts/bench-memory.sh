#!/usr/bin/env bash
# Memory per key and GC pauses, ns against redis-server in one run (issue
# 16): both servers get the same KEYS keys (key:<i>, SIZE-byte values)
# through redis-cli --pipe, then a workload of redis-benchmark SETs and
# GETs over them. Reported per server: the resident set (VmRSS) grown by
# the fill, per key (DBSIZE); Redis's used_memory per key beside it; and for
# ns the Go GC's stop-the-world pauses over the fill and the workload (the
# go_gc_duration_seconds summary of the node's /metrics: the last 256
# pauses; with the few GCs of a large heap its quantile 1 is the max) and
# how many GCs ran.
#
#   scripts/bench-memory.sh                  # or: make bench-memory
#   KEYS=10000000 scripts/bench-memory.sh    # the issue's 10M-key GC figure
#
# Environment: KEYS (1000000), SIZE (64), OPS (workload operations, 2000000),
# REDIS_PORT (6398), NS_PORT_BASE (17720), NSNODE (./bin/nsnode), NS_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/.."

KEYS=${KEYS:-1000000}
SIZE=${SIZE:-64}
OPS=${OPS:-2000000}
CLIENTS=50
REDIS_PORT=${REDIS_PORT:-6398}
base=${NS_PORT_BASE:-17720}
NS_RESP_PORT=$((base + 3))
NSNODE=${NSNODE:-./bin/nsnode}
NSCTL=${NSCTL:-./bin/nsctl}

. scripts/bench-lib.sh
bench_begin
redis-cli -p "$REDIS_PORT" del bench:ready >/dev/null
redis-cli -p "$NS_RESP_PORT" del bench:ready >/dev/null

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# gc NAME: the node's go_gc_duration_seconds line NAME (a quantile, _count).
gc() { http_get "http://127.0.0.1:$((base + 2))/metrics" | awk -v n="$1" '$1 == n {print $2}'; }
# http_get URL: GET over bash's /dev/tcp (a fresh machine has no curl).
http_get() {
	local hostport=${1#http://} path
	path=/${hostport#*/}
	hostport=${hostport%%/*}
	exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
	printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
	cat <&3
	exec 3<&-
}

# The fill: KEYS SETs in Redis's wire format, written once, piped to both.
value=$(head -c "$SIZE" /dev/zero | tr '\0' v)
awk -v n="$KEYS" -v v="$value" 'BEGIN {
	for (i = 0; i < n; i++) { k = "key:" i; printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v }
}' >"$work/fill"

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(redis-server --version | cut -d' ' -f1-3); keys=$KEYS value=${SIZE}B ops=$OPS" >&2
gc0=$(gc go_gc_duration_seconds_count)
for srv in redis ns; do
	if [ "$srv" = redis ]; then port=$REDIS_PORT pid=$redis_pid; else port=$NS_RESP_PORT pid=$ns_pid; fi
	before=$(rss_kib "$pid")
	start=$(date +%s.%N)
	redis-cli -p "$port" --pipe <"$work/fill" >"$work/pipe.$srv" 2>&1 || { cat "$work/pipe.$srv" >&2; exit 1; }
	took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
	sleep 1 # let the heap settle
	after=$(rss_kib "$pid")
	keys=$(redis-cli -p "$port" dbsize)
	used=$(redis-cli -p "$port" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
	echo "$srv fill ${took}s keys $keys rss_before_kib $before rss_after_kib $after used_memory ${used:-?}" >&2
	echo "$srv $keys $before $after ${used:-0}" >>"$work/mem"
done
# The workload on ns: overwrites and reads of the same keys while the GC runs.
redis-benchmark -p "$NS_RESP_PORT" -t set,get -c "$CLIENTS" -n "$OPS" -r "$KEYS" -d "$SIZE" -P 16 -q >/dev/null 2>&1
gcs=$(( $(gc go_gc_duration_seconds_count) - gc0 ))

printf '%-6s | %9s | %9s %9s | %12s | %11s\n' server keys "RSS MiB" "RSS B/key" "used_memory" "used B/key"
awk '{
	rss = ($4 - $3) * 1024
	printf "%-6s | %9d | %9.0f %9.0f | %12s | %11s\n", $1, $2, $4 / 1024, rss / $2,
		($5 > 0 ? sprintf("%.0f MiB", $5 / 1048576) : "-"), ($5 > 0 ? sprintf("%.0f", $5 / $2) : "-")
}' "$work/mem"
echo "ns GC over the fill and $OPS ops (-P 16): $gcs GCs; pause p50 $(gc 'go_gc_duration_seconds{quantile="0.5"}')s, p75 $(gc 'go_gc_duration_seconds{quantile="0.75"}')s, max $(gc 'go_gc_duration_seconds{quantile="1"}')s (of the last 256)"
echo "(RSS B/key: VmRSS grown by the fill over DBSIZE; ns's used_memory is what its INFO reports)"
