package main

import (
	"testing"
)

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
