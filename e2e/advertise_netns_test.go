package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Zero-config addresses (issue 18): a node that binds every interface and
// is given no --advertise-addr advertises the one private IPv4 address it
// has, and refuses to start with none or several. Each case runs the real
// nsnode in a network namespace of its own whose only link is a veth pair
// with both ends inside it: nothing is attached to this machine's network,
// and no address or interface of the machine is read or changed.

// advNS is one such namespace.
type advNS struct {
	t    *testing.T
	name string
	veth [2]string // both ends, inside the namespace
}

// run runs a command, failing the test with its output on error.
func (n *advNS) run(args ...string) {
	n.t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		n.t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// newAdvNS creates namespace nsadv<pid>-<i> with lo up and a veth pair
// nsadv<pid><i>a/b, both up; addrs[0] go on the a end, addrs[1] on the b end.
// Skips, loudly, when not root or without the ip command. The namespace and
// its veth pair go at the end of the test, failed or not.
func newAdvNS(t *testing.T, i int, addrs ...[]string) *advNS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: the zero-config address test needs root to create a network namespace; CI runs as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("SKIPPED LOUDLY: the zero-config address test needs the ip command (iproute2): " + err.Error())
	}
	tag := fmt.Sprintf("%d", os.Getpid()%100000)
	n := &advNS{t: t, name: fmt.Sprintf("nsadv%s-%d", tag, i), veth: [2]string{fmt.Sprintf("nsadv%s%da", tag, i), fmt.Sprintf("nsadv%s%db", tag, i)}}
	t.Cleanup(func() {
		// Takes the veth pair along: both ends live in the namespace. Nodes
		// started after this registration are killed before it runs.
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("cleanup: ip netns del %s: %v: %s", n.name, err, out)
		}
	})
	n.run("ip", "netns", "add", n.name)
	n.run("ip", "-n", n.name, "link", "set", "lo", "up")
	n.run("ip", "-n", n.name, "link", "add", n.veth[0], "type", "veth", "peer", "name", n.veth[1])
	for end, list := range addrs {
		for _, a := range list {
			n.run("ip", "-n", n.name, "addr", "add", a, "dev", n.veth[end])
		}
	}
	for _, v := range n.veth {
		n.run("ip", "-n", n.name, "link", "set", v, "up")
	}
	return n
}

// exec runs bin inside the namespace and returns its exit code and output.
func (n *advNS) exec(ctx context.Context, bin string, args ...string) (int, string) {
	n.t.Helper()
	code, out, err := runExit(exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.name, bin}, args...)...))
	if err != nil {
		n.t.Fatalf("ip netns exec %s %s: %v", n.name, bin, err)
	}
	return code, out
}

// TestAdvertiseAuto: nsnode --grpc-addr 0.0.0.0:7700 --gossip-addr
// 0.0.0.0:7946, no --advertise-addr, in a namespace with
//   - one private address (beside a public and a link-local one): it
//     advertises that address for gRPC and gossip (nsctl members, asked
//     inside the namespace), logs which and why, and serves at it;
//   - two private addresses: it exits non-zero and its stderr lists both
//     and names --advertise-addr;
//   - no private address: it exits non-zero naming --advertise-addr.
func TestAdvertiseAuto(t *testing.T) {
	// 10.213.220-249.0/24: apart from the partition tests' 10.213.20-219
	// (fault_netns_test.go), though nothing here leaves its namespace.
	prefix := fmt.Sprintf("10.213.%d", 220+os.Getpid()%30)
	args := func(extra ...string) []string {
		return append([]string{"--node-id", "adv", "--grpc-addr", "0.0.0.0:7700", "--gossip-addr", "0.0.0.0:7946",
			"--http-addr", "127.0.0.1:7780", "--resp-addr", "", "--workers", "2"}, extra...)
	}

	t.Run("one private address", func(t *testing.T) {
		want := prefix + ".2"
		ns := newAdvNS(t, 0, []string{want + "/24", "198.51.100.7/24", "169.254.77.7/16"})
		p := launch(t, "adv", nodeAddrs{grpc: "0.0.0.0:7700", gossip: "0.0.0.0:7946", http: "127.0.0.1:7780", resp: ""}, ns.name, nil)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var members []struct {
			ID         string `json:"id"`
			GRPCAddr   string `json:"grpc_addr"`
			GossipAddr string `json:"gossip_addr"`
			State      string `json:"state"`
		}
		waitFor(t, 30*time.Second, "nsctl members inside the namespace", func() (bool, string) {
			select {
			case <-p.exited:
				t.Fatalf("nsnode exited: %v", p.exitErr)
			default:
			}
			code, out := ns.exec(ctx, bins.nsctl, "--endpoints", want+":7700", "members", "-o", "json")
			if code != 0 {
				return false, fmt.Sprintf("exit %d: %s", code, out)
			}
			if err := json.Unmarshal([]byte(out), &members); err != nil {
				return false, fmt.Sprintf("%v: %s", err, out)
			}
			return len(members) == 1, out
		})
		if m := members[0]; m.ID != "adv" || m.GRPCAddr != want+":7700" || m.GossipAddr != want+":7946" || m.State != "alive" {
			t.Errorf("member %+v: want grpc %s:7700 and gossip %s:7946, alive", m, want, want)
		}
		// The advertised address serves: a put and a get through it.
		if code, out := ns.exec(ctx, bins.nsctl, "--endpoints", want+":7700", "put", "k", "v"); code != 0 {
			t.Errorf("nsctl put: exit %d: %s", code, out)
		}
		if code, out := ns.exec(ctx, bins.nsctl, "--endpoints", want+":7700", "get", "k"); code != 0 || !strings.Contains(out, "v") {
			t.Errorf("nsctl get: exit %d: %s", code, out)
		}
		logs, err := os.ReadFile(p.logPath)
		if err != nil {
			t.Fatal(err)
		}
		line := ""
		for _, l := range strings.Split(string(logs), "\n") {
			if strings.Contains(l, "only private IPv4 address") {
				line = l
			}
		}
		for _, s := range []string{"addr=" + want, "interface=" + ns.veth[0], "--grpc-addr 0.0.0.0:7700 and --gossip-addr 0.0.0.0:7946 bind every interface"} {
			if !strings.Contains(line, s) {
				t.Errorf("log line %q does not say %q", line, s)
			}
		}
		t.Logf("members: %+v; log: %s", members, line)
	})

	t.Run("two private addresses", func(t *testing.T) {
		a, b := prefix+".2", prefix+".3"
		ns := newAdvNS(t, 1, []string{a + "/24"}, []string{b + "/24"})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		code, out := ns.exec(ctx, bins.nsnode, args()...)
		if code == 0 {
			t.Fatalf("nsnode exited 0 with two private addresses: %s", out)
		}
		for _, s := range []string{a + " (" + ns.veth[0] + ")", b + " (" + ns.veth[1] + ")", "--advertise-addr"} {
			if !strings.Contains(out, s) {
				t.Errorf("stderr does not say %q: %s", s, out)
			}
		}
		t.Logf("exit %d: %s", code, strings.TrimSpace(out))
	})

	t.Run("no private address", func(t *testing.T) {
		ns := newAdvNS(t, 2, []string{"198.51.100.7/24", "169.254.77.7/16"})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		code, out := ns.exec(ctx, bins.nsnode, args()...)
		if code == 0 || !strings.Contains(out, "no private IPv4 address") || !strings.Contains(out, "--advertise-addr") {
			t.Fatalf("exit %d, want non-zero naming --advertise-addr: %s", code, out)
		}
		t.Logf("exit %d: %s", code, strings.TrimSpace(out))
	})
}
