package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// grpcurlPath finds grpcurl: ./bin (make tools pins it there) or PATH.
func grpcurlPath(t *testing.T) string {
	t.Helper()
	if p, err := filepath.Abs(filepath.Join("..", "bin", "grpcurl")); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("grpcurl"); err == nil {
		return p
	}
	t.Skip("SKIPPED: grpcurl not found in ./bin or PATH; run `make tools` (CI does)")
	return ""
}

// TestGrpcurl: a node answers grpcurl through server reflection, with no
// .proto files: it lists every service and calls the KV API.
func TestGrpcurl(t *testing.T) {
	grpcurl := grpcurlPath(t)
	n := startNode(t, "g1", nil)
	waitFor(t, 15*time.Second, "node ready", func() (bool, string) { return n.ready(), "not ready" })

	grpc := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(grpcurl, append([]string{"-plaintext", "-max-time", "10"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	list := grpc(n.grpc, "list")
	for _, svc := range []string{"ns.v1.NodeService", "ns.v1.KVService", "ns.v1.ClusterService", "ns.v1.PeerService", "grpc.health.v1.Health"} {
		if !strings.Contains(list, svc) {
			t.Errorf("grpcurl list does not show %s:\n%s", svc, list)
		}
	}
	grpc("-d", `{"key":"Z3JwY3VybA==","value":"b2s="}`, n.grpc, "ns.v1.KVService/Put")
	if got := grpc("-d", `{"key":"Z3JwY3VybA=="}`, n.grpc, "ns.v1.KVService/Get"); !strings.Contains(got, `"b2s="`) {
		t.Fatalf("Get after Put through grpcurl: %s", got)
	}
	if got := grpc(n.grpc, "grpc.health.v1.Health/Check"); !strings.Contains(got, "SERVING") {
		t.Fatalf("health through grpcurl: %s", got)
	}
}
