package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nothingshared/ns/kv"
	"github.com/nothingshared/ns/ring"
)

// nsctlResult is one run of the nsctl binary.
type nsctlResult struct {
	code           int
	stdout, stderr string
}

// nsctl runs the built nsctl binary with stdin and args and returns its
// exit code and output. NSCTL_* variables of the test's environment are
// not passed on.
func nsctl(t *testing.T, stdin string, args ...string) nsctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.nsctl, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("nsctl %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return nsctlResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// want fails the test unless r exited with code.
func (r nsctlResult) want(t *testing.T, code int, args ...string) nsctlResult {
	t.Helper()
	if r.code != code {
		t.Fatalf("nsctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}

// decode unmarshals r's stdout.
func (r nsctlResult) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("decoding %q: %v", r.stdout, err)
	}
}

// TestNsctl runs every nsctl command against a real three-node cluster and
// checks its output and exit code.
func TestNsctl(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n1 := startNode(t, "n1", nil)
	n2 := startNode(t, "n2", []string{n1.gossip})
	n3 := startNode(t, "n3", []string{n1.gossip, n2.gossip})
	nodes := []*proc{n1, n2, n3}
	waitFor(t, 30*time.Second, "three nodes to agree", func() (bool, string) { return agreed(ctx, nodes, 3) })
	waitFor(t, 30*time.Second, "three nodes ready", func() (bool, string) {
		for _, p := range nodes {
			if !p.ready() {
				return false, p.id + " not ready"
			}
		}
		return true, ""
	})
	eps := "--endpoints=" + n1.grpc + "," + n2.grpc
	run := func(t *testing.T, code int, stdin string, args ...string) nsctlResult {
		t.Helper()
		full := append([]string{eps, "--timeout=10s"}, args...)
		return nsctl(t, stdin, full...).want(t, code, full...)
	}

	t.Run("members", func(t *testing.T) {
		var ms []struct {
			ID, State  string
			GRPCAddr   string `json:"grpc_addr"`
			GossipAddr string `json:"gossip_addr"`
			Owned      int    `json:"partitions_owned"`
			Workers    int
		}
		run(t, 0, "", "members", "-o", "json").decode(t, &ms)
		if len(ms) != 3 {
			t.Fatalf("members: %+v", ms)
		}
		owned := 0
		for i, m := range ms {
			p := nodes[i]
			if m.ID != p.id || m.GRPCAddr != p.grpc || m.GossipAddr != p.gossip || m.State != "alive" || m.Workers != 2 {
				t.Errorf("member %d = %+v, want %s at %s/%s alive with 2 workers", i, m, p.id, p.grpc, p.gossip)
			}
			owned += m.Owned
		}
		if owned != 271 {
			t.Errorf("members own %d partitions in all, want 271", owned)
		}
		out := run(t, 0, "", "members").stdout
		if !strings.HasPrefix(out, "ID ") || strings.Count(out, "\n") != 4 || !strings.Contains(out, n3.grpc) {
			t.Errorf("members table:\n%s", out)
		}
		run(t, 0, "", "members", "-o", "yaml")
	})

	t.Run("partitions", func(t *testing.T) {
		var ps []struct {
			Partition int
			Owner     string
			State     string
			Epoch     uint64
			Keys      *uint64
		}
		run(t, 0, "", "partitions", "-o", "json").decode(t, &ps)
		if len(ps) != 271 {
			t.Fatalf("%d partitions, want 271", len(ps))
		}
		tab, err := n1.table(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range ps {
			if p.Partition != i || p.Owner != tab.GetMembers()[tab.GetOwners()[i]].GetId() || p.State != "owned" || p.Epoch != tab.GetEpoch() || p.Keys != nil {
				t.Fatalf("partition %d = %+v; table owner %s epoch %d", i, p, tab.GetMembers()[tab.GetOwners()[i]].GetId(), tab.GetEpoch())
			}
		}
		var mine []struct{ Owner string }
		run(t, 0, "", "partitions", "--node", "n2", "-o", "json").decode(t, &mine)
		if len(mine) == 0 || len(mine) == 271 {
			t.Fatalf("n2 has %d partitions", len(mine))
		}
		for _, p := range mine {
			if p.Owner != "n2" {
				t.Fatalf("--node n2 listed a partition of %s (no backups configured)", p.Owner)
			}
		}
		run(t, 1, "", "partitions", "--node", "n9")
	})

	t.Run("kv", func(t *testing.T) {
		if got := run(t, 0, "", "put", "user:42", "ada").stdout; got != "OK\n" {
			t.Errorf("put = %q", got)
		}
		if got := run(t, 0, "", "get", "user:42").stdout; got != "ada\n" {
			t.Errorf("get = %q, want %q", got, "ada\n")
		}
		var g struct {
			Key, Value string
			TTL        int64 `json:"ttl_ms"`
		}
		run(t, 0, "tok\x00en", "put", "session", "-", "--ttl", "1h")
		run(t, 0, "", "get", "session", "-o", "json").decode(t, &g)
		if g.Key != "session" || g.Value != "tok\x00en" || g.TTL <= 0 || g.TTL > 3600_000 {
			t.Errorf("get session = %+v", g)
		}
		r := run(t, 4, "", "get", "absent-key")
		if !strings.Contains(r.stderr, "not found") || r.stdout != "" {
			t.Errorf("get absent: stdout %q stderr %q", r.stdout, r.stderr)
		}
		if got := run(t, 0, "", "incr", "visits", "--by", "5").stdout; got != "5\n" {
			t.Errorf("incr = %q", got)
		}
		if got := run(t, 0, "", "incr", "visits").stdout; got != "6\n" {
			t.Errorf("incr = %q", got)
		}
		run(t, 1, "", "incr", "user:42") // not a counter
		if got := run(t, 0, "", "cas", "user:42", "ada", "grace").stdout; got != "swapped\n" {
			t.Errorf("cas = %q", got)
		}
		if got := run(t, 1, "", "cas", "user:42", "ada", "x").stdout; !strings.Contains(got, `holds "grace"`) {
			t.Errorf("failed cas = %q", got)
		}
		run(t, 0, "", "cas", "--absent", "lock", "me")
		run(t, 1, "", "cas", "--absent", "lock", "you")
		if got := run(t, 0, "", "del", "user:42").stdout; got != "deleted\n" {
			t.Errorf("del = %q", got)
		}
		if got := run(t, 0, "", "del", "user:42").stdout; got != "absent\n" {
			t.Errorf("del absent = %q", got)
		}
		run(t, 4, "", "get", "user:42")
	})

	t.Run("send", func(t *testing.T) {
		run(t, 0, "", "put", "k1", "v1")
		req := kv.Request{Op: kv.OpGet, Key: []byte("k1")}
		payload, err := req.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		out := run(t, 0, string(payload), "send", "kv", "k1", "-").stdout
		resp, err := kv.DecodeResponse([]byte(out))
		if err != nil || string(resp.Value) != "v1" {
			t.Fatalf("send kv get: %+v, %v", resp, err)
		}
		var sv struct {
			Service, Key string
			Reply        []byte `json:"reply_base64"`
		}
		run(t, 0, string(payload), "send", "kv", "k1", "-", "-o", "json").decode(t, &sv)
		if sv.Service != "kv" || !bytes.Equal(sv.Reply, []byte(out)) {
			t.Fatalf("send -o json = %+v", sv)
		}
		r := run(t, 1, "", "send", "no-such-service", "k1", "x")
		if !strings.Contains(r.stderr, "not registered") {
			t.Errorf("unknown service: %q", r.stderr)
		}
	})

	t.Run("locate", func(t *testing.T) {
		var l struct {
			Key, Owner      string
			Partition       int
			OwnerAddr       string `json:"owner_addr"`
			Worker, Workers int
		}
		run(t, 0, "", "locate", "user:42", "-o", "json").decode(t, &l)
		tab, err := n2.table(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p := ring.PartitionOf([]byte("user:42"), int(tab.GetPartitions()))
		owner := tab.GetMembers()[tab.GetOwners()[p]]
		if l.Key != "user:42" || l.Partition != p || l.Owner != owner.GetId() || l.OwnerAddr != owner.GetGrpcAddr() ||
			l.Workers != 2 || l.Worker != p%2 {
			t.Fatalf("locate = %+v; want partition %d owner %s worker %d", l, p, owner.GetId(), p%2)
		}
		out := run(t, 0, "", "locate", "user:42").stdout
		if !strings.Contains(out, fmt.Sprintf("user:42  %d", p)) {
			t.Errorf("locate table:\n%s", out)
		}
	})

	t.Run("stats", func(t *testing.T) {
		type nodeStats struct {
			Node      string
			Processed uint64
			Rate      *float64
			Error     string
			Workers   []struct{ Processed uint64 }
		}
		var ns []nodeStats
		run(t, 0, "", "stats", "-o", "json").decode(t, &ns)
		var total uint64
		for _, n := range ns {
			if n.Error != "" || len(n.Workers) != 2 || n.Rate != nil {
				t.Errorf("stats of %s: %+v", n.Node, n)
			}
			total += n.Processed
		}
		if len(ns) != 3 || total == 0 {
			t.Errorf("stats: %d nodes, %d processed", len(ns), total)
		}
		out := run(t, 0, "", "stats", "--watch", "--interval", "100ms", "--count", "2", "-o", "json").stdout
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			t.Fatalf("stats --watch --count 2 printed %d lines:\n%s", len(lines), out)
		}
		for _, l := range lines {
			var ns []nodeStats
			if err := json.Unmarshal([]byte(l), &ns); err != nil {
				t.Fatal(err)
			}
			for _, n := range ns {
				if n.Rate == nil {
					t.Errorf("--watch sample without a rate: %+v", n)
				}
			}
		}
		if out := run(t, 0, "", "stats", "--watch", "--interval", "100ms", "--count", "1", "-o", "wide").stdout; !strings.Contains(out, "RATE/S") {
			t.Errorf("stats --watch table:\n%s", out)
		}
	})

	t.Run("health", func(t *testing.T) {
		var hs []struct {
			Node, Status string
			Ready        bool
		}
		run(t, 0, "", "health", "-o", "json").decode(t, &hs)
		if len(hs) != 3 {
			t.Fatalf("health: %+v", hs)
		}
		for _, h := range hs {
			if h.Status != "SERVING" || !h.Ready {
				t.Errorf("health: %+v", h)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		var v struct {
			Client  string
			Servers []struct{ Node, Version string }
		}
		run(t, 0, "", "version", "-o", "json").decode(t, &v)
		if v.Client == "" || len(v.Servers) != 3 || v.Servers[0].Version == "" {
			t.Errorf("version: %+v", v)
		}
	})

	t.Run("bench", func(t *testing.T) {
		var rs []struct {
			Op        string
			Ops       uint64
			Errors    uint64
			OpsPerSec float64 `json:"ops_per_sec"`
			P50Us     float64 `json:"p50_us"`
			P99Us     float64 `json:"p99_us"`
			P999Us    float64 `json:"p999_us"`
			MaxUs     float64 `json:"max_us"`
		}
		r := run(t, 0, "", "bench", "-n", "3000", "-c", "4", "--pipeline", "4", "--keys", "500", "--ops", "put:1,get:3,incr:1", "-o", "json")
		r.decode(t, &rs)
		var ops uint64
		for _, x := range rs {
			ops += x.Ops
			if x.Errors != 0 || x.OpsPerSec <= 0 || x.P50Us <= 0 || x.P99Us < x.P50Us || x.P999Us < x.P99Us || x.MaxUs < x.P999Us {
				t.Errorf("bench %s: %+v", x.Op, x)
			}
		}
		if len(rs) != 3 || ops != 3000 {
			t.Errorf("bench mix: %d ops in %d rows", ops, len(rs))
		}
		r = run(t, 0, "", "bench", "-n", "2000", "-c", "3", "--batch", "16", "--ops", "put,get")
		if !strings.Contains(r.stdout, "put ") || !strings.Contains(r.stdout, "get ") || !strings.Contains(r.stdout, "P99.9(ms)") {
			t.Errorf("bench table:\n%s", r.stdout)
		}
		if !strings.Contains(r.stderr, "bench: 3 clients") {
			t.Errorf("bench stderr: %q", r.stderr)
		}
		run(t, 0, "", "bench", "--duration", "300ms", "-c", "2", "--ops", "get", "--no-progress")
	})

	t.Run("hotkeys", func(t *testing.T) {
		// After the bench, every node has seen traffic on its keys.
		var ks []struct {
			Node  string
			Key   string
			Count uint64
		}
		run(t, 0, "", "hotkeys", "--limit", "3", "-o", "json").decode(t, &ks)
		if len(ks) == 0 || ks[0].Key == "" || ks[0].Count == 0 {
			t.Errorf("hotkeys after a bench: %+v", ks)
		}
		if r := run(t, 2, "", "hotkeys", "--limit", "0"); !strings.Contains(r.stderr, "--limit") {
			t.Errorf("hotkeys --limit 0: %q", r.stderr)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		r := nsctl(t, "", "--endpoints", "127.0.0.1:1", "--timeout", "2s", "members").want(t, 3, "members")
		if !strings.Contains(r.stderr, "is nsnode running?") {
			t.Errorf("unreachable: %q", r.stderr)
		}
		r = nsctl(t, "", "--endpoints", n1.grpc, "members", "--bogus").want(t, 2, "members --bogus")
		if !strings.Contains(r.stderr, "unknown flag") {
			t.Errorf("bad flag: %q", r.stderr)
		}
	})

	t.Run("leave", func(t *testing.T) {
		out := run(t, 0, "", "leave", "n3", "--wait").stdout
		if !strings.Contains(out, "n3 ("+n3.grpc+") is leaving") || !strings.Contains(out, "n3 has left") {
			t.Errorf("leave output:\n%s", out)
		}
		select {
		case <-n3.exited:
			if n3.exitErr != nil {
				t.Fatalf("n3 exited with %v after leave, want 0", n3.exitErr)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("n3 still running 60s after nsctl leave")
		}
		waitFor(t, 30*time.Second, "two nodes to agree", func() (bool, string) { return agreed(ctx, nodes[:2], 2) })
		run(t, 0, "", "health")
		run(t, 1, "", "leave", "n3")
		run(t, 1, "", "drain", "n9")
	})
}
