package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// dockerCmdTimeout bounds one docker CLI call.
const dockerCmdTimeout = 90 * time.Second

// docker runs the docker CLI and returns its trimmed stdout; the error
// carries stderr.
func docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dockerCmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// mustDocker is docker that fails the test.
func mustDocker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// requireDocker skips the test, loudly, when no Docker engine answers.
// NS_E2E_CONTAINER=off skips it on purpose; NS_E2E_CONTAINER=require makes a
// missing engine a failure (CI sets nothing: it has Docker and runs it).
func requireDocker(t *testing.T) {
	t.Helper()
	mode := os.Getenv("NS_E2E_CONTAINER")
	if mode == "off" {
		t.Skip("container e2e disabled by NS_E2E_CONTAINER=off")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		skipLoud(t, mode, "no docker CLI in PATH")
	}
	if _, err := docker("info", "--format", "{{.ServerVersion}}"); err != nil {
		skipLoud(t, mode, err.Error())
	}
}

func skipLoud(t *testing.T, mode, why string) {
	t.Helper()
	msg := "\n" + strings.Repeat("!", 78) + "\n" +
		"!!! CONTAINER E2E SKIPPED: `docker info` failed: the image, the 3-container\n" +
		"!!! cluster, graceful stop, kill and network partition were NOT tested.\n" +
		"!!! " + why + "\n" +
		strings.Repeat("!", 78)
	fmt.Fprintln(os.Stderr, msg)
	if mode == "require" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// randomID returns a short random hex id for the test's docker objects.
func randomID(t *testing.T) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// moduleRoot is the main module's root (the tests run in e2e/).
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// stageImage fills a directory with what `make image` stages: a static
// linux nsnode for the engine's architecture (the prebuilt bins.nsnode when
// it is one) and nsctl when ./cmd/nsctl builds. It reports whether nsctl is
// in.
func stageImage(t *testing.T, dir string) (withNsctl bool) {
	t.Helper()
	arch := mustDocker(t, "version", "--format", "{{.Server.Arch}}")
	nsnode := filepath.Join(dir, "nsnode")
	if runtime.GOOS == "linux" && runtime.GOARCH == arch {
		copyFile(t, bins.nsnode, nsnode) // TestMain built it with CGO_ENABLED=0
	} else {
		goBuild(t, "linux", arch, "./cmd/nsnode", nsnode)
	}
	if _, err := os.Stat(filepath.Join(moduleRoot(t), "cmd", "nsctl")); err != nil {
		t.Log("no ./cmd/nsctl: the image holds nsnode only; KV checks use the Go client")
		return false
	}
	if err := tryGoBuild("linux", arch, "./cmd/nsctl", filepath.Join(dir, "nsctl"), moduleRoot(t)); err != nil {
		t.Logf("./cmd/nsctl does not build (%v): the image holds nsnode only", err)
		return false
	}
	return true
}

func goBuild(t *testing.T, goos, goarch, pkg, out string) {
	t.Helper()
	if err := tryGoBuild(goos, goarch, pkg, out, moduleRoot(t)); err != nil {
		t.Fatal(err)
	}
}

func tryGoBuild(goos, goarch, pkg, out, dir string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// createNetwork creates a user-defined bridge network with an explicit
// subnet (static container IPs need one, and nsnode advertises an IP): it
// lets Docker pick a free subnet, then recreates the network pinned to it.
// It returns the subnet; the network is removed at cleanup.
func createNetwork(t *testing.T, name string) netip.Prefix {
	t.Helper()
	mustDocker(t, "network", "create", "--label", "ns-e2e=1", name)
	subnets := mustDocker(t, "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", name)
	mustDocker(t, "network", "rm", name)
	var pfx netip.Prefix
	for _, s := range strings.Fields(subnets) {
		if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() && p.Bits() <= 28 {
			pfx = p.Masked()
			break
		}
	}
	if !pfx.IsValid() {
		t.Fatalf("network %s: no usable IPv4 subnet in %q", name, subnets)
	}
	mustDocker(t, "network", "create", "--label", "ns-e2e=1", "--subnet", pfx.String(), name)
	t.Cleanup(func() {
		if _, err := docker("network", "rm", name); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return pfx
}

// nthAddr returns the n-th address of the prefix (.0 + n).
func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a
}

// ctr is one nsnode container; embedded proc reaches it by gRPC and HTTP at
// its IP.
type ctr struct {
	*proc
	name string // container name (also its DNS name on the network)
	ip   string
}

// containerExitCode returns the exit code of a stopped container.
func containerExitCode(t *testing.T, name string) string {
	t.Helper()
	return mustDocker(t, "inspect", "--format", "{{.State.ExitCode}}", name)
}

// putKeys writes keys [lo, hi) through p with KV batches; every item must
// succeed.
func putKeys(ctx context.Context, t *testing.T, p *proc, lo, hi int, value func(int) []byte) {
	t.Helper()
	if err := tryPutKeys(ctx, p, lo, hi, value); err != nil {
		t.Fatal(err)
	}
}

// tryPutKeys is putKeys returning the first failure.
func tryPutKeys(ctx context.Context, p *proc, lo, hi int, value func(int) []byte) error {
	const batch = 250
	for b := lo; b < hi; b += batch {
		req := &nsv1.BatchRequest{}
		for i := b; i < min(b+batch, hi); i++ {
			req.Operations = append(req.Operations, &nsv1.KVOperation{Op: &nsv1.KVOperation_Put{
				Put: &nsv1.PutRequest{Key: ctrKey(i), Value: value(i)}}})
		}
		resp, err := p.kv().Batch(ctx, req)
		if err != nil {
			return fmt.Errorf("batch put through %s: %v", p.id, err)
		}
		for j, r := range resp.GetResults() {
			if c := codes.Code(r.GetCode()); c != codes.OK {
				return fmt.Errorf("put %s through %s: %v: %s", ctrKey(b+j), p.id, c, r.GetMessage())
			}
		}
	}
	return nil
}

// getKeys reads keys [0, n) through p; the RPCs must succeed. It returns
// each key's code; a found value must equal value(i).
func getKeys(ctx context.Context, t *testing.T, p *proc, n int, value func(int) []byte) []codes.Code {
	t.Helper()
	const batch = 250
	out := make([]codes.Code, n)
	for b := 0; b < n; b += batch {
		req := &nsv1.BatchRequest{}
		for i := b; i < min(b+batch, n); i++ {
			req.Operations = append(req.Operations, &nsv1.KVOperation{Op: &nsv1.KVOperation_Get{Get: &nsv1.GetRequest{Key: ctrKey(i)}}})
		}
		resp, err := p.kv().Batch(ctx, req)
		if err != nil {
			t.Fatalf("batch get through %s: %v", p.id, err)
		}
		for j, r := range resp.GetResults() {
			i := b + j
			out[i] = codes.Code(r.GetCode())
			if out[i] == codes.OK && !bytes.Equal(r.GetGet().GetValue(), value(i)) {
				t.Fatalf("get %s through %s = %q, want %q", ctrKey(i), p.id, r.GetGet().GetValue(), value(i))
			}
		}
	}
	return out
}

func ctrKey(i int) []byte { return []byte(fmt.Sprintf("ctr-%05d", i)) }
