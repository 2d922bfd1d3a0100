package kv

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// goldenV1 is a snapshot in format v1 written by the map-based store of
// commit 406c15b (before the slab store). Regenerate it only with that code:
//
//	KV_WRITE_GOLDEN=1 go test -run TestGoldenV1 ./kv/
const goldenV1 = "testdata/snapshot-v1.golden"

// goldenStore builds the content of the golden snapshots: empty key and
// value, binary bytes, counters, deadlines (some before t0+1h), and one value
// large enough that the v1 snapshot has several chunks.
func goldenStore(t fataler) *Store {
	t.Helper()
	s := NewStore()
	must := func(r Request) {
		if _, err := s.Apply(t0, &r); err != nil {
			t.Fatalf("%v %q: %v", r.Op, r.Key, err)
		}
	}
	must(put("", "empty key", 0))
	must(put("empty value", "", time.Hour))
	must(Request{Op: OpPut, Key: []byte{0, 1, 2, 0xff}, Value: []byte{0xfe, 0, 0x80}})
	must(incr("counter", -42))
	must(incr("big counter", 1<<62))
	for i := range 300 {
		k := "key-" + strconv.Itoa(i)
		v := bytes.Repeat([]byte{byte('a' + i%26)}, i%200)
		must(Request{Op: OpPut, Key: []byte(k), Value: v, TTL: time.Duration(i%4) * 30 * time.Minute})
	}
	must(put("large", string(bytes.Repeat([]byte("0123456789abcdef"), 5000)), 0))
	return s
}

func TestGoldenV1(t *testing.T) {
	want := goldenStore(t)
	if os.Getenv("KV_WRITE_GOLDEN") != "" {
		if err := os.MkdirAll(filepath.Dir(goldenV1), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenV1, snapshotBytes(t, want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(goldenV1)
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore()
	if err := s.Restore(bytes.NewReader(data)); err != nil {
		t.Fatalf("Restore of the v1 golden snapshot: %v", err)
	}
	if got, want := allContents(s), allContents(want); got != want {
		t.Fatalf("restored golden contents differ:\n%.300s\n%.300s", got, want)
	}
	checkInvariants(t, s)
	if s.Len() != want.Len() {
		t.Fatalf("Len %d, want %d", s.Len(), want.Len())
	}
}
