package node

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// decodeOnly is the part of a Node decodePartition uses.
func decodeOnly() *Node {
	svcs := []Service{KVService()}
	return &Node{services: map[string]int{svcs[0].Name(): 0}, svcList: svcs, log: slog.New(slog.DiscardHandler)}
}

// FuzzDecodePartition feeds partition snapshots (what a handoff or a
// backup sync receives from a peer) to the decoder: it must return a
// snapshot or errBadSnapshot, never panic, and a snapshot it accepts must
// encode again.
func FuzzDecodePartition(f *testing.F) {
	n := decodeOnly()
	st := kv.NewStore()
	now := time.Now()
	for _, r := range []kv.Request{{Op: kv.OpPut, Key: []byte("a"), Value: []byte("1")}, {Op: kv.OpIncr, Key: []byte("n"), Delta: 5}} {
		if _, err := st.Apply(now, &r); err != nil {
			f.Fatal(err)
		}
	}
	var d dedup
	d.put(nil, 42, dedupEntry{lsn: 3, code: 0, payload: []byte("ok")}, true)
	good, err := n.encodePartition(7, 3, []Partition{st}, &d)
	if err != nil {
		f.Fatal(err)
	}
	empty, err := n.encodePartition(1, 0, []Partition{nil}, &dedup{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(empty)
	f.Add(good[:len(good)/2])
	f.Add([]byte("NSP1"))
	f.Add([]byte{})
	check := func(t *testing.T, b []byte) {
		dp, err := n.decodePartition(3, b)
		if err != nil {
			if !errors.Is(err, errBadSnapshot) {
				t.Fatalf("error %v does not wrap errBadSnapshot", err)
			}
			return
		}
		if _, err := n.encodePartition(dp.epoch, dp.lsn, dp.svcs, &dp.dedup); err != nil {
			t.Fatalf("an accepted snapshot does not encode again: %v", err)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, b)
		// The same bytes with a valid checksum, so that the fuzzer explores
		// the structure behind it (a peer can send a well-summed lie).
		if len(b) >= len(partMagic)+4 {
			fixed := append([]byte(nil), b[:len(b)-4]...)
			copy(fixed, partMagic)
			fixed = binary.BigEndian.AppendUint32(fixed, crc32.Checksum(fixed, castagnoli))
			check(t, fixed)
		}
	})
}

// FuzzReplicate feeds ReplicateRequest bytes (what a backup receives from
// an owner) to a running node: one result per op, no panic, no hang.
func FuzzReplicate(f *testing.F) {
	cfg := DefaultConfig()
	cfg.NodeID = "fuzz"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.HTTPAddr = ""
	cfg.RESPAddr = ""
	cfg.Cluster.BindPort = 0
	cfg.Worker.Workers = 2
	cfg.ExpiryInterval = 10 * time.Millisecond
	n, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(n.Abort)

	put, _ := (&kv.Request{Op: kv.OpPut, Key: []byte("k"), Value: []byte("v")}).AppendBinary(nil)
	for _, req := range []*nsv1.ReplicateRequest{
		{From: "other", Ops: []*nsv1.ReplicaOp{{Partition: 1, Epoch: 9, Lsn: 1, Item: &nsv1.Item{Service: "kv", Key: []byte("k"), Payload: put}}}},
		{From: "other", Ops: []*nsv1.ReplicaOp{{Partition: 1 << 31, Item: &nsv1.Item{}}, {Partition: 2, Lsn: 5}}},
		{Ops: []*nsv1.ReplicaOp{{Partition: 3, Epoch: 1, Lsn: 1, Item: &nsv1.Item{Service: "kv", Key: []byte("k"), Payload: []byte{0xff, 0}}}}},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x12, 0x03, 0x08, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req nsv1.ReplicateRequest
		if proto.Unmarshal(b, &req) != nil || len(req.GetOps()) > 64 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		done := make(chan []*nsv1.Result, 1)
		go func() { done <- n.replicate(ctx, &req) }()
		select {
		case res := <-done:
			if len(res) != len(req.GetOps()) {
				t.Fatalf("%d results for %d ops", len(res), len(req.GetOps()))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Replicate did not return within 5s of a 200ms deadline")
		}
	})
}
