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
