#!/usr/bin/env bash
# Start or stop a local 3-node ns cluster on loopback.
#   scripts/cluster.sh start   # gRPC 7700-7702, gossip 7946-7948, admin 7780-7782, Redis 7379-7381
#   scripts/cluster.sh stop    # graceful: SIGTERM, then wait
# State (pids, logs) lives in .cluster/. NODES=5 starts more nodes.
# RESP_CLUSTER=1 starts them with --resp-cluster (Redis Cluster mode:
# redis-cli -c, go-redis ClusterClient; docs/resp.md), for a new cluster only.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.cluster
nodes=${NODES:-3}
bin=${NSNODE:-./bin/nsnode}

# ready PORT: the node's /readyz answers 200.
ready() {
	exec 3<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || return 1
	printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
	local line
	read -r line <&3 || true
	exec 3>&-
	[[ "$line" == *" 200 "* ]]
}

start() {
	mkdir -p "$dir"
	if compgen -G "$dir/*.pid" >/dev/null; then
		echo "a cluster seems to be running (see $dir/*.pid); run: make cluster-stop" >&2
		exit 1
	fi
	for i in $(seq 0 $((nodes - 1))); do
		args=(--node-id "n$((i + 1))" --grpc-addr "127.0.0.1:$((7700 + i))"
			--gossip-addr "127.0.0.1:$((7946 + i))" --http-addr "127.0.0.1:$((7780 + i))"
			--resp-addr "127.0.0.1:$((7379 + i))")
		[ "$i" -gt 0 ] && args+=(--join 127.0.0.1:7946)
		[ "${RESP_CLUSTER:-0}" = 1 ] && args+=(--resp-cluster)
		nohup "$bin" "${args[@]}" >"$dir/n$((i + 1)).log" 2>&1 &
		echo $! >"$dir/n$((i + 1)).pid"
	done
	for i in $(seq 0 $((nodes - 1))); do
		for _ in $(seq 1 100); do
			ready $((7780 + i)) && break
			sleep 0.1
		done
	done
	echo "ns cluster of $nodes nodes is up:"
	for i in $(seq 0 $((nodes - 1))); do
		echo "  n$((i + 1)): grpc 127.0.0.1:$((7700 + i))  gossip 127.0.0.1:$((7946 + i))  admin http://127.0.0.1:$((7780 + i))/  redis 127.0.0.1:$((7379 + i))  log $dir/n$((i + 1)).log"
	done
	echo "try:  ./bin/nsctl --endpoints 127.0.0.1:7700,127.0.0.1:7701,127.0.0.1:7702 members"
	[ "${RESP_CLUSTER:-0}" = 1 ] && echo "      redis-cli -c -p 7379 set foo bar   (Redis Cluster mode: follows MOVED)"
	echo "stop: make cluster-stop"
}

stop() {
	shopt -s nullglob
	pids=()
	for f in "$dir"/*.pid; do
		pid=$(cat "$f")
		if kill -TERM "$pid" 2>/dev/null; then pids+=("$pid"); fi
		rm -f "$f"
	done
	for pid in "${pids[@]}"; do
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	done
	echo "stopped ${#pids[@]} node(s)"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
