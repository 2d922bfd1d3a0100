package kv_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/nothingshared/ns/kv"
)

func Example() {
	s := kv.NewStore()
	now := time.Unix(1_700_000_000, 0) // the owning worker supplies the time

	s.Apply(now, &kv.Request{Op: kv.OpIncr, Key: []byte("hits"), Delta: 5})
	r, _ := s.Apply(now, &kv.Request{Op: kv.OpIncr, Key: []byte("hits"), Delta: 2})
	fmt.Println("counter:", r.Counter)
	r, _ = s.Apply(now, &kv.Request{Op: kv.OpGet, Key: []byte("hits")})
	fmt.Printf("stored as: %q\n", r.Value)

	s.Apply(now, &kv.Request{Op: kv.OpPut, Key: []byte("session"), Value: []byte("x"), TTL: time.Minute})
	r, _ = s.Apply(now.Add(20*time.Second), &kv.Request{Op: kv.OpGet, Key: []byte("session")})
	fmt.Println("ttl left:", r.TTL)
	_, err := s.Apply(now.Add(time.Minute), &kv.Request{Op: kv.OpGet, Key: []byte("session")})
	fmt.Println("at the deadline:", err)

	r, _ = s.Apply(now, &kv.Request{Op: kv.OpCompareAndSwap, Key: []byte("lock"), ExpectAbsent: true, Value: []byte("me")})
	fmt.Println("lock taken:", r.Swapped)

	// The generic path: encoded request in, encoded response out.
	req := kv.Request{Op: kv.OpGet, Key: []byte("lock")}
	payload, _ := req.AppendBinary(nil)
	out, _ := s.Handle(now, payload)
	resp, _ := kv.DecodeResponse(out)
	fmt.Printf("lock holder: %s\n", resp.Value)

	// Handoff: snapshot in the owning worker, restore on the new owner.
	var buf bytes.Buffer
	s.Snapshot(&buf)
	moved := kv.NewStore()
	if err := moved.Restore(&buf); err != nil {
		panic(err)
	}
	fmt.Println("keys moved:", moved.Len()) // the expired session was removed when read
	// Output:
	// counter: 7
	// stored as: "7"
	// ttl left: 40s
	// at the deadline: kv: key not found
	// lock taken: true
	// lock holder: me
	// keys moved: 2
}
