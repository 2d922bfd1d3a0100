package worker

import (
	"sync"
	"testing"
	"time"
)

// TestHistogramPrecision: the latency histogram keeps its 12.5%
// precision (the layout's own tests are in internal/hist).
func TestHistogramPrecision(t *testing.T) {
	if latencyLayout.Precision() != 0.125 || latencyLayout.Buckets() != latencyBuckets {
		t.Fatalf("latency layout: precision %v, %d buckets; want 0.125, %d",
			latencyLayout.Precision(), latencyLayout.Buckets(), latencyBuckets)
	}
}

// TestHistogramRecordAllocs: once its buckets exist, recording never
// allocates.
func TestHistogramRecordAllocs(t *testing.T) {
	var h Histogram
	h.Record(time.Microsecond)
	if n := testing.AllocsPerRun(1000, func() { h.RecordN(time.Millisecond, 64) }); n != 0 {
		t.Fatalf("RecordN: %v allocs", n)
	}
}

// TestHistogramConcurrentFirstRecord: racing first records share one set of
// buckets and lose nothing.
func TestHistogramConcurrentFirstRecord(t *testing.T) {
	var h Histogram
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			for j := 0; j < 100; j++ {
				h.Record(time.Duration(i*100+j) * time.Microsecond)
				_ = h.Snapshot()
			}
		})
	}
	wg.Wait()
	if s := h.Snapshot(); s.Count != 800 {
		t.Fatalf("count %d, want 800", s.Count)
	}
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
