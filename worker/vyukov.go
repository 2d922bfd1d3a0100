package worker

import (
	"sync/atomic"
)

// closedBit marks a ring's tail as closed: producers can no longer claim
// positions, so a consumer that drains up to the tail has seen every
// element ever accepted. Pool closes its MPSC rings on Close and Stop.
const closedBit = uint64(1) << 63

// slot is one cell of a vyukov ring. seq tells whose turn it is: for the
// position pos mapped to this cell, seq == pos means free for a producer,
// seq == pos+1 means full for a consumer. A consumer releases the cell to
// the next lap by storing pos+capacity.
type slot[T any] struct {
	seq atomic.Uint64
	val T
}

// vyukov is the producer half of MPMC: Dmitry Vyukov's bounded MPMC
// queue with one sequence number per slot. Producers claim a position (or
// a range of positions) with one CAS on tail.
type vyukov[T any] struct {
	_        pad
	tail     atomic.Uint64 // next position producers claim; closedBit when closed
	_        pad
	head     atomic.Uint64 // next position consumers read
	_        pad
	mask     uint64
	slots    []slot[T]
	notEmpty *waiter // consumers park here
	notFull  *waiter // producers park here
	_        pad
}

func (q *vyukov[T]) init(capacity int, notEmpty *waiter) {
	q.mask = uint64(capacity - 1)
	q.slots = make([]slot[T], capacity)
	for i := range q.slots {
		q.slots[i].seq.Store(uint64(i))
	}
	if notEmpty == nil {
		notEmpty = newWaiter()
	}
	q.notEmpty = notEmpty
	q.notFull = newWaiter()
}

// pushStatus is the outcome of a push attempt.
type pushStatus uint8

const (
	pushed pushStatus = iota
	full
	closed
)

// tryPush claims one position. Any goroutine.
func (q *vyukov[T]) tryPush(v T) pushStatus {
	pos := q.tail.Load()
	for {
		if pos&closedBit != 0 {
			return closed
		}
		s := &q.slots[pos&q.mask]
		seq := s.seq.Load()
		switch dif := int64(seq - pos); {
		case dif == 0:
			if q.tail.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1)
				q.notEmpty.wake()
				return pushed
			}
			pos = q.tail.Load()
		case dif < 0:
			// The slot still holds the element of the previous lap.
			return full
		default:
			// Another producer claimed pos; catch up.
			pos = q.tail.Load()
		}
	}
}

// tryPushFunc claims up to n consecutive free positions with one CAS and
// fills position i with at(i). Any goroutine.
func (q *vyukov[T]) tryPushFunc(n int, at func(i int) T) (int, pushStatus) {
	if n == 0 {
		return 0, pushed
	}
	pos := q.tail.Load()
	for {
		if pos&closedBit != 0 {
			return 0, closed
		}
		k := uint64(0)
		for k < uint64(n) && k <= q.mask && q.slots[(pos+k)&q.mask].seq.Load() == pos+k {
			k++
		}
		if k == 0 {
			if int64(q.slots[pos&q.mask].seq.Load()-pos) < 0 {
				return 0, full
			}
			pos = q.tail.Load()
			continue
		}
		if !q.tail.CompareAndSwap(pos, pos+k) {
			pos = q.tail.Load()
			continue
		}
		for i := range k {
			s := &q.slots[(pos+i)&q.mask]
			s.val = at(int(i))
			s.seq.Store(pos + i + 1)
		}
		q.notEmpty.wake()
		return int(k), pushed
	}
}

// Len returns the number of queued elements (claimed, not yet consumed).
func (q *vyukov[T]) Len() int {
	h := q.head.Load()
	t := q.tail.Load() &^ closedBit
	if t < h {
		return 0
	}
	return int(t - h)
}

// Cap returns the capacity.
func (q *vyukov[T]) Cap() int { return len(q.slots) }

// hasRoom reports whether a producer could claim a slot now, or the ring
// is closed (so that waiting producers wake up and see it).
func (q *vyukov[T]) hasRoom() bool {
	t := q.tail.Load()
	if t&closedBit != 0 {
		return true
	}
	return int64(q.slots[t&q.mask].seq.Load()-t) >= 0
}

// headReady reports whether the element at head has been published.
func (q *vyukov[T]) headReady() bool {
	h := q.head.Load()
	return q.slots[h&q.mask].seq.Load() == h+1
}

// free returns the room left.
func (q *vyukov[T]) free() int { return len(q.slots) - q.Len() }
