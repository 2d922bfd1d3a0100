package worker

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestBucketBounds(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		v := rapid.Uint64().Draw(rt, "v")
		b := bucketOf(v)
		if b < 0 || b >= numBuckets {
			rt.Fatalf("bucketOf(%d) = %d out of range", v, b)
		}
		up := bucketUpper(b)
		if v > up {
			rt.Fatalf("v %d above bucket %d upper %d", v, b, up)
		}
		if b > 0 && v <= bucketUpper(b-1) {
			rt.Fatalf("v %d belongs below bucket %d", v, b)
		}
		if v >= subCount && float64(up-v) > float64(v)/subCount {
			rt.Fatalf("bucket %d too wide for %d: upper %d", b, v, up)
		}
	})
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	if s := h.Snapshot(); s.Count != 0 || s.P99 != 0 {
		t.Fatalf("empty snapshot = %+v", s)
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	h.RecordN(time.Millisecond, 0) // no-op
	s := h.Snapshot()
	within := func(name string, got, want time.Duration) {
		if got < want || float64(got) > float64(want)*1.125 {
			t.Errorf("%s = %v, want %v..+12.5%%", name, got, want)
		}
	}
	if s.Count != 1000 || s.Max != time.Millisecond {
		t.Fatalf("snapshot = %+v", s)
	}
	within("P50", s.P50, 500*time.Microsecond)
	within("P99", s.P99, 990*time.Microsecond)
	within("P999", s.P999, 999*time.Microsecond)
}

func TestBatchBucket(t *testing.T) {
	for n, want := range map[int]int{1: 0, 2: 1, 3: 1, 4: 2, 64: 6, 127: 6, 128: 7, 1 << 20: 7} {
		if got := batchBucket(n); got != want {
			t.Errorf("batchBucket(%d) = %d, want %d", n, got, want)
		}
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i & 0xfffff))
	}
}

// BenchmarkLatencyPerBatch is what a worker pays per batch for latency
// tracking: two clock reads and one RecordN.
func BenchmarkLatencyPerBatch(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		h.RecordN(time.Since(start)/64, 64)
	}
}
