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
		var a, b, all histogram
		for i, v := range vals {
			all.record(v, 1)
			if i < split {
				a.record(v, 1)
			} else {
				b.record(v, 1)
			}
		}
		a.merge(&b)
		if a != all {
			t.Fatalf("merge differs from recording in one histogram")
		}
		sorted := slices.Clone(vals)
		slices.Sort(sorted)
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
			rank := int(math.Ceil(q * float64(len(sorted))))
			exact := sorted[max(rank, 1)-1]
			got := all.quantile(q)
			if got < exact || float64(got-exact) > float64(exact)/histSub+1 {
				t.Fatalf("q%v = %d, exact %d", q, got, exact)
			}
		}
		if all.quantile(1) != sorted[len(sorted)-1] {
			t.Fatalf("q1 = %d, max %d", all.quantile(1), sorted[len(sorted)-1])
		}
	})
}

func TestHistogramBuckets(t *testing.T) {
	for v := uint64(0); v < 1<<16; v++ {
		b := histBucket(v)
		if histUpper(b) < v || (b > 0 && histUpper(b-1) >= v) {
			t.Fatalf("value %d in bucket %d with upper %d (previous upper %d)", v, b, histUpper(b), histUpper(b-1))
		}
	}
	if b := histBucket(math.MaxUint64); b != histBuckets-1 {
		t.Fatalf("max value in bucket %d, want %d", b, histBuckets-1)
	}
	var h histogram
	if h.quantile(0.99) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	b.ReportAllocs()
	var h histogram
	for i := 0; b.Loop(); i++ {
		h.record(uint64(i)*7919, 1)
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
