# Shared by the bench scripts (sourced, not run): the redis tools and the
# ns binaries they need, a median, the port check and the cleanup trap.

# need_redis_and_ns: redis-server and redis-benchmark (installed with
# apt-get when running as root), and the $NSNODE and $NSCTL binaries.
need_redis_and_ns() {
	if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			echo "installing redis-server and redis-tools..." >&2
			apt-get install -y redis-server redis-tools >/dev/null 2>&1 ||
				{ apt-get update >/dev/null && apt-get install -y redis-server redis-tools >/dev/null; }
		else
			echo "need redis-server and redis-benchmark: apt-get install -y redis-server redis-tools" >&2
			exit 1
		fi
	fi
	for b in "$NSNODE" "$NSCTL"; do
		[ -x "$b" ] || { echo "missing $b: run make bins" >&2; exit 1; }
	done
}

# median: the middle of the numbers on stdin.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# require_free_ports: exit unless every port given is free on loopback.
require_free_ports() {
	local p
	for p in "$@"; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "port $p is in use; set REDIS_PORT / NS_PORT_BASE" >&2
			exit 1
		fi
	done
}

# bench_cleanup: stop the servers started as $ns_pid and $redis_pid and
# remove $work; the scripts install it with trap bench_cleanup EXIT.
bench_cleanup() {
	[ -n "$ns_pid" ] && kill -TERM "$ns_pid" 2>/dev/null && wait "$ns_pid" 2>/dev/null || true
	[ -n "$redis_pid" ] && kill -TERM "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true
	rm -rf "$work"
}

# start_resp_servers: start redis-server on $REDIS_PORT and a one-node
# $NSNODE (gRPC $base, gossip +1, admin HTTP +2, RESP $NS_RESP_PORT, extra
# flags in $NS_FLAGS), logs in $work; set $redis_pid and $ns_pid (the
# server processes themselves) and wait until both accept writes.
start_resp_servers() {
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
		--logfile "$work/redis.log" &
	redis_pid=$!
	# shellcheck disable=SC2086 # NS_FLAGS is a list of flags
	"$NSNODE" --node-id bench --grpc-addr "127.0.0.1:$base" --gossip-addr "127.0.0.1:$((base + 1))" \
		--http-addr "127.0.0.1:$((base + 2))" --resp-addr "127.0.0.1:$NS_RESP_PORT" --log-level warn ${NS_FLAGS:-} >"$work/nsnode.log" 2>&1 &
	ns_pid=$!
	local port ok
	for port in "$REDIS_PORT" "$NS_RESP_PORT"; do
		ok=""
		# ns answers PING before its one-node cluster has formed: wait for a write.
		for _ in $(seq 1 100); do
			[ "$(redis-cli -h 127.0.0.1 -p "$port" set bench:ready 1 2>/dev/null)" = OK ] && { ok=1; break; }
			sleep 0.1
		done
		[ -n "$ok" ] || { echo "not ready: port $port" >&2; cat "$work"/*.log >&2; exit 1; }
	done
}

# bench_begin: what bench-cpu and bench-memory start with: the tools, free
# ports, a work directory ($work) removed on exit with both servers, and
# both servers started (start_resp_servers).
bench_begin() {
	need_redis_and_ns
	require_free_ports "$REDIS_PORT" "$base" $((base + 1)) $((base + 2)) "$NS_RESP_PORT"
	work=$(mktemp -d)
	redis_pid="" ns_pid=""
	trap bench_cleanup EXIT
	start_resp_servers
}

# cpu_ticks PID: utime+stime of the process in clock ticks (/proc/PID/stat).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# resp_bench NAME PORT PID P TEST: one redis-benchmark run ($CLIENTS
# clients, $N ops, $SIZE-byte values, $KEYS keys, pipeline P) and the
# server's CPU over it; prints "name test P ops/s p50_ms p99_ms
# cpu_us_per_op p99.9_ms" (p99.9: the first line of redis-benchmark's
# percentile distribution at 99.9% or more; its max when there is none).
resp_bench() {
	local extra=()
	[ -n "${6:-}" ] && extra=("$6")
	bench_run "$1" "$2" "$3" "$4" "$5" "${extra[@]}" -t "$5"
}

# olric_bench NAME PORT PID P TEST: resp_bench for Olric, whose keys live in
# a DMap and whose commands are its own: set is DM.PUT and get is DM.GET,
# through redis-benchmark's custom-command form (same clients, keys, values).
olric_bench() {
	local value
	value=$(head -c "$SIZE" /dev/zero | tr '\0' x)
	case "$5" in
	set) bench_run "$1" "$2" "$3" "$4" "$5" DM.PUT bench "key:__rand_int__" "$value" ;;
	get) bench_run "$1" "$2" "$3" "$4" "$5" DM.GET bench "key:__rand_int__" ;;
	*) ;; # not measured: the column shows "-"
	esac
}

# bench_run NAME PORT PIDS P TEST ARGS...: one redis-benchmark run with
# ARGS (-t TEST, or a custom command) against PORT, and the CPU of PIDS
# (space-separated) over it.
bench_run() {
	local name=$1 port=$2 pids=$3 p=$4 test=$5 before after line tck
	shift 5
	tck=$(getconf CLK_TCK)
	before=$(for q in $pids; do cpu_ticks "$q"; done | awk '{s += $1} END {print s}')
	line=$(redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -n "$N" -d "$SIZE" -P "$p" -r "$KEYS" "$@" 2>/dev/null |
		tr '\r' '\n' | awk '
			/Latency by percentile distribution/ {d = 1; next}
			/Cumulative distribution/ {d = 0}
			d && p999 == "" && $1 + 0 >= 99.9 {p999 = $3}
			/throughput summary/ {rps = $3}
			/latency summary/ {s = NR}
			s && NR == s + 2 {p50 = $3; p99 = $5; mx = $6}
			END {print rps, p50, p99, (p999 == "" ? mx : p999)}')
	after=$(for q in $pids; do cpu_ticks "$q"; done | awk '{s += $1} END {print s}')
	# shellcheck disable=SC2086 # $line is four fields
	set -- "$name" "$test" "$p" $line "$(awk -v t="$((after - before))" -v hz="$tck" -v n="$N" 'BEGIN {printf "%.2f", t / hz / n * 1e6}')"
	# name test P ops p50 p99 cpu p99.9
	echo "$1 $2 $3 $4 $5 $6 $8 $7"
}
