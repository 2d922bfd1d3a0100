package hist

import "sync/atomic"

// Atomic is a Histogram for many writers: Record costs a few atomic adds and
// never allocates or locks, and Load may run concurrently with Record. Build
// it with NewAtomic: the zero value has no buckets.
type Atomic struct {
	layout Layout
	counts []atomic.Uint64
	max    atomic.Uint64
}

// NewAtomic returns an empty Atomic with layout l.
func NewAtomic(l Layout) *Atomic {
	return &Atomic{layout: l, counts: make([]atomic.Uint64, l.Buckets())}
}

// Layout returns the histogram's layout.
func (h *Atomic) Layout() Layout { return h.layout }

// Record adds n observations of v.
func (h *Atomic) Record(v, n uint64) {
	if n == 0 {
		return
	}
	h.counts[h.layout.Bucket(v)].Add(n)
	if v > h.max.Load() {
		h.max.Store(v) // racing writers may lose a max; fine for a gauge
	}
}

// Load copies the observations into dst, replacing its contents (and its
// layout), and reusing its buckets when it has enough. Each counter is read
// once; records that race with Load may be missed, never counted twice.
func (h *Atomic) Load(dst *Histogram) {
	dst.resize(h.layout)
	counts := dst.counts[:len(h.counts)]
	var total uint64
	for i := range h.counts {
		c := h.counts[i].Load()
		counts[i] = c
		total += c
	}
	dst.total, dst.max = total, h.max.Load()
}
