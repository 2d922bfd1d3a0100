package worker

import (
	"slices"
	"sort"
	"strconv"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Partitioner maps a key to one of n workers. It must return a value in
// [0, n) for every key (a Pool reports anything else as a
// *PartitionError), must be safe for concurrent use and must not block.
// All partitioners in this package except RoundRobin are deterministic:
// the same key and n give the same worker in every process.
type Partitioner interface {
	Partition(key string, n int) int
}

// PartitionerFunc adapts a function to Partitioner.
type PartitionerFunc func(key string, n int) int

// Partition calls f(key, n).
func (f PartitionerFunc) Partition(key string, n int) int { return f(key, n) }

var (
	_ Partitioner = Hash{}
	_ Partitioner = (*Consistent)(nil)
	_ Partitioner = (*Range)(nil)
	_ Partitioner = (*RoundRobin)(nil)
	_ Partitioner = (*Weighted)(nil)
	_ Partitioner = PartitionerFunc(nil)
)

// HashKey is the hash every partitioner here is built on: 64-bit xxHash
// (XXH64, seed 0, github.com/cespare/xxhash/v2) of the key's bytes. It is
// fast, non-cryptographic and stable across processes and platforms.
func HashKey(key string) uint64 { return xxhash.Sum64String(key) }

// Hash partitions by HashKey(key) mod n. It is the default partitioner.
// Adding a worker moves about n/(n+1) of the keys; use Consistent when
// that matters.
type Hash struct{}

// Partition returns HashKey(key) mod n.
func (Hash) Partition(key string, n int) int {
	return int(HashKey(key) % uint64(n))
}

// Consistent is consistent hashing with virtual nodes: each worker owns
// Replicas points on a 64-bit hash circle and a key belongs to the first
// point at or after HashKey(key). Adding a worker to n moves about
// 1/(n+1) of the keys. The circle for the most recent n is cached;
// Consistent is safe for concurrent use.
type Consistent struct {
	replicas int
	circle   atomic.Pointer[circle]
}

type circle struct {
	n      int
	hashes []uint64 // sorted
	owner  []int32  // owner[i] owns hashes[i]
}

// DefaultReplicas is the number of virtual nodes per worker NewConsistent
// uses for replicas <= 0.
const DefaultReplicas = 160

// NewConsistent returns a consistent-hash partitioner with replicas
// virtual nodes per worker (DefaultReplicas if replicas <= 0).
func NewConsistent(replicas int) *Consistent {
	if replicas <= 0 {
		replicas = DefaultReplicas
	}
	return &Consistent{replicas: replicas}
}

// Partition returns the owner of key on the circle of n workers.
func (c *Consistent) Partition(key string, n int) int {
	if n <= 1 {
		return 0
	}
	ci := c.circle.Load()
	if ci == nil || ci.n != n {
		ci = c.build(n)
		c.circle.Store(ci)
	}
	h := HashKey(key)
	i := sort.Search(len(ci.hashes), func(i int) bool { return ci.hashes[i] >= h })
	if i == len(ci.hashes) {
		i = 0
	}
	return int(ci.owner[i])
}

func (c *Consistent) build(n int) *circle {
	type point struct {
		h     uint64
		owner int32
	}
	pts := make([]point, 0, n*c.replicas)
	buf := make([]byte, 0, 32)
	for w := range n {
		for r := range c.replicas {
			buf = strconv.AppendInt(buf[:0], int64(w), 10)
			buf = append(buf, '#')
			buf = strconv.AppendInt(buf, int64(r), 10)
			pts = append(pts, point{xxhash.Sum64(buf), int32(w)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return int(a.owner - b.owner) // tie-break so every process agrees
	})
	ci := &circle{n: n, hashes: make([]uint64, len(pts)), owner: make([]int32, len(pts))}
	for i, p := range pts {
		ci.hashes[i], ci.owner[i] = p.h, p.owner
	}
	return ci
}

// Range partitions an ordered key space by split points: with bounds
// b[0] < b[1] < ... < b[k-1], keys below b[0] go to worker 0, keys in
// [b[i-1], b[i]) to worker i, keys >= b[k-1] to worker k. It defines
// len(bounds)+1 ranges, so a Pool using it needs exactly that many
// workers (New checks).
type Range struct {
	bounds []string
}

// NewRange returns a Range over strictly increasing split points; else
// the error wraps ErrInvalidConfig.
func NewRange(bounds ...string) (*Range, error) {
	for i := 1; i < len(bounds); i++ {
		if bounds[i-1] >= bounds[i] {
			return nil, invalidf("range bounds not strictly increasing at %d: %q >= %q", i, bounds[i-1], bounds[i])
		}
	}
	return &Range{bounds: slices.Clone(bounds)}, nil
}

// Partitions returns the number of ranges, len(bounds)+1.
func (r *Range) Partitions() int { return len(r.bounds) + 1 }

// Partition returns the index of the range holding key. n is not used:
// the result is in [0, Partitions()).
func (r *Range) Partition(key string, n int) int {
	i, found := slices.BinarySearch(r.bounds, key)
	if found {
		return i + 1
	}
	return i
}

// RoundRobin ignores the key and cycles through the workers; use it for
// stateless work where per-key order does not matter. Safe for concurrent
// use (one shared atomic counter).
type RoundRobin struct {
	next atomic.Uint64
}

// Partition returns the next worker in turn.
func (r *RoundRobin) Partition(_ string, n int) int {
	return int((r.next.Add(1) - 1) % uint64(n))
}

// Weighted spreads keys over workers in proportion to their weights:
// worker i receives about weights[i]/sum(weights) of the keys. The choice
// is HashKey(key) scaled onto [0, sum) and looked up in the cumulative
// weights, so it is deterministic. A Pool using it needs exactly
// len(weights) workers (New checks).
type Weighted struct {
	cum []uint64 // cumulative weights
}

// NewWeighted returns a Weighted partitioner. Weights must be >= 0 with a
// positive sum; else the error wraps ErrInvalidConfig.
func NewWeighted(weights ...int) (*Weighted, error) {
	if len(weights) == 0 {
		return nil, invalidf("no weights")
	}
	cum := make([]uint64, len(weights))
	var sum uint64
	for i, w := range weights {
		if w < 0 {
			return nil, invalidf("weight %d is negative (%d)", i, w)
		}
		sum += uint64(w)
		cum[i] = sum
	}
	if sum == 0 {
		return nil, invalidf("weights sum to zero")
	}
	return &Weighted{cum: cum}, nil
}

// Partitions returns the number of weights.
func (w *Weighted) Partitions() int { return len(w.cum) }

// Partition returns the worker owning key's point. n is not used: the
// result is in [0, Partitions()).
func (w *Weighted) Partition(key string, n int) int {
	total := w.cum[len(w.cum)-1]
	hi, _ := mulHi(HashKey(key), total)
	// first i with cum[i] > hi
	return sort.Search(len(w.cum), func(i int) bool { return w.cum[i] > hi })
}
