package kv

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestScanVisitsEveryKeyOnce pages through a partition of many keys with
// several page sizes: every live key comes back exactly once, expired keys
// never, and the cursor ends at 0.
func TestScanVisitsEveryKeyOnce(t *testing.T) {
	s := NewStore()
	const n = 3000
	for i := range n {
		ttl := time.Duration(0)
		if i%10 == 0 {
			ttl = time.Nanosecond // expired at t0+1
		}
		s.Apply(t0, &Request{Op: OpPut, Key: fmt.Appendf(nil, "key-%d", i), Value: []byte("v"), TTL: ttl})
	}
	now := t0.Add(time.Second)
	for _, count := range []int64{1, 7, 100, n, 2 * n} {
		t.Run(fmt.Sprint(count), func(t *testing.T) {
			seen := map[string]int{}
			cursor, pages := uint64(0), 0
			for {
				r, err := s.Apply(now, &Request{Op: OpScan, Delta: count, Cursor: cursor})
				if err != nil {
					t.Fatal(err)
				}
				got := 0
				if err := ScanKeys(r.Value, func(k []byte) { seen[string(k)]++; got++ }); err != nil {
					t.Fatal(err)
				}
				if int64(got) < count && r.Counter != 0 {
					t.Fatalf("a page of %d keys (count %d) did not end the scan", got, count)
				}
				pages++
				if r.Counter == 0 {
					break
				}
				if uint64(r.Counter) <= cursor {
					t.Fatalf("cursor went from %d to %d", cursor, r.Counter)
				}
				cursor = uint64(r.Counter)
			}
			if len(seen) != n-n/10 {
				t.Fatalf("scan saw %d keys, want %d", len(seen), n-n/10)
			}
			for k, c := range seen {
				var i int
				fmt.Sscanf(k, "key-%d", &i)
				if c != 1 || i%10 == 0 {
					t.Fatalf("key %s seen %d times", k, c)
				}
			}
			if want := (n-n/10+int(count)-1)/int(count) + 1; count < n && pages > want {
				t.Fatalf("%d pages for count %d, want at most %d", pages, count, want)
			}
		})
	}
}

func TestScanDefaultsAndAllocs(t *testing.T) {
	s := NewStore()
	for i := range 50 {
		s.Apply(t0, &Request{Op: OpPut, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")})
	}
	r, _ := s.Apply(t0, &Request{Op: OpScan})
	got := 0
	ScanKeys(r.Value, func([]byte) { got++ })
	if got != defaultScanCount || r.Counter == 0 {
		t.Fatalf("scan without a count: %d keys, cursor %d; want %d keys and more", got, r.Counter, defaultScanCount)
	}
	p, _ := (&Request{Op: OpScan, Delta: 20}).AppendBinary(nil)
	var out []byte
	s.HandleAppend(out, t0, p) // warm the scratch buffers
	if allocs := testing.AllocsPerRun(20, func() { out, _ = s.HandleAppend(out[:0], t0, p) }); allocs != 0 {
		t.Fatalf("scan allocates %v times", allocs)
	}
	if err := ScanKeys([]byte{5, 'a'}, func([]byte) {}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ScanKeys of a truncated value: %v", err)
	}
}

// TestMSetNXMemoryFullChangesNothing fills a store's memory limit so that
// an msetnx runs out part way: it fails with ErrMemoryFull and none of its
// keys is left behind.
func TestMSetNXMemoryFullChangesNothing(t *testing.T) {
	lim := NewLimit(64 << 10)
	s, err := New(Config{Limit: lim})
	if err != nil {
		t.Fatal(err)
	}
	var pairs []byte
	for i := range 40 {
		pairs = AppendPair(pairs, fmt.Appendf(nil, "big-%d", i), bytes.Repeat([]byte{'x'}, 4<<10))
	}
	s.Apply(t0, &Request{Op: OpPut, Key: []byte("other"), Value: []byte("1")})
	_, err = s.Apply(t0, &Request{Op: OpMSetNX, Key: []byte("big-0"), Value: pairs})
	if !errors.Is(err, ErrMemoryFull) {
		t.Fatalf("msetnx past the limit: %v", err)
	}
	if s.Len() != 1 {
		t.Fatalf("a refused msetnx left %d keys, want 1", s.Len())
	}
	checkInvariants(t, s)
	// A small one fits, and a second over a present key writes nothing.
	small := AppendPair(AppendPair(nil, []byte("a"), []byte("1")), []byte("b"), []byte("2"))
	if r, err := s.Apply(t0, &Request{Op: OpMSetNX, Value: small}); err != nil || !r.Swapped {
		t.Fatalf("msetnx: %+v, %v", r, err)
	}
	again := AppendPair(AppendPair(nil, []byte("c"), []byte("3")), []byte("a"), []byte("9"))
	if r, err := s.Apply(t0, &Request{Op: OpMSetNX, Value: again}); err != nil || r.Swapped || !r.Found {
		t.Fatalf("msetnx over a present key: %+v, %v", r, err)
	}
	if _, err := s.Apply(t0, &Request{Op: OpGet, Key: []byte("c")}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused msetnx wrote c: %v", err)
	}
	if _, err := s.Apply(t0, &Request{Op: OpMSetNX, Value: []byte{3, 'a'}}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("malformed pairs: %v", err)
	}
}

// TestAppendGrowsInPlace checks that a run of appends keeps the ttl, moves
// the record rarely (it keeps room) and enforces the limit at its edge.
func TestAppendGrowsInPlace(t *testing.T) {
	s := NewStore()
	s.Apply(t0, &Request{Op: OpPut, Key: []byte("k"), Value: []byte("ab"), TTL: time.Hour})
	for i := range 1000 {
		r, err := s.Apply(t0, &Request{Op: OpAppend, Key: []byte("k"), Value: []byte("c"), Delta: 1002})
		if err != nil || r.Counter != int64(3+i) {
			t.Fatalf("append %d: %+v, %v", i, r, err)
		}
	}
	if _, err := s.Apply(t0, &Request{Op: OpAppend, Key: []byte("k"), Value: []byte("c"), Delta: 1002}); !errors.Is(err, ErrValueTooLarge) {
		t.Fatalf("append past the limit: %v", err)
	}
	r, err := s.Apply(t0, &Request{Op: OpGet, Key: []byte("k")})
	if err != nil || len(r.Value) != 1002 || r.TTL != time.Hour {
		t.Fatalf("after appends: %d bytes, ttl %v, %v", len(r.Value), r.TTL, err)
	}
	checkInvariants(t, s)
	p, _ := (&Request{Op: OpAppend, Key: []byte("k"), Value: []byte("d")}).AppendBinary(nil)
	var out []byte
	out, _ = s.HandleAppend(out, t0, p)
	if allocs := testing.AllocsPerRun(100, func() { out, _ = s.HandleAppend(out[:0], t0, p) }); allocs != 0 {
		t.Fatalf("append allocates %v times", allocs)
	}
}

// BenchmarkScanPage: one scan page of a partition of 4096 keys (1M keys
// over the default 271 partitions hold about 3700 each), per page size.
func BenchmarkScanPage(b *testing.B) {
	s := NewStore()
	for i := range 4096 {
		s.Apply(t0, &Request{Op: OpPut, Key: fmt.Appendf(nil, "key:%d", i), Value: []byte("v")})
	}
	for _, count := range []int64{10, 100, 1000} {
		b.Run(fmt.Sprint("count=", count), func(b *testing.B) {
			p, _ := (&Request{Op: OpScan, Delta: count}).AppendBinary(nil)
			var out []byte
			b.ReportAllocs()
			for b.Loop() {
				out, _ = s.HandleAppend(out[:0], t0, p)
			}
		})
	}
}

// BenchmarkAppend: APPEND of 8 bytes to one key, which keeps room to grow.
func BenchmarkAppend(b *testing.B) {
	s := NewStore()
	p, _ := (&Request{Op: OpAppend, Key: []byte("k"), Value: []byte("12345678")}).AppendBinary(nil)
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		out, _ = s.HandleAppend(out[:0], t0, p)
		if s.Bytes() > 64<<20 {
			b.StopTimer()
			s.Apply(t0, &Request{Op: OpDelete, Key: []byte("k")})
			b.StartTimer()
		}
	}
}

// TestScanTies: with positions made coarse (8 of them), many keys share
// one; a scan with pages smaller than a position's keys still returns every
// key exactly once, each page ending with all the keys of its last
// position.
func TestScanTies(t *testing.T) {
	saved := scanPos
	scanPos = func(k []byte) uint64 { return hashKey(k) >> 61 }
	defer func() { scanPos = saved }()
	s := NewStore()
	const n = 300
	for i := range n {
		s.Apply(t0, &Request{Op: OpPut, Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")})
	}
	for _, count := range []int64{1, 3, 50} {
		seen := map[string]int{}
		cursor := uint64(0)
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("count %d: no end after 100 pages", count)
			}
			r, err := s.Apply(t0, &Request{Op: OpScan, Delta: count, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			ScanKeys(r.Value, func(k []byte) { seen[string(k)]++ })
			if r.Counter == 0 {
				break
			}
			cursor = uint64(r.Counter)
		}
		if len(seen) != n {
			t.Fatalf("count %d: %d keys seen, want %d", count, len(seen), n)
		}
		for k, c := range seen {
			if c != 1 {
				t.Fatalf("count %d: %s seen %d times", count, k, c)
			}
		}
	}
}
