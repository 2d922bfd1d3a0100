package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// bins holds the binaries TestMain builds once for every test.
var bins struct {
	dir    string
	nsnode string
	nsctl  string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ns-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	bins.nsnode = filepath.Join(dir, "nsnode")
	bins.nsctl = filepath.Join(dir, "nsctl")
	for _, b := range []string{bins.nsnode, bins.nsctl} {
		build := exec.Command("go", "build", "-o", b, "github.com/nothingshared/ns/cmd/"+filepath.Base(b))
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building", filepath.Base(b)+":", err)
			os.Exit(1)
		}
	}
	// NS_E2E_NSNODE runs the tests against another nsnode binary (an older
	// build, to show a test failing before its fix, or a mixed version).
	if b := os.Getenv("NS_E2E_NSNODE"); b != "" {
		bins.nsnode = b
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a port free for TCP and UDP on 127.0.0.1, never the same
// twice in one test binary. It picks from 20000-31999, below Linux's
// ephemeral range (32768-60999): a port the kernel handed out for ":0" could
// be taken again, between the check and the node's bind, as the source port
// of some outgoing connection (seen: a node failing to bind its admin port).
func freePort(t *testing.T) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for i := 0; i < 1000; i++ {
		port := 20000 + rand.IntN(12000)
		if portsIssued[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		portsIssued[port] = true
		return port
	}
	t.Fatal("no free port")
	return 0
}

var (
	portsMu     sync.Mutex
	portsIssued = map[int]bool{}
)

// proc is one nsnode process.
type proc struct {
	t       *testing.T
	id      string
	grpc    string
	gossip  string
	http    string
	resp    string // Redis protocol address (NSNODE_RESP_ADDR)
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	exitErr error
	conn    *grpc.ClientConn
}

// startNode starts an nsnode process with free ports, joining join (gossip
// addresses), with extra flags. It is killed at the end of the test.
func startNode(t *testing.T, id string, join []string, extra ...string) *proc {
	t.Helper()
	p := &proc{
		t:      t,
		id:     id,
		grpc:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		gossip: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		http:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		resp:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		exited: make(chan struct{}),
	}
	args := []string{"--node-id", id, "--grpc-addr", p.grpc, "--gossip-addr", p.gossip, "--http-addr", p.http,
		"--workers", "2", "--log-level", "debug"}
	if len(join) > 0 {
		args = append(args, "--join", strings.Join(join, ","))
	}
	args = append(args, extra...)
	p.logPath = filepath.Join(t.TempDir(), id+".log")
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bins.nsnode, args...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	// As an environment variable, which a binary from before RESP
	// (NS_E2E_NSNODE) ignores.
	p.cmd.Env = append(os.Environ(), "NSNODE_RESP_ADDR="+p.resp)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			p.dumpLog()
		}
		if p.conn != nil {
			p.conn.Close()
		}
	})
	return p
}

func (p *proc) dumpLog() {
	f, err := os.Open(p.logPath)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		if n++; n > 400 {
			p.t.Logf("[%s] ... (log truncated)", p.id)
			return
		}
		p.t.Logf("[%s] %s", p.id, sc.Text())
	}
}

func (p *proc) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// terminate sends SIGTERM and waits for the exit, returning its error.
func (p *proc) terminate(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.exitErr
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not exit within %v of SIGTERM", p.id, timeout)
	}
}

func (p *proc) client() *grpc.ClientConn {
	p.t.Helper()
	if p.conn == nil {
		c, err := grpc.NewClient(p.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			p.t.Fatal(err)
		}
		p.conn = c
	}
	return p.conn
}

func (p *proc) kv() nsv1.KVServiceClient { return nsv1.NewKVServiceClient(p.client()) }
func (p *proc) clusterAPI() nsv1.ClusterServiceClient {
	return nsv1.NewClusterServiceClient(p.client())
}

// ready reports whether /readyz answers 200.
func (p *proc) ready() bool {
	ok, _ := p.readiness()
	return ok
}

// readiness is ready with the reason: /readyz's answer, or why there is
// none.
func (p *proc) readiness() (bool, string) {
	select {
	case <-p.exited:
		return false, "exited" // whatever answers on its port now, it is not this node
	default:
	}
	resp, err := http.Get("http://" + p.http + "/readyz")
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode == http.StatusOK, strings.TrimSpace(string(body))
}

// table fetches the node's table.
func (p *proc) table(ctx context.Context) (*nsv1.Table, error) {
	resp, err := p.clusterAPI().Table(ctx, &nsv1.TableRequest{})
	if err != nil {
		return nil, err
	}
	return resp.GetTable(), nil
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	last := ""
	for {
		ok, why := cond()
		if ok {
			return time.Since(start)
		}
		last = why
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// agreed reports whether every node has a table with want members and the
// same epoch and hash.
func agreed(ctx context.Context, nodes []*proc, want int) (bool, string) {
	var first *nsv1.Table
	for _, p := range nodes {
		t, err := p.table(ctx)
		if err != nil {
			return false, fmt.Sprintf("%s: %v", p.id, err)
		}
		if len(t.GetMembers()) != want {
			return false, fmt.Sprintf("%s: table has %d members, want %d", p.id, len(t.GetMembers()), want)
		}
		if first == nil {
			first = t
			continue
		}
		if t.GetEpoch() != first.GetEpoch() || t.GetHash() != first.GetHash() {
			return false, fmt.Sprintf("%s: epoch %d hash %x, %s: epoch %d hash %x", nodes[0].id, first.GetEpoch(), first.GetHash(), p.id, t.GetEpoch(), t.GetHash())
		}
	}
	return true, ""
}

// runExit runs cmd and returns its exit code and combined output; err is
// set only when it could not run or did not exit normally.
func runExit(cmd *exec.Cmd) (int, string, error) {
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out), nil
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), string(out), nil
	}
	return -1, string(out), err
}
