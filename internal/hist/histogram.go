package hist

import "slices"

// Histogram counts values in the buckets of a Layout. It is not safe for
// concurrent use; see Atomic. Build it with New: the zero value has no
// buckets.
type Histogram struct {
	layout Layout
	counts []uint64
	total  uint64
	max    uint64
}

// New returns an empty histogram with layout l.
func New(l Layout) *Histogram {
	return &Histogram{layout: l, counts: make([]uint64, l.Buckets())}
}

// Layout returns the histogram's layout.
func (h *Histogram) Layout() Layout { return h.layout }

// Record adds n observations of v.
func (h *Histogram) Record(v, n uint64) {
	h.counts[h.layout.Bucket(v)] += n
	h.total += n
	if n > 0 && v > h.max {
		h.max = v
	}
}

// Merge adds o's observations to h. It panics if their layouts differ.
func (h *Histogram) Merge(o *Histogram) {
	if h.layout != o.layout {
		panic("hist: merging histograms of different layouts")
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.total }

// Max returns the largest observation, 0 for an empty histogram.
func (h *Histogram) Max() uint64 { return h.max }

// Equal reports whether h and o have the same layout and observations.
func (h *Histogram) Equal(o *Histogram) bool {
	return h.layout == o.layout && h.total == o.total && h.max == o.max && slices.Equal(h.counts, o.counts)
}

// Quantile returns the q-quantile (0 < q <= 1): the upper bound of the
// bucket holding the observation of rank ceil(q*Count()) (at least 1),
// capped at Max, so it overstates the true value by at most
// Layout().Precision() of it. It is 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) uint64 {
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
			return min(h.layout.Upper(b), h.max)
		}
	}
	return h.max
}

// Over returns an empty histogram with layout l that counts in buf, which
// must have room for l.Buckets() counters (Over panics otherwise). It lets a
// caller keep the buckets of a short-lived histogram, such as the copy
// Atomic.Load fills, on its stack. The histogram owns buf from then on.
func Over(l Layout, buf []uint64) Histogram {
	n := l.Buckets()
	if len(buf) < n {
		panic("hist: Over: buffer smaller than the layout's buckets")
	}
	buf = buf[:n]
	clear(buf)
	return Histogram{layout: l, counts: buf}
}

// resize gives h layout l and l.Buckets() counters of unspecified value,
// reusing its buckets when they fit; the caller sets every counter.
func (h *Histogram) resize(l Layout) {
	n := l.Buckets()
	if cap(h.counts) < n {
		h.counts = make([]uint64, n)
	}
	h.counts = h.counts[:n]
	h.layout = l
}
