package node_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/nothingshared/ns/internal/clustertest"
	"github.com/nothingshared/ns/kv"
	"github.com/nothingshared/ns/node"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// BenchmarkDispatchWithMetrics measures the request path's metric cost:
// Dispatch of a 64-item batch of KV increments on one node, bare
// (baseline) and followed by what the hooks add per request: counting
// client-visible results and feeding the hot-key sketch (on the calling
// goroutine, in series, so its whole cost shows in the figure).
func BenchmarkDispatchWithMetrics(b *testing.B) {
	c := clustertest.Start(b, clustertest.Config{Nodes: 1})
	n := c.Nodes[0]
	const batch = 64
	items := make([]*nsv1.Item, batch)
	for i := range items {
		payload, err := (&kv.Request{Op: kv.OpIncr, Key: []byte(fmt.Sprint("key", i)), Delta: 1}).AppendBinary(nil)
		if err != nil {
			b.Fatal(err)
		}
		items[i] = &nsv1.Item{Service: "kv", Key: []byte(fmt.Sprint("key", i)), Payload: payload}
	}
	ctx := context.Background()
	for _, bc := range []struct {
		name    string
		metrics bool
	}{{"baseline=bare", false}, {"metrics", true}, {"baseline=bare#2", false}, {"metrics#2", true}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				res := n.DispatchForTest(ctx, items, false)
				if bc.metrics {
					node.CountResultsForTest(n, res, false)
					node.ObserveKeysForTest(n, 0, items)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/item")
		})
	}
	// The hooks alone, per 64-item request: the numerator of the overhead.
	b.Run("hooks-only", func(b *testing.B) {
		res := n.DispatchForTest(ctx, items, false)
		b.ReportAllocs()
		for b.Loop() {
			node.CountResultsForTest(n, res, false)
			node.ObserveKeysForTest(n, 0, items)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/item")
	})
}
