// Package hotkeys finds the most frequent keys of a stream with the
// space-saving algorithm (Metwally, Agrawal, El Abbadi: "Efficient
// Computation of Frequent and Top-k Elements in Data Streams", 2005).
//
// A Sketch keeps Capacity counters. A key already counted is incremented; a
// new key takes over the smallest counter and inherits its count as an
// over-estimate (its Error). Any key whose true frequency exceeds
// total/Capacity is guaranteed to be among the counters, and each count
// over-states the true one by at most its Error.
//
// A Sketch is meant to live inside one worker: it is not safe for concurrent
// use, and Observe neither locks nor allocates once the key buffers have
// grown to the keys seen (steady state). Read it with Top on the same
// goroutine (in ns, through the worker's priority lane, worker.Pool.Exec).
package hotkeys

import (
	"bytes"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Config sizes a Sketch.
type Config struct {
	// Capacity is the number of counters. 0 means 128. A key with more
	// than total/Capacity observations is never missed.
	Capacity int
	// MaxKeyBytes bounds the bytes kept per key for display; longer keys
	// are counted by their full hash but shown truncated (Entry.Truncated).
	// 0 means 128.
	MaxKeyBytes int
	// SampleEvery counts one Observe call in SampleEvery, with weight
	// SampleEvery, to cut the cost on hot paths (a skipped call costs a
	// decrement). 0 or 1 counts every call. Sampling is deterministic
	// (every n-th call), so a stream with a period dividing n is biased.
	SampleEvery int
}

// DefaultConfig returns 128 counters and 128-byte keys.
func DefaultConfig() Config { return Config{Capacity: 128, MaxKeyBytes: 128} }

// Entry is one counted key in a snapshot.
type Entry struct {
	// Key is the key (its first MaxKeyBytes bytes).
	Key []byte
	// Count is the estimated number of observations, never below the true
	// number.
	Count uint64
	// Error bounds the over-estimate: the true count is at least
	// Count-Error.
	Error uint64
	// Truncated reports that Key was cut to MaxKeyBytes.
	Truncated bool
}

// slot is one counter.
type slot struct {
	hash  uint64
	count uint64
	err   uint64
	key   []byte // up to maxKey bytes, buffer reused across keys
	trunc bool
	heap  int32 // position in Sketch.heap
}

// Sketch is a space-saving top-k sketch. The zero value is not usable; call
// New. Not safe for concurrent use.
type Sketch struct {
	maxKey int
	slots  []slot
	used   int
	heap   []int32 // slot indexes, a min-heap on count
	index  []int32 // open addressing: hash -> slot+1 (0 = empty)
	mask   uint64  // len(index)-1
	total  uint64  // observations
	sample uint64  // SampleEvery, >= 1
	skip   uint64  // calls left before the next counted one
}

// New returns an empty sketch.
func New(cfg Config) *Sketch {
	if cfg.Capacity <= 0 {
		cfg.Capacity = 128
	}
	if cfg.MaxKeyBytes <= 0 {
		cfg.MaxKeyBytes = 128
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = 1
	}
	size := 1
	for size < 4*cfg.Capacity { // load <= 1/4: short probe chains
		size <<= 1
	}
	return &Sketch{
		maxKey: cfg.MaxKeyBytes,
		slots:  make([]slot, cfg.Capacity),
		heap:   make([]int32, 0, cfg.Capacity),
		index:  make([]int32, size),
		mask:   uint64(size - 1),
		sample: uint64(cfg.SampleEvery),
		skip:   1,
	}
}

// Capacity returns the number of counters.
func (s *Sketch) Capacity() int { return len(s.slots) }

// Total returns the number of observations since New or Reset (halved by
// Decay).
func (s *Sketch) Total() uint64 { return s.total }

// Observe counts one occurrence of key (or, with SampleEvery n, one call
// in n as n occurrences).
func (s *Sketch) Observe(key []byte) {
	if s.skip--; s.skip > 0 {
		return
	}
	s.skip = s.sample
	s.ObserveN(key, s.sample)
}

// ObserveN counts n occurrences of key, unsampled.
func (s *Sketch) ObserveN(key []byte, n uint64) {
	if n == 0 {
		return
	}
	s.total += n
	h := xxhash.Sum64(key)
	pos, found := s.lookup(h)
	if found {
		i := s.index[pos] - 1
		s.slots[i].count += n
		s.down(int(s.slots[i].heap))
		return
	}
	if s.used < len(s.slots) {
		i := int32(s.used)
		s.used++
		s.fill(i, h, key, n, 0)
		s.index[pos] = i + 1
		s.slots[i].heap = int32(len(s.heap))
		s.heap = append(s.heap, i)
		s.up(len(s.heap) - 1)
		return
	}
	// Replace the minimum: the newcomer inherits its count as error.
	i := s.heap[0]
	old := &s.slots[i]
	s.remove(old.hash)
	min := old.count
	s.fill(i, h, key, min+n, min)
	pos, _ = s.lookup(h)
	s.index[pos] = i + 1
	s.down(0)
}

func (s *Sketch) fill(i int32, h uint64, key []byte, count, err uint64) {
	sl := &s.slots[i]
	sl.hash, sl.count, sl.err = h, count, err
	k := key
	sl.trunc = len(k) > s.maxKey
	if sl.trunc {
		k = k[:s.maxKey]
	}
	sl.key = append(sl.key[:0], k...)
}

// lookup returns the index position holding h, or the empty position where
// it would go.
func (s *Sketch) lookup(h uint64) (int, bool) {
	p := h & s.mask
	for {
		e := s.index[p]
		if e == 0 {
			return int(p), false
		}
		if s.slots[e-1].hash == h {
			return int(p), true
		}
		p = (p + 1) & s.mask
	}
}

// remove deletes h from the index with backward-shift deletion, so no
// tombstones accumulate.
func (s *Sketch) remove(h uint64) {
	p, ok := s.lookup(h)
	if !ok {
		return
	}
	for {
		s.index[p] = 0
		q := p
		for {
			q = int((uint64(q) + 1) & s.mask)
			e := s.index[q]
			if e == 0 {
				return
			}
			home := int(s.slots[e-1].hash & s.mask)
			// Move e back to p if its home is not cyclically in (p, q].
			if (q > p && (home <= p || home > q)) || (q < p && home <= p && home > q) {
				s.index[p] = e
				p = q
				break
			}
		}
	}
}

func (s *Sketch) less(a, b int) bool {
	return s.slots[s.heap[a]].count < s.slots[s.heap[b]].count
}

func (s *Sketch) swap(a, b int) {
	s.heap[a], s.heap[b] = s.heap[b], s.heap[a]
	s.slots[s.heap[a]].heap = int32(a)
	s.slots[s.heap[b]].heap = int32(b)
}

func (s *Sketch) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !s.less(j, p) {
			return
		}
		s.swap(j, p)
		j = p
	}
}

func (s *Sketch) down(j int) {
	n := len(s.heap)
	for {
		l := 2*j + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && s.less(r, l) {
			c = r
		}
		if !s.less(c, j) {
			return
		}
		s.swap(j, c)
		j = c
	}
}

// Top returns up to n entries, the highest counts first (ties by key). The
// entries are copies: the sketch may change afterwards. n <= 0 means all.
func (s *Sketch) Top(n int) []Entry {
	if n <= 0 || n > s.used {
		n = s.used
	}
	all := make([]Entry, s.used)
	for i := 0; i < s.used; i++ {
		sl := &s.slots[i]
		all[i] = Entry{Key: sl.key, Count: sl.count, Error: sl.err, Truncated: sl.trunc}
	}
	slices.SortFunc(all, compareEntries)
	out := all[:n]
	for i := range out {
		out[i].Key = bytes.Clone(out[i].Key)
	}
	return out
}

func compareEntries(a, b Entry) int {
	switch {
	case a.Count > b.Count:
		return -1
	case a.Count < b.Count:
		return 1
	}
	return bytes.Compare(a.Key, b.Key)
}

// Decay halves every count and error, so that keys hot long ago give way
// to keys hot now. Call it periodically (e.g. every minute) from the
// sketch's goroutine.
func (s *Sketch) Decay() {
	for i := 0; i < s.used; i++ {
		s.slots[i].count /= 2
		s.slots[i].err /= 2
	}
	s.total /= 2
	// Halving keeps the heap order (floor is monotonic).
}

// Reset forgets every key, keeping the buffers.
func (s *Sketch) Reset() {
	for i := 0; i < s.used; i++ {
		s.slots[i].key = s.slots[i].key[:0]
	}
	clear(s.index)
	s.heap = s.heap[:0]
	s.used = 0
	s.total = 0
}

// Merge combines snapshots of disjoint key sets (e.g. one per worker: a
// key lives on one worker) or overlapping ones (its counts and errors are
// added), and returns the n highest (n <= 0: all).
func Merge(n int, lists ...[]Entry) []Entry {
	var out []Entry
	seen := map[string]int{}
	for _, l := range lists {
		for _, e := range l {
			if i, ok := seen[string(e.Key)]; ok {
				out[i].Count += e.Count
				out[i].Error += e.Error
				out[i].Truncated = out[i].Truncated || e.Truncated
				continue
			}
			seen[string(e.Key)] = len(out)
			out = append(out, e)
		}
	}
	slices.SortFunc(out, compareEntries)
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out
}
