package node

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/transport"
)

// startTestNode starts a one-node cluster on loopback (ports chosen by the
// kernel, no admin or RESP server) and waits until it serves every key.
// modify, if not nil, changes the config first.
func startTestNode(tb testing.TB, modify func(*Config)) *Node {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.NodeID = "n0"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.HTTPAddr = ""
	cfg.RESPAddr = ""
	cfg.Cluster.BindAddr = "127.0.0.1"
	cfg.Cluster.BindPort = 0
	cfg.Worker.Workers = 2
	if modify != nil {
		modify(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(n.Abort)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkApply measures the worker side of the data path: handler.Handle
// of one envelope of 16 items on a one-node node's worker 0, with the real
// kv stores and request-id dedup tables, no sockets, no routing, no log,
// no backups. Gets and overwrites of 16 existing keys (64 B values) spread
// over the worker's partitions; writes carry fresh request ids, as the SDK
// sends them, unless "noid". One op is one batch; the */item metrics divide
// by 16.
func BenchmarkApply(b *testing.B) {
	n := startTestNode(b, func(cfg *Config) { cfg.Ring.Partitions = 8 })
	const batch = 16
	t := n.table.Load()
	W := n.pool.Size()
	ownKeys := func(prefix string) [][]byte { // batch keys on worker 0
		var keys [][]byte
		for i := 0; len(keys) < batch; i++ {
			if k := fmt.Appendf(nil, "%s-%d", prefix, i); t.PartitionOf(k)%W == 0 {
				keys = append(keys, k)
			}
		}
		return keys
	}
	keys, counters := ownKeys("key"), ownKeys("ctr")
	val := bytes.Repeat([]byte{'v'}, 64)
	req := func(op kv.Op, k []byte) []byte {
		p, err := (&kv.Request{Op: op, Key: k, Value: val, Delta: 1}).AppendBinary(nil)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	ctx := context.Background()
	fill := make([]*nsv1.Item, len(keys))
	for i, k := range keys {
		fill[i] = &nsv1.Item{Service: transport.KVServiceName, Key: k, Payload: req(kv.OpPut, k)}
	}
	for _, r := range n.dispatch(ctx, fill, false) {
		if r.GetCode() != 0 {
			b.Fatalf("fill: %v", r)
		}
	}
	for _, bc := range []struct {
		name string
		op   kv.Op
		ids  bool
	}{{"get", kv.OpGet, false}, {"put", kv.OpPut, true}, {"put-noid", kv.OpPut, false}, {"incr", kv.OpIncr, true}} {
		b.Run(bc.name, func(b *testing.B) {
			env := &envelope{kind: envItems, ctx: ctx, call: newCall(), results: make([]*nsv1.Result, batch)}
			env.call.pending.Store(1 << 30) // finish never closes done
			ks := keys
			if bc.op == kv.OpIncr {
				ks = counters
			}
			for i, k := range ks {
				env.items = append(env.items, &nsv1.Item{Service: transport.KVServiceName, Key: k, Payload: req(bc.op, k)})
				env.parts = append(env.parts, int32(t.PartitionOf(k)))
				env.pos = append(env.pos, int32(i))
			}
			h := &handler{n: n}
			id := uint64(1)
			err := n.exec(ctx, 0, func(s *shard) {
				run := func() {
					if bc.ids {
						for _, it := range env.items {
							it.RequestId = id
							id++
						}
					}
					h.Handle(s, env)
				}
				for range 2 * dedupSize { // warm up: full dedup rings, chunks taken
					run()
				}
				for _, r := range env.results {
					if r.GetCode() != 0 {
						b.Fatalf("%s: %v", bc.name, r)
					}
				}
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					run()
				}
				b.StopTimer()
				runtime.ReadMemStats(&m1)
				items := float64(b.N * batch)
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/items, "ns/item")
				b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/items, "allocs/item")
				b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/items, "B/item")
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}

// TestRouteBatches: batches below and above route's stack buffers (64
// items, 64 workers), spread over every worker, come back with each item's
// own result in its place.
func TestRouteBatches(t *testing.T) { routeBatches(t) }

// TestPrefetchedBatches is TestRouteBatches with the workers' prefetch
// pass on (handler.prefetch; it is off below prefetchAbove, which a test's
// few keys never reach): the results are the same.
func TestPrefetchedBatches(t *testing.T) {
	defer func(v int64) { prefetchAbove = v }(prefetchAbove)
	prefetchAbove = -1
	routeBatches(t)
}

func routeBatches(t *testing.T) {
	n := startTestNode(t, func(cfg *Config) { cfg.Ring.Partitions = 64; cfg.Worker.Workers = 3 })
	ctx := context.Background()
	for _, size := range []int{1, 16, 64, 65, 300} {
		items := make([]*nsv1.Item, size)
		gets := make([]*nsv1.Item, size)
		for i := range items {
			k := fmt.Appendf(nil, "b%d-%d", size, i)
			v := fmt.Appendf(nil, "v%d", i)
			p, _ := (&kv.Request{Op: kv.OpPut, Key: k, Value: v}).AppendBinary(nil)
			g, _ := (&kv.Request{Op: kv.OpGet, Key: k}).AppendBinary(nil)
			items[i] = &nsv1.Item{Service: transport.KVServiceName, Key: k, Payload: p}
			gets[i] = &nsv1.Item{Service: transport.KVServiceName, Key: k, Payload: g}
		}
		for i, r := range n.dispatch(ctx, items, false) {
			if r.GetCode() != 0 {
				t.Fatalf("batch of %d, put %d: %v", size, i, r)
			}
		}
		for i, r := range n.dispatch(ctx, gets, false) {
			resp, err := kv.DecodeResponse(r.GetPayload())
			if r.GetCode() != 0 || err != nil || string(resp.Value) != fmt.Sprintf("v%d", i) {
				t.Fatalf("batch of %d, get %d: %v %q (%v)", size, i, r, resp.Value, err)
			}
		}
	}
}

// BenchmarkApplyCold is BenchmarkApply over a store much larger than the
// CPU's caches: batches of 16 GETs or PUTs (64-byte values, no request
// ids) of random keys among 200,000 on one worker, with the worker's
// prefetch pass (handler.prefetch) and without. Each batch's items are
// encoded afresh into reused buffers, as they arrive from the network, so
// that only the store's index and records are cold.
func BenchmarkApplyCold(b *testing.B) {
	const (
		batch = 16
		nkeys = 200_000
	)
	n := startTestNode(b, func(cfg *Config) { cfg.Ring.Partitions = 8 })
	t := n.table.Load()
	W := n.pool.Size()
	var keys [][]byte
	for i := 0; len(keys) < nkeys; i++ {
		if k := fmt.Appendf(nil, "key:%d:0000", i); t.PartitionOf(k)%W == 0 {
			keys = append(keys, k)
		}
	}
	val := bytes.Repeat([]byte{'v'}, 64)
	ctx := context.Background()
	for lo := 0; lo < len(keys); lo += 256 {
		var fill []*nsv1.Item
		for _, k := range keys[lo:min(lo+256, len(keys))] {
			p, _ := (&kv.Request{Op: kv.OpPut, Key: k, Value: val}).AppendBinary(nil)
			fill = append(fill, &nsv1.Item{Service: transport.KVServiceName, Key: k, Payload: p})
		}
		for _, r := range n.dispatch(ctx, fill, false) {
			if r.GetCode() != 0 {
				b.Fatalf("fill: %v", r)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	order := make([]int32, 1<<20)
	for i := range order {
		order[i] = int32(rng.IntN(len(keys)))
	}
	defer func() { prefetchBatches = true }()
	for _, op := range []kv.Op{kv.OpGet, kv.OpPut} {
		for _, pre := range []bool{false, true} {
			name := strings.ToLower(op.String()) + "/serial"
			if pre {
				name = strings.ToLower(op.String()) + "/prefetched"
			}
			b.Run(name, func(b *testing.B) {
				prefetchBatches = pre
				env := &envelope{kind: envItems, ctx: ctx, call: newCall(), results: make([]*nsv1.Result, batch)}
				env.call.pending.Store(1 << 30) // finish never closes done
				items := make([]nsv1.Item, batch)
				for i := range items {
					env.items = append(env.items, &items[i])
					env.parts = append(env.parts, 0)
					env.pos = append(env.pos, int32(i))
				}
				var buf []byte
				o := 0
				h := &handler{n: n}
				err := n.exec(ctx, 0, func(s *shard) {
					b.ResetTimer()
					for b.Loop() {
						idx := order[o : o+batch]
						o = (o + batch) & (len(order) - 1)
						buf = buf[:0]
						for j, i := range idx {
							k := keys[i]
							start := len(buf)
							buf, _ = (&kv.Request{Op: op, Key: k, Value: val}).AppendBinary(buf)
							items[j].Service, items[j].Key, items[j].Payload = transport.KVServiceName, k, buf[start:len(buf):len(buf)]
							env.parts[j] = int32(t.PartitionOf(k))
						}
						h.Handle(s, env)
					}
					b.StopTimer()
				})
				if err != nil {
					b.Fatal(err)
				}
				for _, r := range env.results {
					if r.GetCode() != 0 {
						b.Fatalf("%s: %v", name, r)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/item")
			})
		}
	}
}
