package hist

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// TestLayoutBuckets: every value lies in exactly one bucket, whose width is
// within the layout's precision, and buckets cover the uint64 range in
// order, for every precision.
func TestLayoutBuckets(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		l := NewLayout(rapid.IntRange(0, MaxSubBits).Draw(rt, "subBits"))
		v := rapid.Uint64().Draw(rt, "v")
		b := l.Bucket(v)
		if b < 0 || b >= l.Buckets() {
			rt.Fatalf("Bucket(%d) = %d out of [0, %d)", v, b, l.Buckets())
		}
		up := l.Upper(b)
		if v > up {
			rt.Fatalf("v %d above bucket %d upper %d", v, b, up)
		}
		if b > 0 && v <= l.Upper(b-1) {
			rt.Fatalf("v %d belongs below bucket %d", v, b)
		}
		if float64(up-v) > float64(v)*l.Precision() {
			rt.Fatalf("bucket %d too wide for %d: upper %d", b, v, up)
		}
	})
}

// TestLayoutEdges walks the small values one by one and checks the ends of
// the range, for every precision.
func TestLayoutEdges(t *testing.T) {
	for sb := 0; sb <= MaxSubBits; sb++ {
		l := NewLayout(sb)
		t.Run(fmt.Sprint("subBits=", sb), func(t *testing.T) {
			for v := uint64(0); v < 1<<12; v++ {
				b := l.Bucket(v)
				if l.Upper(b) < v || (b > 0 && l.Upper(b-1) >= v) {
					t.Fatalf("value %d in bucket %d with upper %d (previous upper %d)", v, b, l.Upper(b), l.Upper(b-1))
				}
			}
			if b := l.Bucket(math.MaxUint64); b != l.Buckets()-1 || l.Upper(b) != math.MaxUint64 {
				t.Fatalf("max value in bucket %d (upper %d), want the last, %d", b, l.Upper(b), l.Buckets()-1)
			}
		})
	}
	if n := NewLayout(3).Buckets(); n != 496 {
		t.Fatalf("subBits 3: %d buckets, want 496", n)
	}
	if n := NewLayout(MaxSubBits).Buckets(); n != 14592 {
		t.Fatalf("subBits %d: %d buckets, want 14592", MaxSubBits, n)
	}
}

func TestNewLayoutLimits(t *testing.T) {
	for _, sb := range []int{-1, MaxSubBits + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewLayout(%d) did not panic", sb)
				}
			}()
			NewLayout(sb)
		}()
	}
	for _, sb := range []int{0, MaxSubBits} {
		if got := NewLayout(sb).SubBits(); got != sb {
			t.Errorf("NewLayout(%d).SubBits() = %d", sb, got)
		}
	}
}

// TestHistogramQuantiles: every quantile lies within the layout's precision
// above the exact quantile of the recorded values, q=1 is the maximum, and
// merging two histograms equals recording everything in one; for every
// precision, and the same through an Atomic.
func TestHistogramQuantiles(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		l := NewLayout(rapid.IntRange(0, MaxSubBits).Draw(t, "subBits"))
		vals := rapid.SliceOfN(rapid.Uint64Range(0, 1<<40), 1, 500).Draw(t, "vals")
		split := rapid.IntRange(0, len(vals)).Draw(t, "split")
		a, b, all, at := New(l), New(l), New(l), NewAtomic(l)
		for i, v := range vals {
			all.Record(v, 1)
			at.Record(v, 1)
			if i < split {
				a.Record(v, 1)
			} else {
				b.Record(v, 1)
			}
		}
		a.Merge(b)
		if !a.Equal(all) {
			t.Fatalf("merge differs from recording in one histogram")
		}
		loaded := New(NewLayout(0)) // Load replaces the layout
		at.Load(loaded)
		if !loaded.Equal(all) {
			t.Fatalf("Atomic differs from Histogram")
		}
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
			rank := int(math.Ceil(q * float64(len(sorted))))
			exact := sorted[max(rank, 1)-1]
			got := all.Quantile(q)
			if got < exact || float64(got-exact) > float64(exact)*l.Precision()+1 {
				t.Fatalf("q%v = %d, exact %d", q, got, exact)
			}
		}
		if all.Quantile(1) != sorted[len(sorted)-1] || all.Max() != sorted[len(sorted)-1] {
			t.Fatalf("q1 = %d, Max %d, max %d", all.Quantile(1), all.Max(), sorted[len(sorted)-1])
		}
		if all.Count() != uint64(len(vals)) {
			t.Fatalf("Count = %d, want %d", all.Count(), len(vals))
		}
	})
}

func TestHistogramEmpty(t *testing.T) {
	h := New(NewLayout(5))
	if h.Quantile(0.99) != 0 || h.Count() != 0 || h.Max() != 0 {
		t.Fatal("empty histogram has observations")
	}
	h.Record(7, 0)
	if h.Count() != 0 || h.Max() != 0 {
		t.Fatal("a record of 0 observations counted")
	}
	a := NewAtomic(NewLayout(3))
	a.Record(7, 0)
	a.Load(h)
	if h.Count() != 0 || h.Max() != 0 || h.Layout() != NewLayout(3) {
		t.Fatalf("Load of an empty Atomic: count %d max %d layout %v", h.Count(), h.Max(), h.Layout())
	}
}

func TestMergeLayoutsDiffer(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Merge of different layouts did not panic")
		}
	}()
	New(NewLayout(3)).Merge(New(NewLayout(5)))
}

// TestAtomicConcurrent records from several goroutines while another loads;
// the final load holds every record.
func TestAtomicConcurrent(t *testing.T) {
	const writers, per = 4, 10000
	a := NewAtomic(NewLayout(3))
	want := New(NewLayout(3))
	for w := 0; w < writers; w++ {
		for i := 0; i < per; i++ {
			want.Record(uint64(w*per+i), 1)
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Go(func() {
			for i := 0; i < per; i++ {
				a.Record(uint64(w*per+i), 1)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h := New(NewLayout(3))
		for i := 0; i < 100; i++ {
			a.Load(h)
			if h.Count() > writers*per {
				t.Errorf("loaded %d observations, more than recorded", h.Count())
			}
		}
	}()
	wg.Wait()
	<-done
	got := New(NewLayout(3))
	a.Load(got)
	if got.Count() != want.Count() || !slices.Equal(got.counts, want.counts) {
		t.Fatalf("concurrent records: count %d, want %d", got.Count(), want.Count())
	}
	// max may lose a race between writers; it is at least each writer's own.
	if got.Max() < uint64(per-1) || got.Max() > want.Max() {
		t.Fatalf("max %d outside [%d, %d]", got.Max(), per-1, want.Max())
	}
}

// TestAtomicRecordAllocs: the record path never allocates, nor does Load
// into a histogram that already has the buckets.
func TestAtomicRecordAllocs(t *testing.T) {
	a := NewAtomic(NewLayout(3))
	h := New(NewLayout(3))
	var v uint64
	if n := testing.AllocsPerRun(1000, func() { v += 7919; a.Record(v, 3) }); n != 0 {
		t.Fatalf("Atomic.Record: %v allocs", n)
	}
	if n := testing.AllocsPerRun(100, func() { a.Load(h) }); n != 0 {
		t.Fatalf("Atomic.Load: %v allocs", n)
	}
	p := New(NewLayout(5))
	if n := testing.AllocsPerRun(1000, func() { v += 7919; p.Record(v, 1) }); n != 0 {
		t.Fatalf("Histogram.Record: %v allocs", n)
	}
}

func BenchmarkRecord(b *testing.B) {
	for _, sb := range []int{3, 5, MaxSubBits} {
		l := NewLayout(sb)
		b.Run(fmt.Sprintf("atomic/subBits=%d", sb), func(b *testing.B) {
			h := NewAtomic(l)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				h.Record(uint64(i&0xfffff), 1)
			}
		})
		b.Run(fmt.Sprintf("plain/subBits=%d", sb), func(b *testing.B) {
			h := New(l)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				h.Record(uint64(i)*7919, 1)
			}
		})
	}
}

func BenchmarkLoadQuantile(b *testing.B) {
	for _, sb := range []int{3, 5} {
		b.Run(fmt.Sprintf("subBits=%d", sb), func(b *testing.B) {
			a := NewAtomic(NewLayout(sb))
			for i := uint64(0); i < 1<<16; i++ {
				a.Record(i*7919, 1)
			}
			h := New(a.Layout())
			b.ReportAllocs()
			for b.Loop() {
				a.Load(h)
				_ = h.Quantile(0.99)
			}
		})
	}
}
