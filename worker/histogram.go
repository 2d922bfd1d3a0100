package worker

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Log-linear buckets (HDR-like): values below 2^subBits are exact; above,
// each power of two is split into 2^subBits linear sub-buckets, so a
// bucket's width is at most 1/8 of its lower bound (12.5% precision) over
// the whole uint64 range with 496 counters.
const (
	subBits    = 3
	subCount   = 1 << subBits
	numBuckets = (64-subBits)*subCount + subCount
)

// Histogram records durations into log-linear buckets with atomic
// counters: Record costs a few nanoseconds and never allocates, and
// Snapshot may run concurrently with Record. The zero value is ready.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	max    atomic.Uint64
}

// bucketOf maps a value to its bucket index.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - subBits
	return (shift+1)*subCount + int((v>>shift)&(subCount-1))
}

// bucketUpper returns the largest value mapped to bucket b.
func bucketUpper(b int) uint64 {
	if b < subCount {
		return uint64(b)
	}
	shift := b/subCount - 1
	mant := uint64(b%subCount) + subCount
	return (mant+1)<<shift - 1
}

// Record adds one observation of d (negative counts as 0).
func (h *Histogram) Record(d time.Duration) { h.RecordN(d, 1) }

// RecordN adds n observations of d.
func (h *Histogram) RecordN(d time.Duration, n uint64) {
	if n == 0 {
		return
	}
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)].Add(n)
	if v > h.max.Load() {
		h.max.Store(v) // racing writers may lose a max; fine for a gauge
	}
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
	var counts [numBuckets]uint64
	var total uint64
	for i := range counts {
		counts[i] = h.counts[i].Load()
		total += counts[i]
	}
	s := LatencySnapshot{Count: total, Max: time.Duration(h.max.Load())}
	if total == 0 {
		return s
	}
	qs := [...]float64{0.5, 0.99, 0.999}
	out := [...]*time.Duration{&s.P50, &s.P99, &s.P999}
	var seen uint64
	q := 0
	for b := 0; b < numBuckets && q < len(qs); b++ {
		seen += counts[b]
		for q < len(qs) && float64(seen) >= qs[q]*float64(total) && seen > 0 {
			*out[q] = time.Duration(min(bucketUpper(b), uint64(s.Max)))
			q++
		}
	}
	return s
}
