package kv

import (
	"bytes"
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"
)

const benchKeys = 10_000

func benchKey(i int) []byte { return []byte("key-" + strconv.Itoa(i%benchKeys)) }

// benchStore holds benchKeys keys with 32-byte values and a counter each.
func benchStore(b *testing.B) *Store {
	b.Helper()
	s := NewStore()
	v := bytes.Repeat([]byte{'v'}, 32)
	for i := range benchKeys {
		s.Apply(t0, &Request{Op: OpPut, Key: benchKey(i), Value: v})
		s.Apply(t0, &Request{Op: OpIncr, Key: append([]byte("n-"), benchKey(i)...), Delta: 1})
	}
	return s
}

func benchKeysList() ([][]byte, [][]byte) {
	keys := make([][]byte, benchKeys)
	counters := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = benchKey(i)
		counters[i] = append([]byte("n-"), keys[i]...)
	}
	return keys, counters
}

// BenchmarkApply measures the state machine alone. Baseline: the same
// operations on a plain map[string][]byte. Apply copies the value it
// returns (get, cas), which is one allocation; the node's path is
// HandleAppend (BenchmarkHandle/*/append), which copies nothing.
func BenchmarkApply(b *testing.B) {
	keys, counters := benchKeysList()
	v := bytes.Repeat([]byte{'w'}, 32)
	b.Run("Get", func(b *testing.B) {
		s := benchStore(b)
		b.ReportAllocs()
		r := Request{Op: OpGet}
		for i := 0; b.Loop(); i++ {
			r.Key = keys[i%benchKeys]
			if _, err := s.Apply(t0, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Put", func(b *testing.B) {
		s := benchStore(b)
		b.ReportAllocs()
		r := Request{Op: OpPut, Value: v}
		for i := 0; b.Loop(); i++ {
			r.Key = keys[i%benchKeys]
			if _, err := s.Apply(t0, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PutTTL", func(b *testing.B) {
		s := benchStore(b)
		b.ReportAllocs()
		r := Request{Op: OpPut, Value: v}
		for i := 0; b.Loop(); i++ {
			r.Key = keys[i%benchKeys]
			r.TTL = time.Duration(1+i%1000) * time.Second
			if _, err := s.Apply(t0, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Incr", func(b *testing.B) {
		s := benchStore(b)
		b.ReportAllocs()
		r := Request{Op: OpIncr, Delta: 1}
		for i := 0; b.Loop(); i++ {
			r.Key = counters[i%benchKeys]
			if _, err := s.Apply(t0, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CAS", func(b *testing.B) {
		s := benchStore(b)
		for _, k := range keys {
			s.Apply(t0, &Request{Op: OpPut, Key: k, Value: v})
		}
		b.ReportAllocs()
		r := Request{Op: OpCompareAndSwap, Expected: v, Value: v}
		for i := 0; b.Loop(); i++ {
			r.Key = keys[i%benchKeys]
			if resp, err := s.Apply(t0, &r); err != nil || !resp.Swapped {
				b.Fatal(resp, err)
			}
		}
	})
	b.Run("InsertDelete", func(b *testing.B) {
		s := NewStore()
		b.ReportAllocs()
		put := Request{Op: OpPut, Value: v}
		del := Request{Op: OpDelete}
		for i := 0; b.Loop(); i++ {
			put.Key = keys[i%benchKeys]
			s.Apply(t0, &put)
			del.Key = keys[(i+benchKeys/2)%benchKeys]
			s.Apply(t0, &del)
		}
	})
	b.Run("baseline-map/Get", func(b *testing.B) {
		m := make(map[string][]byte, benchKeys)
		for _, k := range keys {
			m[string(k)] = bytes.Clone(v)
		}
		b.ReportAllocs()
		var sink int
		for i := 0; b.Loop(); i++ {
			sink += len(m[string(keys[i%benchKeys])])
		}
		_ = sink
	})
	b.Run("baseline-map/Put", func(b *testing.B) {
		m := make(map[string][]byte, benchKeys)
		for _, k := range keys {
			m[string(k)] = bytes.Clone(v)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			k := keys[i%benchKeys]
			m[string(k)] = append(m[string(k)][:0], v...)
		}
	})
}

// BenchmarkHandle measures the generic entry point: decode, apply, encode.
func BenchmarkHandle(b *testing.B) {
	keys, counters := benchKeysList()
	encode := func(r Request) []byte {
		p, err := r.AppendBinary(nil)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	v := bytes.Repeat([]byte{'w'}, 32)
	cases := []struct {
		name string
		req  func(i int) Request
	}{
		{"Get", func(i int) Request { return Request{Op: OpGet, Key: keys[i]} }},
		{"Put", func(i int) Request { return Request{Op: OpPut, Key: keys[i], Value: v, RequestID: uint64(i + 1)} }},
		{"Incr", func(i int) Request { return Request{Op: OpIncr, Key: counters[i], Delta: 1} }},
		{"CAS", func(i int) Request {
			return Request{Op: OpCompareAndSwap, Key: counters[i], Expected: []byte("1"), Value: []byte("1")}
		}},
	}
	for _, c := range cases {
		payloads := make([][]byte, benchKeys)
		for i := range payloads {
			payloads[i] = encode(c.req(i))
		}
		b.Run(c.name, func(b *testing.B) {
			s := benchStore(b)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Handle(t0, payloads[i%benchKeys]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/append", func(b *testing.B) {
			s := benchStore(b)
			dst := make([]byte, 0, 256)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var err error
				if dst, err = s.HandleAppend(dst[:0], t0, payloads[i%benchKeys]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func snapshotStore(b *testing.B, n int) *Store {
	b.Helper()
	s := NewStore()
	v := bytes.Repeat([]byte{'v'}, 32)
	for i := range n {
		s.Apply(t0, &Request{Op: OpPut, Key: []byte("key-" + strconv.Itoa(i)), Value: v, TTL: time.Duration(i%2) * time.Hour})
	}
	return s
}

// BenchmarkSnapshot writes a 100k-key partition (32-byte values, half with a
// TTL) to io.Discard, in format v1 and v2.
func BenchmarkSnapshot(b *testing.B) {
	for _, version := range []int{snapV1, snapV2} {
		b.Run("v"+strconv.Itoa(version), func(b *testing.B) {
			s := snapshotStore(b, 100_000)
			s.cfg.SnapshotVersion = version
			var buf bytes.Buffer
			s.Snapshot(&buf)
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Snapshot(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRestore reads the same 100k-key snapshots into a new store.
func BenchmarkRestore(b *testing.B) {
	for _, version := range []int{snapV1, snapV2} {
		b.Run("v"+strconv.Itoa(version), func(b *testing.B) {
			s := snapshotStore(b, 100_000)
			s.cfg.SnapshotVersion = version
			var buf bytes.Buffer
			if err := s.Snapshot(&buf); err != nil {
				b.Fatal(err)
			}
			snap := buf.Bytes()
			b.SetBytes(int64(len(snap)))
			b.ReportAllocs()
			for b.Loop() {
				if err := NewStore().Restore(bytes.NewReader(snap)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkExpireSome sweeps 1000 expired keys per call from a 100k-key store.
func BenchmarkExpireSome(b *testing.B) {
	b.ReportAllocs()
	var s *Store
	now := t0.Add(2 * time.Hour)
	for b.Loop() {
		if s == nil || s.ExpireSome(now, 0) == 0 && len(s.heap) < 1000 {
			b.StopTimer()
			s = snapshotStore(b, 100_000)
			b.StartTimer()
		}
		s.ExpireSome(now, 1000)
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	p, _ := (&Request{Op: OpCompareAndSwap, Key: []byte("some-key"), Expected: []byte("old"), Value: []byte("new-value"), TTL: time.Minute, RequestID: 12345}).AppendBinary(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRequest(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyLarge is BenchmarkApply's get, put and incr on a store of
// 1M keys with 64-byte values, visited in a scattered order, so that the
// index and the data do not fit in the CPU caches.
func BenchmarkApplyLarge(b *testing.B) {
	const n = 1 << 20
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = []byte("key-" + strconv.Itoa(i))
	}
	s := NewStore()
	v := bytes.Repeat([]byte{'v'}, 64)
	for _, k := range keys {
		s.Apply(t0, &Request{Op: OpPut, Key: k, Value: v})
		s.Apply(t0, &Request{Op: OpIncr, Key: append([]byte("n-"), k...), Delta: 1})
	}
	order := func(i int) []byte { return keys[(i*7919)&(n-1)] }
	w := bytes.Repeat([]byte{'w'}, 64)
	dst := make([]byte, 0, 256)
	for _, c := range []struct {
		name string
		req  Request
	}{
		{"Get", Request{Op: OpGet}},
		{"Put", Request{Op: OpPut, Value: w}},
		{"Incr", Request{Op: OpIncr, Delta: 1}},
	} {
		payloads := make([][]byte, 1<<16)
		for i := range payloads {
			r := c.req
			r.Key = order(i)
			if c.req.Op == OpIncr {
				r.Key = append([]byte("n-"), r.Key...)
			}
			payloads[i], _ = r.AppendBinary(nil)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var err error
				if dst, err = s.HandleAppend(dst[:0], t0, payloads[i&(1<<16-1)]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIndex compares the store's index (an open-addressing []uint64)
// with the alternative of a map[uint64]uint32 from key hash to location
// (which would also need a fallback for two keys with one hash). Both look
// up 1M keys of one store and compare the key bytes in the page; bytes/key
// is the index's own memory.
func BenchmarkIndex(b *testing.B) {
	const n = 1 << 20
	keys := make([][]byte, n)
	hashes := make([]uint64, n)
	s := NewStore()
	for i := range keys {
		keys[i] = []byte("key-" + strconv.Itoa(i))
		hashes[i] = hashKey(keys[i])
		s.Apply(t0, &Request{Op: OpPut, Key: keys[i]})
	}
	s.migrate(len(s.old))
	b.Run("table", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			j := (i * 7919) & (n - 1)
			if _, _, ok := s.lookup(hashes[j], keys[j]); !ok {
				b.Fatal("missing")
			}
		}
		b.ReportMetric(float64(len(s.table)*slotBytes)/n, "bytes/key")
	})
	b.Run("map", func(b *testing.B) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := make(map[uint64]uint32)
		for i, h := range hashes {
			_, loc, _ := s.lookup(h, keys[i])
			m[h] = loc
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		for i := 0; b.Loop(); i++ {
			j := (i * 7919) & (n - 1)
			loc, ok := m[hashes[j]]
			if !ok || !bytes.Equal(recKey(s.rec(loc)), keys[j]) {
				b.Fatal("missing")
			}
		}
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "bytes/key")
		runtime.KeepAlive(m)
	})
}
