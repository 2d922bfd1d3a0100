package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// healthProbe finds grpc-health-probe: ./bin (make tools pins it there) or
// PATH. Without it the test is skipped, loudly.
func healthProbe(t *testing.T) string {
	t.Helper()
	if p, err := filepath.Abs(filepath.Join("..", "bin", "grpc-health-probe")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("grpc-health-probe"); err == nil {
		return p
	}
	t.Skip("SKIPPED: grpc-health-probe not found in ./bin or PATH; run `make tools` (CI does)")
	return ""
}

// probe runs grpc-health-probe against addr (and service, if any) and
// returns its exit code and output. Exit codes: 0 SERVING, 1 bad flags,
// 2 connection failure, 3 RPC failure, 4 NOT_SERVING.
func probe(t *testing.T, bin, addr, service string) (int, string) {
	t.Helper()
	args := []string{"-addr", addr, "-connect-timeout", "1s", "-rpc-timeout", "1s"}
	if service != "" {
		args = append(args, "-service", service)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, out, err := runExit(exec.CommandContext(ctx, bin, args...))
	if err != nil {
		t.Fatalf("grpc-health-probe: %v: %s", err, out)
	}
	return code, out
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestHealthProbes checks grpc.health.v1 with the real grpc-health-probe and
// /healthz and /readyz on a real nsnode: SERVING and 200 once ready;
// NOT_SERVING (or refused connections) and no longer ready after SIGTERM.
func TestHealthProbes(t *testing.T) {
	bin := healthProbe(t)
	p := startNode(t, "h1", nil)
	waitFor(t, 20*time.Second, "h1 ready", func() (bool, string) { return p.ready(), "/readyz not 200" })

	for _, svc := range []string{"", "ns.v1.NodeService"} {
		code, out := probe(t, bin, p.grpc, svc)
		if code != 0 || !strings.Contains(out, "SERVING") {
			t.Fatalf("probe service %q before leave: exit %d: %s", svc, code, out)
		}
	}
	if c := httpStatus("http://" + p.http + "/healthz"); c != http.StatusOK {
		t.Fatalf("/healthz = %d", c)
	}

	// A Watch stream opened before the leave must see NOT_SERVING pushed
	// before its stream ends.
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	watch, err := healthpb.NewHealthClient(p.client()).Watch(wctx, &healthpb.HealthCheckRequest{Service: "ns.v1.NodeService"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := watch.Recv(); err != nil || m.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch before leave: %v %v", m, err)
	}
	watched := make(chan healthpb.HealthCheckResponse_ServingStatus, 1)
	go func() {
		last := healthpb.HealthCheckResponse_SERVING
		for {
			m, err := watch.Recv()
			if err != nil {
				watched <- last
				return
			}
			last = m.GetStatus()
			if last == healthpb.HealthCheckResponse_NOT_SERVING {
				watched <- last
				return
			}
		}
	}()

	// Leave. Poll fast: the NOT_SERVING window lasts from the signal until
	// the gRPC server stops, after which connections are refused.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	var last string
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, out := probe(t, bin, p.grpc, "")
		seen[code] = true
		last = out
		if code == 4 || code == 2 {
			break
		}
		if code != 0 {
			t.Fatalf("probe during leave: unexpected exit %d: %s", code, out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still SERVING 20s after the signal: %s", last)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("probe exits seen during leave: %v (4 = NOT_SERVING, 2 = connection refused); last: %s", seen, strings.TrimSpace(last))
	if c := httpStatus("http://" + p.http + "/readyz"); c == http.StatusOK {
		t.Errorf("/readyz still 200 after the probe reported not serving")
	}
	if st := <-watched; st != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health Watch ended on %v, never saw NOT_SERVING", st)
	}
	// An open Watch stream holds the graceful stop until --shutdown-timeout:
	// a watcher that saw NOT_SERVING must hang up, as load balancers do.
	wcancel()
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("nsnode did not exit after the signal")
	}
	if code, out := probe(t, bin, p.grpc, ""); code != 2 {
		t.Errorf("probe after exit: exit %d, want 2 (connection refused): %s", code, out)
	}
}
