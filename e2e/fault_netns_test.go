package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/internal/history"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// netLab is a private network on this machine: a bridge in the root
// namespace and, per node, a network namespace joined to it by a veth pair.
// Traffic stays inside the machine; iptables rules inside the namespaces
// cut links between nodes.
type netLab struct {
	t      *testing.T
	prefix string // e.g. "10.213.42": the lab's /24
	bridge string
	tag    string
	ns     map[string]string // node id -> namespace
	ip     map[string]string // node id -> address
	fwd    []string          // the root FORWARD rule to delete at the end
}

// run runs a command, failing the test with its output on error.
func (l *netLab) run(args ...string) {
	l.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		l.t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newNetLab builds the lab for ids, or skips the test (loudly) when it
// cannot: not root, or no ip / iptables command.
func newNetLab(t *testing.T, ids ...string) *netLab {
	t.Helper()
	if why := netLabMissing(); why != "" {
		t.Skip("SKIPPED LOUDLY: " + why)
	}
	pid := os.Getpid()
	l := &netLab{t: t, prefix: fmt.Sprintf("10.213.%d", 20+pid%200), tag: fmt.Sprintf("%d", pid%100000),
		ns: map[string]string{}, ip: map[string]string{}}
	l.bridge = "nsbr" + l.tag
	t.Cleanup(l.close)
	l.run("ip", "link", "add", l.bridge, "type", "bridge")
	l.run("ip", "addr", "add", l.prefix+".1/24", "dev", l.bridge)
	l.run("ip", "link", "set", l.bridge, "up")
	// Bridged frames may cross the root FORWARD chain (br_netfilter), whose
	// policy may be DROP (Docker): let the lab's own traffic through.
	l.fwd = []string{"FORWARD", "-i", l.bridge, "-o", l.bridge, "-j", "ACCEPT"}
	l.run(append([]string{"iptables", "-I"}, l.fwd...)...)
	for i, id := range ids {
		ns := fmt.Sprintf("nsf%s-%s", l.tag, id)
		host, peer := fmt.Sprintf("nsv%s%da", l.tag, i), fmt.Sprintf("nsv%s%db", l.tag, i)
		ip := fmt.Sprintf("%s.%d", l.prefix, 11+i)
		l.ns[id], l.ip[id] = ns, ip
		l.run("ip", "netns", "add", ns)
		l.run("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
		l.run("ip", "link", "set", host, "master", l.bridge)
		l.run("ip", "link", "set", host, "up")
		l.run("ip", "link", "set", peer, "netns", ns)
		l.run("ip", "-n", ns, "addr", "add", ip+"/24", "dev", peer)
		l.run("ip", "-n", ns, "link", "set", peer, "up")
		l.run("ip", "-n", ns, "link", "set", "lo", "up")
	}
	return l
}

// netLabMissing says why a netLab cannot be built here, "" when it can.
func netLabMissing() string {
	if os.Geteuid() != 0 {
		return "network-partition tests need root (network namespaces, iptables); CI runs as root"
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("network-partition tests need %q (CI installs iptables in .ci/run)", tool)
		}
	}
	return ""
}

func (l *netLab) close() {
	for _, ns := range l.ns {
		_ = exec.Command("ip", "netns", "del", ns).Run() // takes its veth pair along
	}
	if l.fwd != nil {
		_ = exec.Command("iptables", append([]string{"-D"}, l.fwd...)...).Run()
	}
	_ = exec.Command("ip", "link", "del", l.bridge).Run()
}

// cut drops every packet between the nodes of a and those of b.
func (l *netLab) cut(a, b []string) {
	l.t.Helper()
	for _, x := range a {
		for _, y := range b {
			for _, pair := range [][2]string{{x, y}, {y, x}} {
				ns, other := l.ns[pair[0]], l.ip[pair[1]]
				l.run("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-s", other, "-j", "DROP")
				l.run("ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-d", other, "-j", "DROP")
			}
		}
	}
}

// heal removes every cut.
func (l *netLab) heal() {
	l.t.Helper()
	for _, ns := range l.ns {
		l.run("ip", "netns", "exec", ns, "iptables", "-F", "INPUT")
		l.run("ip", "netns", "exec", ns, "iptables", "-F", "OUTPUT")
	}
}

// TestFaultNetworkPartition (issue 5, test 4): nodes in network namespaces;
// {n1} is cut from {n2, n3}, first for a few seconds (shorter than the
// gossip-to-the-dead time), then for longer than it. Each time: the
// minority refuses writes, the majority serves them, and after the heal the
// halves merge (the second time only thanks to the reconnect loop) and every
// node agrees on one table. Nothing acknowledged is lost and every key is
// linearizable (asserted since issue 15: a member falsely declared dead is
// still asked by takeover pulls).
func TestFaultNetworkPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: network namespaces, about 40s")
	}
	ids := []string{"n1", "n2", "n3"}
	lab := newNetLab(t, ids...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const toTheDead = 4 * time.Second
	fc := newFaultCluster(ctx, t, append([]string{"--backups", "1", "--gossip-to-the-dead-time", toTheDead.String(),
		"--gossip-reconnect-interval", "1s"}, fastGossip...)...)
	for _, id := range ids {
		ip := lab.ip[id]
		fc.addrs[id] = nodeAddrs{grpc: ip + ":7700", gossip: ip + ":7946", http: ip + ":7780", resp: ip + ":7379"}
		fc.netns[id] = lab.ns[id]
	}
	for _, id := range ids {
		fc.start(id)
	}
	fc.settled(30*time.Second, ids...)
	fc.replicated(30*time.Second, ids...)
	c := newClient(ctx, t, fc.grpcAddrs())
	rec := history.NewRecorder()
	w := startWorkload(t, c, rec, workloadConfig{})
	from := rec.Now()
	phase(2 * time.Second)

	minority := fc.nodes["n1"]
	keys := probeKeys(t, c, "n1", 4) // partitions n1 owns in the agreed table
	var figures []string
	for _, round := range []struct {
		name string
		hold time.Duration // how long the cut lasts after the minority refuses writes
	}{
		{"short", time.Second},
		{"past-gossip-to-the-dead", 2 * toTheDead},
	} {
		cutAt := time.Now()
		lab.cut([]string{"n1"}, []string{"n2", "n3"})
		// The minority stops acknowledging writes once it sees fewer than
		// half of the agreed members.
		refuse := waitFor(t, 30*time.Second, "n1 refuses writes", func() (bool, string) {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, err := minority.kv().Put(cctx, &nsv1.PutRequest{Key: []byte(keys[0]), Value: []byte("minority-probe")})
			if status.Code(err) == codes.Unavailable {
				return true, ""
			}
			return false, fmt.Sprintf("put on n1: %v", err)
		})
		majority := fc.settled(30*time.Second, "n2", "n3")
		// No write is acknowledged on the minority side while cut.
		var acked int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i, k := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				op := history.Op{Client: 3000 + i, Kind: history.Put, Key: k, Value: fmt.Sprintf("minority-%s-%d", round.name, i)}
				id := rec.Invoke(op)
				cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				_, err := minority.kv().Put(cctx, &nsv1.PutRequest{Key: []byte(k), Value: []byte(op.Value)})
				res := history.Result{Outcome: history.Unknown, Err: err}
				if err == nil {
					res = history.Result{Outcome: history.OK}
					mu.Lock()
					acked++
					mu.Unlock()
				}
				rec.Return(id, res)
			}()
		}
		wg.Wait()
		if acked > 0 {
			t.Errorf("%s partition: the minority acknowledged %d of %d writes", round.name, acked, len(keys))
		}
		// The majority serves every key, including the minority's.
		for _, k := range keys {
			op := history.Op{Client: 3100, Kind: history.Put, Key: k, Value: fmt.Sprintf("majority-%s-%s", round.name, k)}
			id := rec.Invoke(op)
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := fc.nodes["n2"].kv().Put(cctx, &nsv1.PutRequest{Key: []byte(k), Value: []byte(op.Value)})
			cancel()
			res := history.Result{Outcome: history.OK}
			if err != nil {
				res = history.Result{Outcome: history.Unknown, Err: err}
				t.Errorf("%s partition: the majority did not take a write for %q: %v", round.name, k, err)
			}
			rec.Return(id, res)
		}
		time.Sleep(round.hold)
		held := time.Since(cutAt)
		lab.heal()
		healed := time.Now()
		fc.settled(60*time.Second, ids...)
		fc.replicated(60*time.Second, ids...)
		figures = append(figures, fmt.Sprintf("%s(cut=%v minority_refuses_after=%v majority_agrees_after=%v merged_after_heal=%v)",
			round.name, held.Round(time.Millisecond), refuse.Round(time.Millisecond), majority.Round(time.Millisecond), time.Since(healed).Round(time.Millisecond)))
		phase(2 * time.Second)
	}
	finish(t, "network partition {n1}/{n2,n3} backups=1", w, c, from, true, strings.Join(figures, " "))
}
