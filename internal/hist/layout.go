// Package hist is the one log-linear (HDR-style) histogram of the module:
// values below 2^subBits land in exact buckets; above, each power of two is
// split into 2^subBits linear sub-buckets, so a bucket is at most
// 1/2^subBits of its lower bound wide over the whole uint64 range. The
// precision (subBits) is a parameter: the workers' latency uses 3 (12.5%),
// nsctl bench 5 (3%).
//
// Histogram is plain and not safe for concurrent use (one per goroutine,
// merged at the end); Atomic takes records from many goroutines without
// locks or allocations and is read through a copy (Atomic.Load).
//
// It imports nothing of ours, so that the leaves (worker) may use it.
package hist

import (
	"fmt"
	"math/bits"
)

// MaxSubBits is the largest precision parameter: 2^8 sub-buckets per power
// of two (0.4%), 14,592 counters. Finer is rarely worth the memory.
const MaxSubBits = 8

// Layout maps values to buckets for one precision. The zero value is the
// layout of subBits 0 (one bucket per power of two). Layouts are comparable;
// two histograms merge only if their layouts are equal.
type Layout struct {
	subBits uint8
}

// NewLayout returns the layout with 2^subBits sub-buckets per power of two:
// a quantile overstates the true value by at most 1/2^subBits of it. It
// panics unless 0 <= subBits <= MaxSubBits: the precision is a constant of
// the caller's code, not an input.
func NewLayout(subBits int) Layout {
	if subBits < 0 || subBits > MaxSubBits {
		panic(fmt.Sprintf("hist: subBits %d outside [0, %d]", subBits, MaxSubBits))
	}
	return Layout{subBits: uint8(subBits)}
}

// SubBits returns the precision parameter.
func (l Layout) SubBits() int { return int(l.subBits) }

// Precision returns the largest relative width of a bucket, 1/2^subBits.
func (l Layout) Precision() float64 { return 1 / float64(l.sub()) }

func (l Layout) sub() uint64 { return 1 << l.subBits }

// Buckets returns the number of buckets, which covers every uint64.
func (l Layout) Buckets() int {
	s := int(l.sub())
	return (64-int(l.subBits))*s + s
}

// Bucket returns the index of v's bucket, in [0, Buckets()).
func (l Layout) Bucket(v uint64) int {
	sb := uint(l.subBits) & 63 // the masks spare the compiler's shift checks
	if v < 1<<sb {
		return int(v)
	}
	shift := uint(bits.Len64(v)) - 1 - sb
	return int((uint64(shift)+1)<<sb | (v>>(shift&63))&(1<<sb-1))
}

// Upper returns the largest value of bucket b.
func (l Layout) Upper(b int) uint64 {
	sub := int(l.sub())
	if b < sub {
		return uint64(b)
	}
	shift := b/sub - 1
	mant := uint64(b%sub + sub)
	return (mant+1)<<shift - 1
}
