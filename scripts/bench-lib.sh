# Shared by the bench scripts (sourced, not run): the redis tools and the
# ns binaries they need, and a median.

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
