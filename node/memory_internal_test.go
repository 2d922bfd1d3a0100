package node

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nothingshared/ns/kv"
)

func encode(t testing.TB, r kv.Request) []byte {
	t.Helper()
	p, err := r.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKVOwnerReadResponses: the owner's read responses, carved from one
// chunk, stay intact while later reads are answered (across chunk
// boundaries and with values too big for the chunk), are capped at their
// length, and cost no allocation of their own; writes are refused at the
// limit on the owner path only.
func TestKVOwnerReadResponses(t *testing.T) {
	lim := kv.NewLimit(0)
	p := kvService{limit: lim}.NewPartition(0).(*kvPartition)
	owner := Partition((*kvOwner)(p))
	now := time.Unix(1, 0)
	val := func(i int) []byte {
		n := 64
		if i%50 == 7 {
			n = respChunk + i // bigger than a chunk
		}
		return bytes.Repeat([]byte{byte('a' + i%26)}, n)
	}
	const keys = 300
	for i := range keys {
		if _, err := owner.Handle(now, encode(t, kv.Request{Op: kv.OpPut, Key: fmt.Append(nil, "k", i), Value: val(i)})); err != nil {
			t.Fatal(err)
		}
	}
	var outs [][]byte
	for i := range keys {
		out, err := owner.Handle(now, encode(t, kv.Request{Op: kv.OpGet, Key: fmt.Append(nil, "k", i)}))
		if err != nil {
			t.Fatal(err)
		}
		if cap(out) != len(out) {
			t.Fatalf("get k%d: response of len %d has cap %d", i, len(out), cap(out))
		}
		outs = append(outs, out)
	}
	for i, out := range outs {
		r, err := kv.DecodeResponse(out)
		if err != nil || !bytes.Equal(r.Value, val(i)) {
			t.Fatalf("get k%d: response %v (%v) changed after later reads", i, r.Value[:min(len(r.Value), 8)], err)
		}
	}
	if _, err := owner.Handle(now, encode(t, kv.Request{Op: kv.OpGet, Key: []byte("absent")})); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("get of an absent key: %v", err)
	}
	get := encode(t, kv.Request{Op: kv.OpGet, Key: []byte("k1")})
	if a := testing.AllocsPerRun(1000, func() { _, _ = owner.Handle(now, get) }); a >= 0.1 {
		t.Fatalf("a GET on the owner allocates %.2f times, want (amortized) 0", a)
	}

	// At the limit only the owner refuses a write that needs memory.
	lim.SetMax(lim.Used())
	big := encode(t, kv.Request{Op: kv.OpPut, Key: []byte("big"), Value: make([]byte, 300<<10)})
	if _, err := owner.Handle(now, big); !errors.Is(err, kv.ErrMemoryFull) {
		t.Fatalf("owner write past the limit: %v", err)
	}
	if _, err := p.Handle(now, big); err != nil {
		t.Fatalf("replayed write past the limit: %v", err)
	}
}
