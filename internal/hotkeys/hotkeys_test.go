package hotkeys

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"pgregory.net/rapid"
)

func TestTopExactWhenUnderCapacity(t *testing.T) {
	s := New(Config{Capacity: 8})
	for i, k := range []string{"a", "b", "a", "c", "a", "b"} {
		_ = i
		s.Observe([]byte(k))
	}
	top := s.Top(2)
	if len(top) != 2 || string(top[0].Key) != "a" || top[0].Count != 3 || string(top[1].Key) != "b" || top[1].Count != 2 {
		t.Fatalf("top = %+v", top)
	}
	if top[0].Error != 0 {
		t.Fatalf("error %d, want 0 under capacity", top[0].Error)
	}
	if got := len(s.Top(0)); got != 3 {
		t.Fatalf("Top(0) has %d entries, want 3", got)
	}
}

func TestTruncatedKeys(t *testing.T) {
	s := New(Config{Capacity: 4, MaxKeyBytes: 4})
	s.Observe([]byte("abcdefgh"))
	s.Observe([]byte("abcdXXXX")) // same prefix, different key: counted apart
	top := s.Top(0)
	if len(top) != 2 || !top[0].Truncated || string(top[0].Key) != "abcd" {
		t.Fatalf("top = %+v", top)
	}
}

func TestDecayAndReset(t *testing.T) {
	s := New(Config{Capacity: 4})
	for i := 0; i < 10; i++ {
		s.Observe([]byte("k"))
	}
	s.Decay()
	if top := s.Top(1); top[0].Count != 5 || s.Total() != 5 {
		t.Fatalf("after decay: %+v total %d", top, s.Total())
	}
	s.Reset()
	if len(s.Top(0)) != 0 || s.Total() != 0 {
		t.Fatal("reset left entries")
	}
	s.Observe([]byte("x"))
	if top := s.Top(0); len(top) != 1 || string(top[0].Key) != "x" {
		t.Fatalf("after reset: %+v", top)
	}
}

func TestMerge(t *testing.T) {
	a := []Entry{{Key: []byte("x"), Count: 5}, {Key: []byte("y"), Count: 1}}
	b := []Entry{{Key: []byte("z"), Count: 3}, {Key: []byte("x"), Count: 2, Error: 1}}
	got := Merge(2, a, b)
	if len(got) != 2 || string(got[0].Key) != "x" || got[0].Count != 7 || got[0].Error != 1 || string(got[1].Key) != "z" {
		t.Fatalf("merge = %+v", got)
	}
}

// TestSpaceSavingGuarantees checks the algorithm's bounds against exact
// counts on random streams: every count over-states the truth by at most
// its error, counts sum to the stream length, and every key more frequent
// than total/capacity is present.
func TestSpaceSavingGuarantees(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		capacity := rapid.IntRange(1, 16).Draw(t, "capacity")
		keys := rapid.IntRange(1, 40).Draw(t, "keys")
		stream := rapid.SliceOfN(rapid.IntRange(0, keys-1), 0, 400).Draw(t, "stream")
		s := New(Config{Capacity: capacity})
		truth := map[string]uint64{}
		for _, k := range stream {
			key := "k" + strconv.Itoa(k)
			truth[key]++
			s.Observe([]byte(key))
		}
		top := s.Top(0)
		var sum uint64
		present := map[string]bool{}
		for _, e := range top {
			sum += e.Count
			present[string(e.Key)] = true
			tr := truth[string(e.Key)]
			if e.Count < tr || e.Count-e.Error > tr {
				t.Fatalf("key %s: count %d error %d, true %d", e.Key, e.Count, e.Error, tr)
			}
		}
		if sum != uint64(len(stream)) || s.Total() != uint64(len(stream)) {
			t.Fatalf("counts sum to %d, total %d, stream %d", sum, s.Total(), len(stream))
		}
		for k, c := range truth {
			if c > uint64(len(stream))/uint64(capacity) && !present[k] {
				t.Fatalf("key %s with %d of %d observations missing (capacity %d)", k, c, len(stream), capacity)
			}
		}
		// The index finds every present key (no corruption by deletions).
		for _, e := range top {
			s.Observe(e.Key)
		}
		if got := len(s.Top(0)); got != len(top) {
			t.Fatalf("re-observing present keys changed the entry count %d -> %d", len(top), got)
		}
	})
}

func TestObserveAllocationFree(t *testing.T) {
	s := New(Config{Capacity: 64})
	keys := zipfKeys(4096, 10000)
	for _, k := range keys { // grow key buffers
		s.Observe(k)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		s.Observe(keys[i%len(keys)])
		i++
	})
	if allocs != 0 {
		t.Fatalf("Observe allocates %v per call in steady state", allocs)
	}
}

func zipfKeys(n, distinct int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.1, 1, uint64(distinct-1))
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("user:%08d", z.Uint64()))
	}
	return out
}

// BenchmarkObserve measures one Observe on a Zipf stream (mostly hits and
// some replacements) per sketch size; the baseline is a plain map count.
func BenchmarkObserve(b *testing.B) {
	keys := zipfKeys(1<<16, 100000)
	for _, capacity := range []int{64, 128, 1024} {
		b.Run(fmt.Sprintf("capacity=%d", capacity), func(b *testing.B) {
			s := New(Config{Capacity: capacity})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.Observe(keys[i&(len(keys)-1)])
			}
		})
	}
	b.Run("baseline=map", func(b *testing.B) {
		m := map[string]uint64{}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m[string(keys[i&(len(keys)-1)])]++
		}
	})
}

func TestSampleEvery(t *testing.T) {
	s := New(Config{Capacity: 4, SampleEvery: 4})
	for i := 0; i < 100; i++ {
		s.Observe([]byte("k"))
	}
	if top := s.Top(0); len(top) != 1 || top[0].Count != 100 || s.Total() != 100 {
		t.Fatalf("sampled top = %+v, total %d", top, s.Total())
	}
}

// BenchmarkObserveSampled is Observe with SampleEvery 8.
func BenchmarkObserveSampled(b *testing.B) {
	keys := zipfKeys(1<<16, 100000)
	s := New(Config{Capacity: 128, SampleEvery: 8})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Observe(keys[i&(len(keys)-1)])
	}
}
