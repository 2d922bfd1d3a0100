#!/usr/bin/env bash
# Server CPU per operation, ns against redis-server in one run (issue 16):
# redis-benchmark over RESP against a one-node nsnode (--resp-addr) and
# against redis-server, SET and GET, pipeline 1 and 16, 64-byte values.
# CPU per op is the server process's utime+stime (/proc/PID/stat) over a
# run divided by the run's operations. Each (test, pipeline) is run REPEATS
# times, the two servers alternating (which goes first alternates too), and
# the table shows the median of each column: ops/s, p50, p99, p99.9, CPU
# us/op and the ratios ns/redis. The raw runs go to stderr.
#
#   scripts/bench-cpu.sh                  # or: make bench-cpu
#   REPEATS=5 N=400000 scripts/bench-cpu.sh
#
# Environment: N (ops per run, default 200000), TESTS (set,get), CLIENTS
# (50), SIZE (value bytes, 64), KEYS (key space, 100000), PIPELINES
# ("1 16"), REPEATS (3), REDIS_PORT (6398), NS_PORT_BASE (17720: gRPC, +1
# gossip, +2 admin HTTP, +3 RESP), NSNODE (./bin/nsnode), NS_FLAGS (extra
# nsnode flags, e.g. "--workers 1").
# Resolution: clock ticks of 10 ms over N ops, 0.05 us/op at N = 200000.
# Needs redis-server and redis-benchmark (installed with apt-get when the
# script runs as root and they are missing).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-200000}
TESTS=${TESTS:-set,get}
CLIENTS=${CLIENTS:-50}
SIZE=${SIZE:-64}
KEYS=${KEYS:-100000}
PIPELINES=${PIPELINES:-"1 16"}
REPEATS=${REPEATS:-3}
REDIS_PORT=${REDIS_PORT:-6398}
base=${NS_PORT_BASE:-17720}
NS_RESP_PORT=$((base + 3))
NSNODE=${NSNODE:-./bin/nsnode}
NSCTL=${NSCTL:-./bin/nsctl}

. scripts/bench-lib.sh
bench_begin

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(redis-server --version | cut -d' ' -f1-3); $("$NSNODE" --version 2>/dev/null || echo "nsnode ?"); N=$N clients=$CLIENTS value=${SIZE}B keys=$KEYS repeats=$REPEATS" >&2
for P in $PIPELINES; do
	for t in ${TESTS//,/ }; do
		for r in $(seq 1 "$REPEATS"); do
			if [ $((r % 2)) = 1 ]; then order="redis ns"; else order="ns redis"; fi
			for srv in $order; do
				if [ "$srv" = redis ]; then
					resp_bench redis "$REDIS_PORT" "$redis_pid" "$P" "$t"
				else
					resp_bench ns "$NS_RESP_PORT" "$ns_pid" "$P" "$t"
				fi
			done
		done
	done
done | tee "$work/results" >&2

# col SERVER TEST P FIELD: the median of FIELD over the repeats.
col() { awk -v s="$1" -v t="$2" -v p="$3" -v f="$4" '$1==s && $2==t && $3==p {print $f}' "$work/results" | median; }

printf '%-4s %3s | %11s %7s %7s %7s %6s | %11s %7s %7s %7s %6s | %8s %8s\n' op P "redis ops/s" "p50 ms" "p99 ms" "p99.9" "us/op" "ns ops/s" "p50 ms" "p99 ms" "p99.9" "us/op" "ops ns/r" "cpu ns/r"
for P in $PIPELINES; do
	for t in ${TESTS//,/ }; do
		echo "$t $P $(col redis "$t" "$P" 4) $(col redis "$t" "$P" 5) $(col redis "$t" "$P" 6) $(col redis "$t" "$P" 8) $(col redis "$t" "$P" 7)" \
			"$(col ns "$t" "$P" 4) $(col ns "$t" "$P" 5) $(col ns "$t" "$P" 6) $(col ns "$t" "$P" 8) $(col ns "$t" "$P" 7)" |
			awk '{printf "%-4s %3s | %11.0f %7.3f %7.3f %7.3f %6.2f | %11.0f %7.3f %7.3f %7.3f %6.2f | %7.2fx %7.2fx\n",
				$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $8/$3, ($7 > 0 ? $12/$7 : 0)}'
	done
done
echo "(medians of $REPEATS runs each; CPU us/op = server utime+stime / ops)"
