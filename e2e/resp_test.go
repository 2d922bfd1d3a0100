package e2e

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRESP: two nsnode processes speak the Redis protocol on their own
// ports (NSNODE_RESP_ADDR): go-redis writes through one and reads through
// the other, in RESP2 and RESP3, one command at a time and in pipelines;
// then redis-cli, if installed, does the same from the shell.
func TestRESP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n1 := startNode(t, "n1", nil)
	n2 := startNode(t, "n2", []string{n1.gossip})
	nodes := []*proc{n1, n2}
	waitFor(t, 15*time.Second, "every node ready", func() (bool, string) {
		for _, p := range nodes {
			if !p.ready() {
				return false, p.id + " not ready"
			}
		}
		return true, ""
	})
	waitFor(t, 10*time.Second, "both nodes agree on a 2-member table", func() (bool, string) { return agreed(ctx, nodes, 2) })

	for _, proto := range []int{2, 3} {
		w := redis.NewClient(&redis.Options{Addr: n1.resp, Protocol: proto})
		r := redis.NewClient(&redis.Options{Addr: n2.resp, Protocol: proto})
		defer w.Close()
		defer r.Close()
		pipe := w.Pipeline()
		for i := 0; i < 1000; i++ {
			pipe.Set(ctx, fmt.Sprintf("resp%d-%d", proto, i), i, 0)
			pipe.Incr(ctx, fmt.Sprintf("resp%d-%d", proto, i))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("RESP%d pipeline through n1: %v", proto, err)
		}
		rp := r.Pipeline()
		gets := make([]*redis.StringCmd, 1000)
		for i := range gets {
			gets[i] = rp.Get(ctx, fmt.Sprintf("resp%d-%d", proto, i))
		}
		if _, err := rp.Exec(ctx); err != nil {
			t.Fatalf("RESP%d pipeline through n2: %v", proto, err)
		}
		for i, g := range gets {
			if g.Val() != fmt.Sprint(i+1) {
				t.Fatalf("RESP%d: GET resp%d-%d through n2 = %q, want %d", proto, proto, i, g.Val(), i+1)
			}
		}
		if v, err := r.Incr(ctx, "shared").Result(); err != nil || v < 1 {
			t.Fatalf("INCR through n2: %d, %v", v, err)
		}
	}

	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("SKIPPING the redis-cli half of TestRESP: redis-cli is not on PATH (apt-get install redis-tools)")
	}
	host, port, _ := net.SplitHostPort(n2.resp)
	run := func(input string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, cli, append([]string{"-h", host, "-p", port}, args...)...)
		cmd.Stdin = strings.NewReader(input)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"ping"}, "PONG"},
		{[]string{"set", "a", "1"}, "OK"},
		{[]string{"get", "a"}, "1"},
		{[]string{"incrby", "a", "41"}, "42"},
		{[]string{"-3", "get", "a"}, "42"},
		{[]string{"get", "resp2-7"}, "8"},
		{[]string{"mget", "a", "nope"}, "42\n\n"},
		{[]string{"expire", "a", "100"}, "1"},
		{[]string{"ttl", "a"}, "100"},
		{[]string{"getdel", "a"}, "42"},
		{[]string{"exists", "a"}, "0"},
		{[]string{"append", "a", "xy"}, "2"},
		{[]string{"append", "a", "z"}, "3"},
		{[]string{"get", "a"}, "xyz"},
		{[]string{"flushall"}, "ERR FLUSHALL is disabled on ns: it removes every key of the cluster; start nsnode with --resp-flushall to allow it"},
	} {
		if got := run("", tc.args...); got != strings.TrimSpace(tc.want) {
			t.Errorf("redis-cli %v = %q, want %q", tc.args, got, tc.want)
		}
	}
	// --pipe: mass insertion, inline commands, ended by redis-cli's ECHO.
	var in strings.Builder
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&in, "SET pipe%d %d\r\n", i, i)
	}
	if out := run(in.String(), "--pipe"); !strings.Contains(out, "errors: 0, replies: 500") {
		t.Fatalf("redis-cli --pipe: %s", out)
	}
	if got := run("", "get", "pipe499"); got != "499" {
		t.Fatalf("GET pipe499 after --pipe = %q", got)
	}
	// --scan: redis-cli pages SCAN with its cursor until 0, across the
	// partitions of both nodes: pipe4, pipe40..49, pipe400..499.
	keys := strings.Fields(run("", "--scan", "--pattern", "pipe4*"))
	seen := map[string]bool{}
	for _, k := range keys {
		seen[k] = true
	}
	if len(keys) != 111 || len(seen) != 111 || !seen["pipe4"] || !seen["pipe499"] {
		t.Fatalf("redis-cli --scan --pattern pipe4*: %d keys (%d distinct), want 111", len(keys), len(seen))
	}
}
