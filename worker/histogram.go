package worker

import (
	"sync/atomic"
	"time"

	"github.com/nothingshared/ns/internal/hist"
)

// latencySubBits is the precision of the latency histograms: each power of
// two is split into 2^3 sub-buckets, so a bucket's width is at most 1/8 of
// its lower bound (12.5% precision) over the whole uint64 range with 496
// counters.
const latencySubBits = 3

// latencyLayout is the bucket layout of every Histogram.
var latencyLayout = hist.NewLayout(latencySubBits)

// latencyBuckets is latencyLayout.Buckets(), as a constant so that
// Snapshot's copy of the counters stays on the stack.
const latencyBuckets = 496

// Histogram records durations into log-linear buckets (internal/hist) with
// atomic counters: Record costs a few nanoseconds and never allocates once
// the buckets exist (the first record allocates them), and Snapshot may run
// concurrently with Record. The zero value is ready.
type Histogram struct {
	h atomic.Pointer[hist.Atomic]
}

// Record adds one observation of d (negative counts as 0).
func (h *Histogram) Record(d time.Duration) { h.RecordN(d, 1) }

// RecordN adds n observations of d (negative counts as 0).
func (h *Histogram) RecordN(d time.Duration, n uint64) {
	a := h.h.Load()
	if a == nil {
		a = h.init()
	}
	a.Record(uint64(max(d, 0)), n)
}

// init allocates the counters on first use; racing callers share one set.
//
//go:noinline
func (h *Histogram) init() *hist.Atomic {
	h.h.CompareAndSwap(nil, hist.NewAtomic(latencyLayout))
	return h.h.Load()
}

// LatencySnapshot summarises a Histogram. Quantiles are bucket upper
// bounds, so they overstate the true value by at most 12.5%.
type LatencySnapshot struct {
	// Count is the number of observations.
	Count uint64
	// P50, P99 and P999 are the 50th, 99th and 99.9th percentiles.
	P50, P99, P999 time.Duration
	// Max is the largest observation.
	Max time.Duration
}

// Snapshot returns the current quantiles.
func (h *Histogram) Snapshot() LatencySnapshot {
	a := h.h.Load()
	if a == nil {
		return LatencySnapshot{}
	}
	var buf [latencyBuckets]uint64
	c := hist.Over(latencyLayout, buf[:])
	a.Load(&c)
	return LatencySnapshot{
		Count: c.Count(),
		P50:   time.Duration(c.Quantile(0.5)),
		P99:   time.Duration(c.Quantile(0.99)),
		P999:  time.Duration(c.Quantile(0.999)),
		Max:   time.Duration(c.Max()),
	}
}
