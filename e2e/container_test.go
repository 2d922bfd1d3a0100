package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
)

// containerNothingLost switches on the "no acknowledged write is lost"
// assertions of TestContainerCluster: after a graceful stop every key must
// still be there, and the nodes run with --backups 1 so that a killed
// node's keys survive too. Off until partition handoff and backups land;
// NS_E2E_NOTHING_LOST=1 turns it on without editing the test.
const containerNothingLost = true

func nothingLost() bool { return containerNothingLost || os.Getenv("NS_E2E_NOTHING_LOST") == "1" }

// ctrKeys is how many keys TestContainerCluster writes.
const ctrKeys = 2000

// TestContainerCluster builds the ns image (FROM scratch, the prebuilt static
// nsnode), runs three containers on a user-defined network that join each
// other by container DNS name, and checks on the real image, locked down as
// the Helm chart locks it (read-only root, no capabilities, uid 65532):
//
//   - they agree on one 3-member table and serve puts and gets from any node;
//   - `docker stop` (SIGTERM): the node leaves gracefully and exits 0; the two
//     survivors agree on 2 members and answer every request;
//   - `docker kill` (SIGKILL) of another, once the first is back: the
//     survivors detect it, agree and answer every request;
//   - `docker network disconnect` of one node: the others agree on 2 members;
//     after `docker network connect` all three agree on 3 again.
//
// Until handoff and backups land, a key whose partition changed owner may be
// gone (NotFound, never an error or a wrong value); containerNothingLost
// makes that a failure. Everything the test creates (image tag, network,
// containers) is removed at cleanup, also on failure. Without a Docker
// engine it skips, loudly.
func TestContainerCluster(t *testing.T) {
	requireDocker(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	id := "ns-e2e-" + randomID(t)
	image := "ns-e2e:" + id

	// The image: exactly the Dockerfile `make image` uses, on a staging
	// directory holding only the binaries.
	stage := t.TempDir()
	withNsctl := stageImage(t, stage)
	dockerfile := filepath.Join(moduleRoot(t), "deploy", "docker", "Dockerfile")
	t.Cleanup(func() {
		if _, err := docker("image", "rm", "--force", image); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	mustDocker(t, "build", "--quiet", "--file", dockerfile, "--build-arg", "VERSION=e2e", "--tag", image, stage)
	if u := mustDocker(t, "image", "inspect", "--format", "{{.Config.User}}", image); u != "65532:65532" {
		t.Fatalf("image user %q, want 65532:65532", u)
	}
	t.Logf("image %s built in %v (nsctl: %v)", image, time.Since(start).Round(time.Millisecond), withNsctl)

	network := id
	subnet := createNetwork(t, network)

	backups := "0"
	if nothingLost() {
		backups = "1"
	}
	names := []string{id + "-n1", id + "-n2", id + "-n3"}
	nodes := make([]*ctr, len(names))
	for i, name := range names {
		var join []string
		for j, other := range names {
			if j != i {
				join = append(join, other+":7946") // container DNS names
			}
		}
		nodes[i] = runNode(t, image, network, name, fmt.Sprintf("n%d", i+1), nthAddr(subnet, 10+i), strings.Join(join, ","), backups)
	}
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	all := []*proc{n1.proc, n2.proc, n3.proc}

	waitReady(t, nodes...)
	took := waitFor(t, 20*time.Second, "3 containers agree on a 3-member table", func() (bool, string) { return agreed(ctx, all, 3) })
	t.Logf("3 containers ready and agreed %v after start", took)

	value := func(i int) []byte { return []byte(fmt.Sprintf("v1-%05d", i)) }
	putKeys(ctx, t, n1.proc, 0, ctrKeys, value)
	for _, p := range all {
		expectKeys(ctx, t, p, ctrKeys, value, nil, nil)
	}
	if withNsctl {
		nsctlRoundTrip(t, n1, n3)
	}

	// Graceful leave: docker stop sends SIGTERM; nsnode leaves and exits 0.
	before := tableOf(ctx, t, n1.proc)
	mustDocker(t, "stop", "--time", "30", n3.name)
	if code := containerExitCode(t, n3.name); code != "0" {
		t.Fatalf("%s exited %s after docker stop, want 0 (graceful leave)", n3.name, code)
	}
	rest := []*proc{n1.proc, n2.proc}
	took = waitFor(t, 20*time.Second, "survivors agree on 2 members after docker stop", func() (bool, string) { return agreed(ctx, rest, 2) })
	t.Logf("survivors agreed %v after %s stopped", took, n3.name)
	after := tableOf(ctx, t, n1.proc)
	for _, p := range rest {
		expectKeys(ctx, t, p, ctrKeys, value, before, after)
	}
	// The survivors take every write.
	value = func(i int) []byte { return []byte(fmt.Sprintf("v2-%05d", i)) }
	putKeys(ctx, t, n2.proc, 0, ctrKeys, value)
	expectKeys(ctx, t, n1.proc, ctrKeys, value, nil, nil)

	// n3 comes back (same name, IP and node id) and rejoins.
	mustDocker(t, "start", n3.name)
	waitReady(t, n3)
	waitFor(t, 20*time.Second, "n3 rejoined: 3 members", func() (bool, string) { return agreed(ctx, all, 3) })
	value = func(i int) []byte { return []byte(fmt.Sprintf("v3-%05d", i)) }
	putKeys(ctx, t, n3.proc, 0, ctrKeys, value)

	// Crash: docker kill sends SIGKILL; the survivors detect the failure.
	before = tableOf(ctx, t, n1.proc)
	mustDocker(t, "kill", n2.name)
	rest = []*proc{n1.proc, n3.proc}
	took = waitFor(t, 30*time.Second, "survivors agree on 2 members after docker kill", func() (bool, string) { return agreed(ctx, rest, 2) })
	t.Logf("survivors agreed %v after %s was killed", took, n2.name)
	after = tableOf(ctx, t, n1.proc)
	for _, p := range rest {
		expectKeys(ctx, t, p, ctrKeys, value, before, after)
	}
	mustDocker(t, "start", n2.name)
	waitReady(t, n2)
	waitFor(t, 20*time.Second, "n2 rejoined: 3 members", func() (bool, string) { return agreed(ctx, all, 3) })

	// Partition: cut n3 off the network; the others see it fail. Reconnect
	// it with its IP (it advertises it) and all three converge again.
	mustDocker(t, "network", "disconnect", network, n3.name)
	took = waitFor(t, 30*time.Second, "n1, n2 agree on 2 members with n3 cut off", func() (bool, string) { return agreed(ctx, []*proc{n1.proc, n2.proc}, 2) })
	t.Logf("n1, n2 agreed on 2 members %v after n3 was cut off", took)
	mustDocker(t, "network", "connect", "--ip", n3.ip, network, n3.name)
	took = waitFor(t, 45*time.Second, "all three agree on 3 members after reconnecting n3", func() (bool, string) { return agreed(ctx, all, 3) })
	t.Logf("converged %v after n3 was reconnected", took)
	// Membership converges first; then n3 must serve writes again (its peer
	// connections may still be in gRPC's reconnect backoff from the cut, and
	// ownership must settle). Until handoff lands this is reported, not
	// failed: the handoff work in progress answered "moved ... at table
	// epoch N" with a stale N for over a minute after the heal.
	value = func(i int) []byte { return []byte(fmt.Sprintf("v4-%05d", i)) }
	healStart := time.Now()
	var lastErr error
	for {
		if lastErr = tryPutKeys(ctx, n3.proc, 0, ctrKeys, value); lastErr == nil || time.Since(healStart) > 20*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	switch {
	case lastErr == nil:
		t.Logf("n3 served every write %v after the cluster converged", time.Since(healStart).Round(time.Millisecond))
		for _, p := range all {
			expectKeys(ctx, t, p, ctrKeys, value, nil, nil)
		}
	case nothingLost():
		t.Fatalf("n3 still fails writes %v after the cluster converged: %v", time.Since(healStart).Round(time.Millisecond), lastErr)
	default:
		t.Logf("NOTE (fatal once NS_E2E_NOTHING_LOST=1 / containerNothingLost): n3 still fails writes %v after the cluster converged: %v",
			time.Since(healStart).Round(time.Millisecond), lastErr)
	}
	t.Logf("container e2e took %v", time.Since(start).Round(time.Millisecond))
}

// runNode starts one nsnode container as the chart runs a pod: all
// interfaces bound, its IP advertised, read-only root, no capabilities, no
// privilege escalation (the image's uid 65532).
func runNode(t *testing.T, image, network, name, nodeID string, ip netip.Addr, join, backups string) *ctr {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			// nsnode logs to stderr: docker logs replays it on stderr.
			if out, err := dockerCombined("logs", "--tail", "200", name); err == nil {
				t.Logf("---- docker logs %s ----\n%s", name, out)
			}
		}
		if _, err := docker("rm", "--force", "--volumes", name); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	mustDocker(t, "run", "--detach", "--name", name, "--hostname", nodeID,
		"--network", network, "--ip", ip.String(),
		"--label", "ns-e2e=1",
		"--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
		"--stop-timeout", "30",
		image,
		"--node-id", nodeID,
		// No --advertise-addr: the container has one private address (the
		// network's), which nsnode finds and advertises (issue 18).
		"--grpc-addr", "0.0.0.0:7700", "--gossip-addr", "0.0.0.0:7946", "--http-addr", "0.0.0.0:7780",
		"--join", join,
		"--workers", "2", "--backups", backups,
		"--shutdown-timeout", "20s", "--log-level", "debug")
	return &ctr{
		proc: &proc{t: t, id: nodeID, grpc: ip.String() + ":7700", gossip: ip.String() + ":7946", http: ip.String() + ":7780"},
		name: name,
		ip:   ip.String(),
	}
}

// dockerCombined is docker with stdout and stderr together (docker logs
// replays the container's streams on both).
func dockerCombined(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerCmdTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return string(out), err
}

// waitReady waits for /readyz on every node.
func waitReady(t *testing.T, nodes ...*ctr) {
	t.Helper()
	waitFor(t, 30*time.Second, "containers ready", func() (bool, string) {
		for _, n := range nodes {
			if !n.ready() {
				return false, n.name + " /readyz not 200"
			}
		}
		return true, ""
	})
}

// expectKeys reads every key through p. With before and after (the tables
// around a membership change) and nothing-lost off, a key may be NotFound
// only when its partition changed owner; otherwise every key must be there.
func expectKeys(ctx context.Context, t *testing.T, p *proc, n int, value func(int) []byte, before, after *ring.Table) {
	t.Helper()
	var kept, moved int
	for i, c := range getKeys(ctx, t, p, n, value) {
		if c == codes.OK {
			kept++
			continue
		}
		if c != codes.NotFound || before == nil || nothingLost() {
			t.Fatalf("get %s through %s: %v", ctrKey(i), p.id, c)
		}
		part := before.PartitionOf(ctrKey(i))
		if before.Owner(part).ID == after.Owner(part).ID {
			t.Fatalf("get %s through %s: NotFound, but its partition %d stayed on %s", ctrKey(i), p.id, part, after.Owner(part).ID)
		}
		moved++
	}
	if moved > 0 {
		t.Logf("through %s: %d keys kept, %d lost on moved partitions (expected until handoff lands)", p.id, kept, moved)
	}
}

func tableOf(ctx context.Context, t *testing.T, p *proc) *ring.Table {
	t.Helper()
	pt, err := p.table(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := transport.TableFromProto(pt)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// nsctlRoundTrip writes a key with nsctl inside one container and reads it
// with nsctl inside another, through the first one's DNS name.
func nsctlRoundTrip(t *testing.T, a, b *ctr) {
	t.Helper()
	mustDocker(t, "exec", a.name, "/usr/local/bin/nsctl", "--endpoints", "127.0.0.1:7700", "put", "nsctl-key", "nsctl-value")
	out := mustDocker(t, "exec", b.name, "/usr/local/bin/nsctl", "--endpoints", a.name+":7700", "get", "nsctl-key")
	if !strings.Contains(out, "nsctl-value") {
		t.Fatalf("nsctl get in %s = %q, want it to show nsctl-value", b.name, out)
	}
}
