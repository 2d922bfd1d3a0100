package kv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/ (committed) and are run by
// plain `go test`. Regenerate them with:
//
//	KV_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./kv/

func requestSeeds() [][]byte {
	reqs := []Request{
		get("k"), get(""), put("key", "value", 0), put("k", "v", time.Second),
		{Op: OpPut, Key: []byte("k"), Value: []byte("v"), TTL: 1, RequestID: 1 << 40},
		del("k"), {Op: OpDelete, Key: []byte("k"), RequestID: 7},
		incr("c", 1), incr("c", -1<<63), incr("c", 1<<63-1),
		cas("k", "old", "new", time.Minute), casAbsent("k", "v", 0),
	}
	var seeds [][]byte
	for _, r := range reqs {
		b, err := r.AppendBinary(nil)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
	}
	return append(seeds, nil, []byte{1}, []byte{1, 9, 0, 0}, []byte{1, 1, 0, 0x80, 0})
}

func responseSeeds() [][]byte {
	resps := []Response{{}, {Found: true}, found("value"), foundTTL("v", time.Hour),
		{Counter: -5}, {Counter: 1<<63 - 1}, {Found: true, Swapped: true, Value: []byte("new")}}
	var seeds [][]byte
	for _, r := range resps {
		b, err := r.AppendBinary(nil)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
	}
	return append(seeds, nil, []byte{1, 0xff}, []byte{1, respCounter, 0x80, 0x00})
}

func restoreSeeds() [][]byte {
	small := snapshotBytes(panicker{}, sampleStore(panicker{}, 5, 4))
	return [][]byte{
		snapshotBytes(panicker{}, NewStore()),
		small,
		small[:len(small)-3],
		concat(header(1, 2), frame(2, concat(record("a", "1", 0), record("b", "", 5))), frame(0, nil)),
		concat(header(1, 2), frame(2, concat(record("a", "1", 0), record("a", "", 5))), frame(0, nil)),
		concat(header(1, 1), []byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}),
	}
}

// panicker lets the seed builders use the test helpers outside a test.
type panicker struct{}

func (panicker) Helper()                           {}
func (panicker) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("KV_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set KV_WRITE_FUZZ_SEEDS=1 to regenerate testdata/fuzz")
	}
	for name, seeds := range map[string][][]byte{
		"FuzzDecodeRequest": requestSeeds(), "FuzzDecodeResponse": responseSeeds(), "FuzzRestore": restoreSeeds(),
	} {
		dir := filepath.Join("testdata", "fuzz", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range seeds {
			data := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzDecodeRequest: decoding never panics; what decodes re-encodes to the
// same bytes (the encoding is canonical) and applies without panicking.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range requestSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := r.AppendBinary(nil)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %+v = %x, %v; input %x", r, again, err, b)
		}
		s := NewStore()
		s.Apply(t0, &Request{Op: OpPut, Key: r.Key, Value: []byte("1"), TTL: time.Second})
		if _, err := s.Apply(t0, &r); err != nil && !errors.Is(err, ErrNotFound) &&
			!errors.Is(err, ErrNotInteger) && !errors.Is(err, ErrOverflow) {
			t.Fatalf("Apply(%+v): %v", r, err)
		}
		if _, err := s.Handle(t0, b); err != nil && !errors.Is(err, ErrNotFound) &&
			!errors.Is(err, ErrNotInteger) && !errors.Is(err, ErrOverflow) {
			t.Fatalf("Handle(%x): %v", b, err)
		}
		checkInvariants(t, s)
	})
}

// FuzzDecodeResponse: decoding never panics and is canonical.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range responseSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResponse(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := r.AppendBinary(nil)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %+v = %x, %v; input %x", r, again, err, b)
		}
	})
}

// FuzzRestore: Restore never panics; on error the store is unchanged and the
// error wraps ErrCorrupt; on success the content survives another
// snapshot/restore cycle.
func FuzzRestore(f *testing.F) {
	for _, s := range restoreSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := sampleStore(t, 3, 2)
		before := snapshotBytes(t, s)
		if err := s.Restore(bytes.NewReader(b)); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if !bytes.Equal(snapshotBytes(t, s), before) {
				t.Fatal("failed Restore changed the store")
			}
			return
		}
		checkInvariants(t, s)
		snap := snapshotBytes(t, s)
		s2 := NewStore()
		if err := s2.Restore(bytes.NewReader(snap)); err != nil {
			t.Fatal(err)
		}
		if allContents(s2) != allContents(s) {
			t.Fatal("second round trip differs")
		}
	})
}
