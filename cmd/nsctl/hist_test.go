package main

import (
	"math"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestHistogramQuantiles: every quantile lies within the bucket resolution
// (1/32) above the exact quantile of the recorded values, and merging two
// histograms equals recording everything in one.
func TestHistogramQuantiles(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		vals := rapid.SliceOfN(rapid.Uint64Range(0, 1<<40), 1, 500).Draw(t, "vals")
		split := rapid.IntRange(0, len(vals)).Draw(t, "split")
		a, b, all := newHistogram(), newHistogram(), newHistogram()
		for i, v := range vals {
			all.Record(v, 1)
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
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
			rank := int(math.Ceil(q * float64(len(sorted))))
			exact := sorted[max(rank, 1)-1]
			got := all.Quantile(q)
			if got < exact || float64(got-exact) > float64(exact)/32+1 {
				t.Fatalf("q%v = %d, exact %d", q, got, exact)
			}
		}
		if all.Quantile(1) != sorted[len(sorted)-1] {
			t.Fatalf("q1 = %d, max %d", all.Quantile(1), sorted[len(sorted)-1])
		}
	})
}

// TestHistogramBuckets: the bench histograms keep their 3% (1/32)
// precision, as nsctl bench --help promises (the layout's own tests are in
// internal/hist).
func TestHistogramBuckets(t *testing.T) {
	if p := benchLayout.Precision(); p != 1.0/32 {
		t.Fatalf("precision %v, want 1/32", p)
	}
	if h := newHistogram(); h.Quantile(0.99) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	b.ReportAllocs()
	h := newHistogram()
	for i := 0; b.Loop(); i++ {
		h.Record(uint64(i)*7919, 1)
	}
}

func TestAppendKey(t *testing.T) {
	for _, c := range []struct {
		i    int
		want string
	}{{0, "p:000000000000"}, {42, "p:000000000042"}, {123456789012, "p:123456789012"}, {1234567890123, "p:1234567890123"}} {
		if got := string(appendKey([]byte("x"), "p:", c.i)); got != "x"+c.want {
			t.Errorf("appendKey(%d) = %q, want %q", c.i, got, "x"+c.want)
		}
	}
}
