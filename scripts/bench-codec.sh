#!/usr/bin/env bash
# The gRPC codec, end to end (issue 16): nsctl bench against a one-node
# nsnode built with the standard protobuf codec and one built with the
# vtprotobuf codec (wire/vtcodec), both running, the runs alternating
# (which goes first alternates too). Server CPU per operation is nsnode's
# utime+stime (/proc/PID/stat) over a run divided by its operations; client
# CPU per operation is nsctl's (bash's time). Each (op, pipeline) runs
# REPEATS times per build; the table shows medians. Raw runs go to stderr.
#
#   git archive <commit-without-vtcodec> | tar -x -C /tmp/std
#   (cd /tmp/std && go build -o /tmp/nsnode-std ./cmd/nsnode && go build -o /tmp/nsctl-std ./cmd/nsctl)
#   make bins
#   NSNODE_A=/tmp/nsnode-std NSCTL_A=/tmp/nsctl-std NSNODE_B=./bin/nsnode NSCTL_B=./bin/nsctl scripts/bench-codec.sh
#
# Environment: NSNODE_A, NSCTL_A (build A, named NAME_A, default
# "standard"), NSNODE_B, NSCTL_B (build B, NAME_B, default "vt"), N (ops
# per run, 300000), OPS (put,get), CLIENTS (50), SIZE (64), KEYS (100000),
# PIPELINES ("16"), REPEATS (3), NS_PORT_BASE (17820: A on base..base+2, B
# on base+10..base+12: gRPC, gossip, admin HTTP).
# Resolution: clock ticks of 10 ms over N ops, 0.03 us/op at N = 300000.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-300000}
OPS=${OPS:-put,get}
CLIENTS=${CLIENTS:-50}
SIZE=${SIZE:-64}
KEYS=${KEYS:-100000}
PIPELINES=${PIPELINES:-16}
REPEATS=${REPEATS:-3}
NAME_A=${NAME_A:-standard}
NAME_B=${NAME_B:-vt}
base=${NS_PORT_BASE:-17820}

. scripts/bench-lib.sh
for b in "${NSNODE_A:?}" "${NSCTL_A:?}" "${NSNODE_B:?}" "${NSCTL_B:?}"; do
	[ -x "$b" ] || { echo "missing $b" >&2; exit 1; }
done
require_free_ports "$base" $((base + 1)) $((base + 2)) $((base + 10)) $((base + 11)) $((base + 12))

work=$(mktemp -d)
pid_a="" pid_b=""
cleanup() {
	local p
	for p in "$pid_a" "$pid_b"; do
		[ -n "$p" ] && kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT

# start NODE PORT: a one-node nsnode on PORT (gRPC), PORT+1 (gossip),
# PORT+2 (admin), no RESP; sets $started to its pid.
start() {
	"$1" --node-id "bench$2" --grpc-addr "127.0.0.1:$2" --gossip-addr "127.0.0.1:$(($2 + 1))" \
		--http-addr "127.0.0.1:$(($2 + 2))" --resp-addr "" --log-level warn >"$work/nsnode-$2.log" 2>&1 &
	started=$!
}
start "$NSNODE_A" "$base"
pid_a=$started
start "$NSNODE_B" $((base + 10))
pid_b=$started
for port in "$base" $((base + 10)); do
	ok=""
	for _ in $(seq 1 100); do
		if [ "$port" = "$base" ]; then ctl=$NSCTL_A; else ctl=$NSCTL_B; fi
		"$ctl" --endpoints "127.0.0.1:$port" put bench:ready 1 >/dev/null 2>&1 && { ok=1; break; }
		sleep 0.1
	done
	[ -n "$ok" ] || { echo "not ready: port $port" >&2; cat "$work"/*.log >&2; exit 1; }
done

# run NAME NSCTL PORT PID OP P: one nsctl bench phase; prints "name op P
# ops/s p50_ms p99_ms server_us_per_op client_us_per_op".
run() {
	local name=$1 ctl=$2 port=$3 pid=$4 op=$5 p=$6 before after line cli tck
	tck=$(getconf CLK_TCK)
	before=$(cpu_ticks "$pid")
	TIMEFORMAT='%U %S'
	{ time "$ctl" --endpoints "127.0.0.1:$port" bench --ops "$op" -c "$CLIENTS" -n "$N" --value-size "$SIZE" \
		--pipeline "$p" --keys "$KEYS" --no-progress >"$work/out" 2>/dev/null; } 2>"$work/time"
	after=$(cpu_ticks "$pid")
	line=$(awk -v op="$op" '$1 == op {print $5, $6, $8}' "$work/out")
	cli=$(awk -v n="$N" '{printf "%.2f", ($1 + $2) / n * 1e6}' "$work/time")
	echo "$name $op $p $line $(awk -v t="$((after - before))" -v hz="$tck" -v n="$N" 'BEGIN {printf "%.2f", t / hz / n * 1e6}') $cli"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); A=$NAME_A ($NSNODE_A) B=$NAME_B ($NSNODE_B); N=$N clients=$CLIENTS value=${SIZE}B keys=$KEYS repeats=$REPEATS" >&2
for P in $PIPELINES; do
	for op in ${OPS//,/ }; do
		for r in $(seq 1 "$REPEATS"); do
			if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
			for x in $order; do
				if [ "$x" = A ]; then
					run "$NAME_A" "$NSCTL_A" "$base" "$pid_a" "$op" "$P"
				else
					run "$NAME_B" "$NSCTL_B" $((base + 10)) "$pid_b" "$op" "$P"
				fi
			done
		done
	done
done | tee "$work/results" >&2

col() { awk -v s="$1" -v o="$2" -v p="$3" -v f="$4" '$1==s && $2==o && $3==p {print $f}' "$work/results" | median; }
printf '%-4s %3s | %-9s %9s %7s %7s %9s %9s | %-9s %9s %7s %7s %9s %9s | %7s %7s\n' op P build "ops/s" "p50 ms" "p99 ms" "srv us/op" "cli us/op" build "ops/s" "p50 ms" "p99 ms" "srv us/op" "cli us/op" "srv B/A" "cli B/A"
for P in $PIPELINES; do
	for op in ${OPS//,/ }; do
		echo "$op $P $NAME_A $(col "$NAME_A" "$op" "$P" 4) $(col "$NAME_A" "$op" "$P" 5) $(col "$NAME_A" "$op" "$P" 6) $(col "$NAME_A" "$op" "$P" 7) $(col "$NAME_A" "$op" "$P" 8)" \
			"$NAME_B $(col "$NAME_B" "$op" "$P" 4) $(col "$NAME_B" "$op" "$P" 5) $(col "$NAME_B" "$op" "$P" 6) $(col "$NAME_B" "$op" "$P" 7) $(col "$NAME_B" "$op" "$P" 8)" |
			awk '{printf "%-4s %3s | %-9s %9.0f %7.3f %7.3f %9.2f %9.2f | %-9s %9.0f %7.3f %7.3f %9.2f %9.2f | %6.2fx %6.2fx\n",
				$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, ($7 > 0 ? $13/$7 : 0), ($8 > 0 ? $14/$8 : 0)}'
	done
done
echo "(medians of $REPEATS runs each; srv us/op = nsnode utime+stime / ops, cli us/op = nsctl user+sys / ops)"
