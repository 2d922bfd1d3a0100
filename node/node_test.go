package node_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/internal/clustertest"
	"github.com/nothingshared/ns/kv"
	"github.com/nothingshared/ns/node"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*node.Config)
		want   string
	}{
		{"no node id", func(c *node.Config) { c.NodeID = "" }, "NodeID"},
		{"bad grpc addr", func(c *node.Config) { c.GRPCAddr = "nope" }, "--grpc-addr"},
		{"zero partitions", func(c *node.Config) { c.Ring.Partitions = -1 }, "partition"},
		{"duplicate service", func(c *node.Config) { c.Services = []node.Service{node.KVService(), node.KVService()} }, "twice"},
		{"unspecified advertise", func(c *node.Config) { c.GRPCAddr = "0.0.0.0:0" }, "--advertise-addr"},
		{"values too large for the log", func(c *node.Config) { c.DataDir = t.TempDir(); c.Limits.MaxValueBytes = 64 << 20 }, "--max-value-bytes"},
		{"tiny log segments", func(c *node.Config) { c.DataDir = t.TempDir(); c.WALSegmentBytes = 10 }, "--wal-segment-bytes"},
		{"bad fsync mode", func(c *node.Config) { c.DataDir = t.TempDir(); c.Fsync = 9 }, "--fsync"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := clustertest.NodeConfig(t, 0)
			tc.modify(&cfg)
			_, err := node.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: err = %v, want mention of %q", err, tc.want)
			}
		})
	}
}

// TestRoutesFromAnyNode writes through every node and reads through every
// other: each key lands on its one owner, wherever it was sent.
func TestRoutesFromAnyNode(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const keys = 300
	for i := 0; i < keys; i++ {
		kvc := nsv1.NewKVServiceClient(c.Dial(i % 3))
		if _, err := kvc.Put(ctx, &nsv1.PutRequest{Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i))}); err != nil {
			t.Fatalf("put k%d: %v", i, err)
		}
	}
	for n := 0; n < 3; n++ {
		kvc := nsv1.NewKVServiceClient(c.Dial(n))
		for i := 0; i < keys; i++ {
			resp, err := kvc.Get(ctx, &nsv1.GetRequest{Key: []byte(fmt.Sprint("k", i))})
			if err != nil {
				t.Fatalf("get k%d via n%d: %v", i, n+1, err)
			}
			if want := fmt.Sprint("v", i); string(resp.GetValue()) != want {
				t.Fatalf("get k%d via n%d = %q, want %q", i, n+1, resp.GetValue(), want)
			}
		}
	}
	var forwarded uint64
	for n := 0; n < 3; n++ {
		st, err := nsv1.NewClusterServiceClient(c.Dial(n)).Stats(ctx, &nsv1.StatsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		forwarded += st.GetForwarded()
	}
	if forwarded == 0 {
		t.Fatal("no item was forwarded: every key cannot have been sent to its owner by chance")
	}
	// The total of keys across nodes is exactly the keys written: one owner each.
	var total uint64
	for n := 0; n < 3; n++ {
		st, _ := nsv1.NewClusterServiceClient(c.Dial(n)).Stats(ctx, &nsv1.StatsRequest{})
		total += st.GetKeys()
	}
	if total != keys {
		t.Fatalf("keys stored across nodes = %d, want %d", total, keys)
	}
}

// TestLimits checks every request limit at its edge: the largest allowed
// passes, one more is InvalidArgument naming the limit, and nothing changes.
func TestLimits(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 1, Modify: func(_ int, cfg *node.Config) {
		cfg.Limits.MaxKeyBytes = 16
		cfg.Limits.MaxValueBytes = 64
		cfg.Limits.MaxBatch = 8
	}})
	ctx := context.Background()
	kvc := nsv1.NewKVServiceClient(c.Dial(0))
	check := func(name string, err error, want codes.Code, limit string) {
		t.Helper()
		if status.Code(err) != want {
			t.Fatalf("%s: code %v (%v), want %v", name, status.Code(err), err, want)
		}
		if limit != "" && !strings.Contains(err.Error(), limit) {
			t.Fatalf("%s: %v does not name %s", name, err, limit)
		}
	}
	_, err := kvc.Put(ctx, &nsv1.PutRequest{Key: bytes.Repeat([]byte("k"), 16), Value: bytes.Repeat([]byte("v"), 64)})
	check("max key and value", err, codes.OK, "")
	_, err = kvc.Put(ctx, &nsv1.PutRequest{Key: bytes.Repeat([]byte("k"), 17), Value: []byte("v")})
	check("key too long", err, codes.InvalidArgument, "max-key-bytes")
	_, err = kvc.Put(ctx, &nsv1.PutRequest{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 65)})
	check("value too long", err, codes.InvalidArgument, "max-value-bytes")
	_, err = kvc.Put(ctx, &nsv1.PutRequest{Key: nil, Value: []byte("v")})
	check("empty key", err, codes.InvalidArgument, "")
	_, err = kvc.Get(ctx, &nsv1.GetRequest{Key: []byte("k")})
	check("value of the oversized put was not stored", err, codes.NotFound, "")

	batch := func(n int) *nsv1.BatchRequest {
		b := &nsv1.BatchRequest{}
		for i := 0; i < n; i++ {
			b.Operations = append(b.Operations, &nsv1.KVOperation{Op: &nsv1.KVOperation_Incr{Incr: &nsv1.IncrRequest{Key: []byte("n"), Delta: 1}}})
		}
		return b
	}
	_, err = kvc.Batch(ctx, batch(8))
	check("max batch", err, codes.OK, "")
	_, err = kvc.Batch(ctx, batch(9))
	check("batch too large", err, codes.InvalidArgument, "max-batch")
	got, err := kvc.Incr(ctx, &nsv1.IncrRequest{Key: []byte("n"), Delta: 0})
	check("counter", err, codes.OK, "")
	if got.GetValue() != 8 {
		t.Fatalf("counter = %d, want 8: the oversized batch must change nothing", got.GetValue())
	}

	_, err = nsv1.NewNodeServiceClient(c.Dial(0)).Send(ctx, &nsv1.SendRequest{Item: &nsv1.Item{Service: "nope", Key: []byte("k")}})
	check("unknown service", err, codes.InvalidArgument, "nope")

	// One frame mixing good and bad items: each bad item gets its own
	// InvalidArgument, the good ones are applied, in order.
	st, err := nsv1.NewNodeServiceClient(c.Dial(0)).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	frame := &nsv1.StreamRequest{Id: 7, Items: []*nsv1.Item{
		kvIncr(t, "mixed", 1),
		{Service: "kv", Key: bytes.Repeat([]byte("k"), 17), Payload: kvIncr(t, "x", 1).GetPayload()},
		{Service: "", Key: []byte("k")},
		kvIncr(t, "mixed", 1),
	}}
	if err := st.Send(frame); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	want := []codes.Code{codes.OK, codes.InvalidArgument, codes.InvalidArgument, codes.OK}
	for i, r := range resp.GetResults() {
		if codes.Code(r.GetCode()) != want[i] {
			t.Fatalf("mixed frame item %d: code %v (%s), want %v", i, codes.Code(r.GetCode()), r.GetMessage(), want[i])
		}
	}
	if !strings.Contains(resp.GetResults()[1].GetMessage(), "max-key-bytes") {
		t.Fatalf("oversized key in a frame: %q does not name max-key-bytes", resp.GetResults()[1].GetMessage())
	}
	got, err = kvc.Incr(ctx, &nsv1.IncrRequest{Key: []byte("mixed")})
	check("mixed counter", err, codes.OK, "")
	if got.GetValue() != 2 {
		t.Fatalf("mixed = %d, want 2: both good items of the frame apply", got.GetValue())
	}
}

// TestStream sends batched frames, pipelined, and gets one result per item
// in order.
func TestStream(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := nsv1.NewNodeServiceClient(c.Dial(0)).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const frames, per = 20, 50
	for f := 0; f < frames; f++ {
		req := &nsv1.StreamRequest{Id: uint64(f)}
		for i := 0; i < per; i++ {
			incr := kvIncr(t, fmt.Sprint("c", i), 1)
			req.Items = append(req.Items, incr)
		}
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CloseSend(); err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for range frames {
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if seen[resp.GetId()] {
			t.Fatalf("frame %d answered twice", resp.GetId())
		}
		seen[resp.GetId()] = true
		if len(resp.GetResults()) != per {
			t.Fatalf("frame %d: %d results, want %d", resp.GetId(), len(resp.GetResults()), per)
		}
		for _, r := range resp.GetResults() {
			if r.GetCode() != 0 {
				t.Fatalf("frame %d: %d %s", resp.GetId(), r.GetCode(), r.GetMessage())
			}
		}
	}
	kvc := nsv1.NewKVServiceClient(c.Dial(1))
	for i := 0; i < per; i++ {
		got, err := kvc.Incr(ctx, &nsv1.IncrRequest{Key: []byte(fmt.Sprint("c", i))})
		if err != nil {
			t.Fatal(err)
		}
		if got.GetValue() != frames {
			t.Fatalf("c%d = %d, want %d", i, got.GetValue(), frames)
		}
	}
}

func kvIncr(t *testing.T, key string, delta int64) *nsv1.Item {
	t.Helper()
	req := kv.Request{Op: kv.OpIncr, Key: []byte(key), Delta: delta}
	payload, err := req.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &nsv1.Item{Service: "kv", Key: []byte(key), Payload: payload}
}
