package main

import "math/bits"

// histogram is a log-linear (HDR-style) latency histogram in nanoseconds:
// values below 2^histSubBits are exact; above, each power of two is split
// into 2^histSubBits linear sub-buckets, so a bucket is at most 1/32 (3%)
// of its lower bound wide. It is not safe for concurrent use: every bench
// goroutine records into its own and they are merged at the end.
type histogram struct {
	counts [histBuckets]uint64
	total  uint64
	max    uint64
}

const (
	histSubBits = 5
	histSub     = 1 << histSubBits
	histBuckets = (64-histSubBits)*histSub + histSub
)

func histBucket(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - histSubBits
	return (shift+1)*histSub + int((v>>shift)&(histSub-1))
}

// histUpper is the largest value of bucket b.
func histUpper(b int) uint64 {
	if b < histSub {
		return uint64(b)
	}
	shift := b/histSub - 1
	mant := uint64(b%histSub) + histSub
	return (mant+1)<<shift - 1
}

// record adds n observations of v.
func (h *histogram) record(v uint64, n uint64) {
	h.counts[histBucket(v)] += n
	h.total += n
	if v > h.max {
		h.max = v
	}
}

// merge adds o's observations to h.
func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q <= 1): the upper bound of the
// bucket holding it, capped at the largest observation, so it overstates the
// true value by at most 1/32. It is 0 for an empty histogram.
func (h *histogram) quantile(q float64) uint64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	if float64(rank) < q*float64(h.total) || rank == 0 {
		rank++ // ceil, at least 1
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histUpper(b), h.max)
		}
	}
	return h.max
}
