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

// TestRESPCluster: four nsnode processes with --resp-cluster and
// --backups 1. go-redis's ClusterClient routes by CLUSTER SLOTS and MOVED;
// redis-cli -c follows MOVED from a node that does not own the key. One
// node leaves gracefully, another is SIGKILLed: every acknowledged write
// is still there.
func TestRESPCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	flags := []string{"--resp-cluster", "--backups", "1"}
	n1 := startNode(t, "n1", nil, flags...)
	nodes := []*proc{n1}
	for _, id := range []string{"n2", "n3", "n4"} {
		nodes = append(nodes, startNode(t, id, []string{n1.gossip}, flags...))
	}
	settle := func(nodes []*proc) {
		t.Helper()
		waitFor(t, 30*time.Second, "every node ready", func() (bool, string) {
			for _, p := range nodes {
				if !p.ready() {
					return false, p.id + " not ready"
				}
			}
			return true, ""
		})
		waitFor(t, 30*time.Second, "the nodes agree", func() (bool, string) { return agreed(ctx, nodes, len(nodes)) })
	}
	settle(nodes)
	// Two seeds: the client still finds the cluster when one is gone.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{n1.resp, nodes[1].resp}, MaxRedirects: 8})
	defer cc.Close()
	acked := map[string]string{}
	write := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			k, v := fmt.Sprint("e2e-", i), fmt.Sprint(i)
			if err := cc.Set(ctx, k, v, 0).Err(); err == nil {
				acked[k] = v
			}
		}
		if len(acked) < to-from {
			t.Fatalf("only %d of %d writes acknowledged", len(acked), to-from)
		}
	}
	check := func(when string) {
		t.Helper()
		for k, v := range acked {
			var got string
			var err error
			for range 100 { // redirects while tables settle: poll, bounded
				if got, err = cc.Get(ctx, k).Result(); err == nil && got == v {
					break
				}
				cc.ReloadState(ctx)
				time.Sleep(20 * time.Millisecond)
			}
			if got != v {
				t.Fatalf("%s: GET %s = %q, %v; want %q (acknowledged)", when, k, got, err, v)
			}
		}
	}
	write(0, 500)
	check("4 nodes")

	if cli, err := exec.LookPath("redis-cli"); err == nil {
		// foo is slot 12182: ask a node that does not own it.
		moved := false
		for _, p := range nodes {
			host, port, _ := net.SplitHostPort(p.resp)
			out, err := exec.CommandContext(ctx, cli, "-h", host, "-p", port, "get", "foo").CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "MOVED 12182 ") {
				continue // this node owns foo
			}
			for _, args := range [][]string{{"set", "foo", "bar"}, {"get", "foo"}} {
				out, err := exec.CommandContext(ctx, cli, append([]string{"-c", "-h", host, "-p", port}, args...)...).CombinedOutput()
				if want := map[string]string{"set": "OK", "get": "bar"}[args[0]]; err != nil || strings.TrimSpace(string(out)) != want {
					t.Fatalf("redis-cli -c %v via %s = %q, %v; want %q", args, p.id, out, err, want)
				}
			}
			acked["foo"] = "bar"
			moved = true
			break
		}
		if !moved {
			t.Fatal("no node answered MOVED for foo")
		}
	} else {
		t.Log("SKIPPING redis-cli -c: redis-cli is not on PATH")
	}

	if err := nodes[3].terminate(30 * time.Second); err != nil {
		t.Fatalf("graceful leave of n4: %v", err)
	}
	nodes = nodes[:3]
	settle(nodes)
	cc.ReloadState(ctx)
	check("after n4 left")
	write(500, 700)
	nodes[2].kill()
	nodes = nodes[:2]
	waitFor(t, 30*time.Second, "n1 and n2 agree on a 2-member table", func() (bool, string) { return agreed(ctx, nodes, 2) })
	cc.ReloadState(ctx)
	check("after n3 was SIGKILLed")
}
