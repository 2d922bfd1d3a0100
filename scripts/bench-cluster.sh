#!/usr/bin/env bash
# KV put and get through the Go SDK (nsctl bench) against a 1-node and a
# 3-node loopback cluster, unbatched (one call in flight per client) and
# batched (KV batches of 64), and print a table of ops/s and p50/p99.
#
#   scripts/bench-cluster.sh          # or: make bench-cluster
#   N=100000 scripts/bench-cluster.sh
#
# Environment: N (ops per run, default 200000), CLIENTS (50), SIZE (64),
# NSNODE/NSCTL (default ./bin/...), PORT_BASE (27700).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
CLIENTS=${CLIENTS:-50}
SIZE=${SIZE:-64}
NSNODE=${NSNODE:-./bin/nsnode}
NSCTL=${NSCTL:-./bin/nsctl}
base=${PORT_BASE:-27700}
for b in "$NSNODE" "$NSCTL"; do
	[ -x "$b" ] || { echo "missing $b: run make bins" >&2; exit 1; }
done

pids=()
work=$(mktemp -d)
stop_nodes() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap 'stop_nodes; rm -rf "$work"' EXIT

# start N: start N nodes on loopback and wait until every one is ready.
start() {
	local n=$1
	for i in $(seq 0 $((n - 1))); do
		args=(--node-id "b$i" --grpc-addr "127.0.0.1:$((base + i))" --gossip-addr "127.0.0.1:$((base + 100 + i))"
			--http-addr "127.0.0.1:$((base + 200 + i))" --resp-addr "" --log-level warn)
		[ "$i" -gt 0 ] && args+=(--join "127.0.0.1:$((base + 100))")
		"$NSNODE" "${args[@]}" >"$work/b$i.log" 2>&1 &
		pids+=($!)
	done
	local eps=""
	for i in $(seq 0 $((n - 1))); do eps+="127.0.0.1:$((base + i)),"; done
	endpoints=${eps%,}
	for _ in $(seq 1 200); do
		if "$NSCTL" --endpoints "$endpoints" health >/dev/null 2>&1 &&
			[ "$("$NSCTL" --endpoints "$endpoints" members -o json | grep -c '"alive"')" = "$n" ]; then
			return
		fi
		sleep 0.1
	done
	echo "cluster of $n did not become healthy" >&2
	exit 1
}

printf '%-6s %-5s %-22s %12s %9s %9s\n' nodes op mode ops/s p50_ms p99_ms
for nodes in 1 3; do
	start "$nodes"
	for mode in "unbatched:--pipeline 1" "pipelined16:--pipeline 16" "batch64:--batch 64"; do
		name=${mode%%:*}
		flags=${mode#*:}
		for op in put get; do
			# shellcheck disable=SC2086
			"$NSCTL" --endpoints "$endpoints" bench -n "$N" -c "$CLIENTS" --ops "$op" --value-size "$SIZE" \
				--keys 100000 $flags --no-progress -o json 2>/dev/null >"$work/r.json"
			python3 - "$nodes" "$op" "$name" "$work/r.json" <<'PY'
import json, sys
nodes, op, mode, path = sys.argv[1:5]
for r in json.load(open(path)):
    print(f"{nodes:<6} {r['op']:<5} {mode:<22} {r['ops_per_sec']:12.0f} {r['p50_us']/1e3:9.2f} {r['p99_us']/1e3:9.2f}")
PY
		done
	done
	stop_nodes
done
