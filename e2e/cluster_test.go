package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

const e2eKeys = 10000

func keyOf(i int) []byte   { return []byte(fmt.Sprintf("key-%05d", i)) }
func valueOf(i int) []byte { return []byte(fmt.Sprintf("value-%05d", i)) }

// putAll writes every key through one node with KV batches.
func putAll(ctx context.Context, t *testing.T, p *proc, n int) {
	t.Helper()
	const batch = 500
	for lo := 0; lo < n; lo += batch {
		req := &nsv1.BatchRequest{}
		for i := lo; i < lo+batch && i < n; i++ {
			req.Operations = append(req.Operations, &nsv1.KVOperation{Op: &nsv1.KVOperation_Put{
				Put: &nsv1.PutRequest{Key: keyOf(i), Value: valueOf(i)}}})
		}
		resp, err := p.kv().Batch(ctx, req)
		if err != nil {
			t.Fatalf("batch put through %s: %v", p.id, err)
		}
		for j, r := range resp.GetResults() {
			if r.GetCode() != 0 {
				t.Fatalf("put %s through %s: code %d: %s", keyOf(lo+j), p.id, r.GetCode(), r.GetMessage())
			}
		}
	}
}

// getAll reads every key through p and returns the result code of each
// key with the value checked.
func getAll(ctx context.Context, t *testing.T, p *proc, n int) []codes.Code {
	t.Helper()
	const batch = 500
	out := make([]codes.Code, n)
	for lo := 0; lo < n; lo += batch {
		req := &nsv1.BatchRequest{}
		for i := lo; i < lo+batch && i < n; i++ {
			req.Operations = append(req.Operations, &nsv1.KVOperation{Op: &nsv1.KVOperation_Get{Get: &nsv1.GetRequest{Key: keyOf(i)}}})
		}
		resp, err := p.kv().Batch(ctx, req)
		if err != nil {
			t.Fatalf("batch get through %s: %v", p.id, err)
		}
		for j, r := range resp.GetResults() {
			i := lo + j
			out[i] = codes.Code(r.GetCode())
			if out[i] == codes.OK && string(r.GetGet().GetValue()) != string(valueOf(i)) {
				t.Fatalf("get %s through %s = %q, want %q", keyOf(i), p.id, r.GetGet().GetValue(), valueOf(i))
			}
		}
	}
	return out
}

// TestThreeNodes: three real nsnode processes join over loopback, agree on
// one table, route every key to its owner from any node, and survive a
// graceful leave.
func TestThreeNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	n1 := startNode(t, "n1", nil)
	n2 := startNode(t, "n2", []string{n1.gossip})
	n3 := startNode(t, "n3", []string{n1.gossip, n2.gossip})
	nodes := []*proc{n1, n2, n3}

	waitFor(t, 15*time.Second, "every node ready", func() (bool, string) {
		for _, p := range nodes {
			if !p.ready() {
				return false, p.id + " not ready"
			}
		}
		return true, ""
	})
	took := waitFor(t, 5*time.Second, "all nodes agree on a 3-member table", func() (bool, string) { return agreed(ctx, nodes, 3) })
	t.Logf("tables agreed %v after every node was ready", took)

	putAll(ctx, t, n1, e2eKeys)
	for _, p := range nodes {
		for i, c := range getAll(ctx, t, p, e2eKeys) {
			if c != codes.OK {
				t.Fatalf("get %s through %s: %v", keyOf(i), p.id, c)
			}
		}
	}

	if err := n3.terminate(30 * time.Second); err != nil {
		t.Fatalf("n3 after SIGTERM: %v (want exit 0)", err)
	}
	rest := []*proc{n1, n2}
	took = waitFor(t, 10*time.Second, "survivors agree on a 2-member table", func() (bool, string) { return agreed(ctx, rest, 2) })
	t.Logf("survivors agreed %v after n3 exited", took)

	// A graceful leave hands every partition n3 owned to its new owner
	// before n3 exits: every key is still there, through every node.
	for _, p := range rest {
		for i, c := range getAll(ctx, t, p, e2eKeys) {
			if c != codes.OK {
				t.Fatalf("get %s through %s after n3 left: %v", keyOf(i), p.id, c)
			}
		}
	}
}
