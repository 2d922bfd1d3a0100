package respserver

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// TestAddPayloads: the payloads add carves from the connection's chunk
// decode to their requests, are capped at their length, share no bytes,
// and take from the chunk only what their encoding uses (the reservation's
// rest is given back), across chunk boundaries and with values large
// enough for their own allocation (byteDirect) in between.
func TestAddPayloads(t *testing.T) {
	c := &conn{}
	var items []*nsv1.Item
	var reqs []kv.Request
	var used int
	for i := 0; i < 500; i++ {
		req := kv.Request{Op: kv.OpGet, Key: []byte(fmt.Sprint("key:", i))}
		switch i % 5 {
		case 1:
			req = kv.Request{Op: kv.OpPut, Key: req.Key, Value: bytes.Repeat([]byte{'v'}, 64)}
		case 3:
			req = kv.Request{Op: kv.OpPut, Key: req.Key, Value: bytes.Repeat([]byte{'w'}, byteDirect+i)}
		}
		before := len(c.byteChunk)
		var o op
		c.add(&items, &o, &req)
		p := items[len(items)-1].Payload
		if cap(p) != len(p) {
			t.Fatalf("item %d: payload of len %d has cap %d", i, len(p), cap(p))
		}
		if n := len(req.Key) + len(req.Value) + 3 + 60; n <= byteDirect && len(c.byteChunk) != before+len(p) && len(c.byteChunk) != len(p) {
			t.Fatalf("item %d: chunk grew from %d to %d for a payload of %d", i, before, len(c.byteChunk), len(p))
		}
		used += len(p)
		reqs = append(reqs, req)
	}
	for i, it := range items {
		got, err := kv.DecodeRequest(it.Payload)
		if err != nil {
			t.Fatalf("item %d: %v", i, err)
		}
		if got.Op != reqs[i].Op || !bytes.Equal(got.Key, reqs[i].Key) || !bytes.Equal(got.Value, reqs[i].Value) {
			t.Fatalf("item %d decodes to %v %q (%d value bytes), want %v %q", i, got.Op, got.Key, len(got.Value), reqs[i].Op, reqs[i].Key)
		}
		if !bytes.Equal(it.Key, reqs[i].Key) {
			t.Fatalf("item %d: key %q, want %q", i, it.Key, reqs[i].Key)
		}
	}
}
