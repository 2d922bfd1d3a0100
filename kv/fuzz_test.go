package kv

import (
	"bytes"
	"encoding/binary"
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
	v2 := sampleStore(panicker{}, 5, 4)
	v2.cfg.SnapshotVersion = snapV2
	smallV2 := snapshotBytes(panicker{}, v2)
	v2rec := func(key, value string, deadline int64) []byte {
		b := binary.LittleEndian.AppendUint64(nil, uint64(deadline))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(key)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
		return append(append(b, key...), value...)
	}
	return [][]byte{
		snapshotBytes(panicker{}, NewStore()),
		small,
		small[:len(small)-3],
		concat(header(1, 2), frame(2, concat(record("a", "1", 0), record("b", "", 5))), frame(0, nil)),
		concat(header(1, 2), frame(2, concat(record("a", "1", 0), record("a", "", 5))), frame(0, nil)),
		concat(header(1, 1), []byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}),
		smallV2,
		smallV2[:len(smallV2)-3],
		concat(header(2, 2), frame(2, concat(v2rec("a", "1", 0), v2rec("b", "", 5))), frame(0, nil)),
		concat(header(2, 2), frame(2, concat(v2rec("a", "1", 0), v2rec("a", "", 5))), frame(0, nil)),
		concat(header(2, 1), frame(1, v2rec("a", "1", 0)[:17]), frame(0, nil)),
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
		"FuzzStoreOps": storeOpsSeeds(),
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
		if k, ok := RequestKey(b); !ok || !bytes.Equal(k, r.Key) {
			t.Fatalf("RequestKey(%x) = %q, %v; DecodeRequest's key is %q", b, k, ok, r.Key)
		}
		// An MSETNX's pairs are checked when it is applied, not decoded:
		// malformed or missing pairs are corrupt there (found by fuzzing:
		// an MSETNX without a value).
		allowed := func(err error) bool {
			return err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotInteger) || errors.Is(err, ErrOverflow) ||
				r.Op == OpMSetNX && errors.Is(err, ErrCorrupt)
		}
		s := NewStore()
		s.Apply(t0, &Request{Op: OpPut, Key: r.Key, Value: []byte("1"), TTL: time.Second})
		if _, err := s.Apply(t0, &r); !allowed(err) {
			t.Fatalf("Apply(%+v): %v", r, err)
		}
		if _, err := s.Handle(t0, b); !allowed(err) {
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

func storeOpsSeeds() [][]byte {
	return [][]byte{
		nil,
		{0, 1, 5, 0, 1, 40, 0, 1, 200, 2, 1, 0, 3, 2, 0, 4, 0, 0},
		bytes.Repeat([]byte{0, 3, 90, 0, 4, 30, 1, 3, 0, 4, 0, 0}, 30),
		bytes.Repeat([]byte{3, 7, 0, 0, 9, 250, 2, 7, 0, 5, 1, 1}, 20),
	}
}

// FuzzStoreOps runs operations decoded from the input (3 bytes each: op,
// key, size or time step) on a store with tiny pages, so that records
// outgrow pages, move and get compacted, against a map. The contents must
// always match it, and the store's invariants hold after every operation.
func FuzzStoreOps(f *testing.F) {
	for _, s := range storeOpsSeeds() {
		f.Add(s)
	}
	f.Fuzz(runOps)
}

// runOps is FuzzStoreOps's body.
func runOps(t *testing.T, b []byte) {
	{
		s := newStore(Config{SnapshotVersion: snapV2}, 64, 512)
		m := &model{m: map[string]modelEntry{}}
		now := t0
		for ; len(b) >= 3; b = b[3:] {
			op, key, arg := b[0]%9, []byte{'k', b[1] % 16}, int(b[2])
			var r Request
			switch op {
			case 0:
				r = Request{Op: OpPut, Key: key, Value: bytes.Repeat([]byte{b[1]}, arg), TTL: time.Duration(arg % 3)}
			case 1:
				r = Request{Op: OpDelete, Key: key}
			case 2:
				r = Request{Op: OpIncr, Key: key, Delta: int64(arg) - 128}
			case 3:
				r = Request{Op: OpCompareAndSwap, Key: key, ExpectAbsent: arg%2 == 0, Value: bytes.Repeat([]byte{'c'}, arg/2)}
			case 4:
				r = Request{Op: OpGet, Key: key}
			case 7:
				r = Request{Op: OpAppend, Key: key, Value: bytes.Repeat([]byte{'a'}, arg%40), Delta: int64(arg)}
			case 8:
				r = Request{Op: OpGetDel, Key: key}
			case 5:
				now = now.Add(time.Duration(arg % 4))
				s.ExpireSome(now, arg%3)
				continue
			case 6:
				snap := snapshotBytes(t, s)
				s = newStore(Config{SnapshotVersion: snapV1 + arg%2}, 64, 512)
				if err := s.Restore(bytes.NewReader(snap)); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := s.Apply(now, &r)
			want, wantErr := m.apply(now.UnixNano(), r)
			if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) || !responseEqual(got, want) {
				t.Fatalf("%v %q: %+v, %v; model %+v, %v", r.Op, r.Key, got, err, want, wantErr)
			}
			checkInvariants(t, s)
			if got, want := liveContents(s, now), m.liveContents(now.UnixNano()); got != want {
				t.Fatalf("contents:\n%s\n%s", got, want)
			}
		}
	}
}
