package worker

import (
	"context"
	"sync/atomic"
)

// MPSC is a bounded multi-producer single-consumer ring: any number of
// goroutines may push concurrently; at most one goroutine at a time may
// pop (TryPop, PopBatch, Pop, PopBatchWait). Len and Cap are safe from
// anywhere.
//
// Producers claim a position, or a range of positions for PushBatch, with
// one CAS on the tail, copy their values in, and publish the range by
// storing its length and then its sequence number in the range's first
// slot (a batch header), so a batch costs one CAS and one atomic store
// however long it is. The single consumer tracks how much of the current
// batch it has left, copies whole runs out, and releases space with one
// store of the head per PopBatch; producers check for room against the
// head. Compared with Vyukov's per-slot sequences (MPMC), the consumer
// needs no per-element atomic store at all.
type MPSC[T any] struct {
	_        pad
	tail     atomic.Uint64 // next position producers claim; closedBit when closed
	_        pad
	head     atomic.Uint64 // next position to read; written by the consumer only
	_        pad
	avail    uint64 // consumer-owned: published positions left from head in the current batch
	_        pad
	mask     uint64
	seqs     []atomic.Uint64 // seqs[p&mask] == p+1: a batch starting at p is published
	lens     []uint64        // lens[p&mask]: length of that batch; written before seqs
	vals     []T
	notEmpty *waiter // the consumer parks here
	notFull  *waiter // producers park here
	_        pad
}

// NewMPSC returns an empty MPSC ring. capacity must be a power of two
// >= 2, else the error wraps ErrInvalidConfig.
func NewMPSC[T any](capacity int) (*MPSC[T], error) {
	if err := checkCapacity(capacity); err != nil {
		return nil, err
	}
	return newMPSC[T](capacity, nil), nil
}

// newMPSC builds a ring whose consumer parks on notEmpty (shared by a
// worker's data and control rings); nil means a private waiter.
func newMPSC[T any](capacity int, notEmpty *waiter) *MPSC[T] {
	if notEmpty == nil {
		notEmpty = newWaiter()
	}
	return &MPSC[T]{
		mask:     uint64(capacity - 1),
		seqs:     make([]atomic.Uint64, capacity),
		lens:     make([]uint64, capacity),
		vals:     make([]T, capacity),
		notEmpty: notEmpty,
		notFull:  newWaiter(),
	}
}

// Cap returns the capacity.
func (q *MPSC[T]) Cap() int { return len(q.vals) }

// Len returns the number of queued elements (claimed, not yet consumed).
func (q *MPSC[T]) Len() int {
	h := q.head.Load()
	t := q.tail.Load() &^ closedBit
	if t < h {
		return 0
	}
	return int(t - h)
}

// claim reserves up to n positions; it returns the first and the count,
// or a status other than pushed.
func (q *MPSC[T]) claim(n uint64) (pos, k uint64, st pushStatus) {
	pos = q.tail.Load()
	for {
		if pos&closedBit != 0 {
			return 0, 0, closed
		}
		free := uint64(len(q.vals)) - (pos - q.head.Load())
		if int64(free) <= 0 {
			return 0, 0, full
		}
		k = min(n, free)
		if q.tail.CompareAndSwap(pos, pos+k) {
			return pos, k, pushed
		}
		pos = q.tail.Load()
	}
}

// publish makes the k values written from pos visible to the consumer.
func (q *MPSC[T]) publish(pos, k uint64) {
	i := pos & q.mask
	q.lens[i] = k
	q.seqs[i].Store(pos + 1)
	q.notEmpty.wake()
}

// tryPush claims one position. Any goroutine.
func (q *MPSC[T]) tryPush(v T) pushStatus {
	pos, _, st := q.claim(1)
	if st != pushed {
		return st
	}
	q.vals[pos&q.mask] = v
	q.publish(pos, 1)
	return pushed
}

// tryPushFunc claims up to n consecutive positions with one CAS, fills
// position i with at(i) and publishes them as one batch. Any goroutine.
func (q *MPSC[T]) tryPushFunc(n int, at func(i int) T) (int, pushStatus) {
	if n == 0 {
		return 0, pushed
	}
	pos, k, st := q.claim(uint64(n))
	if st != pushed {
		return 0, st
	}
	for i := range k {
		q.vals[(pos+i)&q.mask] = at(int(i))
	}
	q.publish(pos, k)
	return int(k), pushed
}

// TryPush appends v if there is room. Safe for concurrent use.
func (q *MPSC[T]) TryPush(v T) bool { return q.tryPush(v) == pushed }

// PushBatch claims room for a prefix of src with one CAS, copies it in,
// publishes it with one store and returns its length (0 when full). The
// elements of one batch stay contiguous. Safe for concurrent use.
func (q *MPSC[T]) PushBatch(src []T) int {
	if len(src) == 0 {
		return 0
	}
	pos, k, st := q.claim(uint64(len(src)))
	if st != pushed {
		return 0
	}
	i := pos & q.mask
	c := copy(q.vals[i:], src[:k])
	copy(q.vals, src[c:k])
	q.publish(pos, k)
	return int(k)
}

// TryPop removes the oldest element. Consumer only.
func (q *MPSC[T]) TryPop() (T, bool) {
	var dst [1]T
	if q.PopBatch(dst[:]) == 0 {
		return dst[0], false
	}
	return dst[0], true
}

// PopBatch moves up to len(dst) published elements into dst and returns
// how many, releasing their space with one store. Consumer only.
func (q *MPSC[T]) PopBatch(dst []T) int {
	h := q.head.Load()
	n := 0
	for n < len(dst) {
		if q.avail == 0 {
			i := h & q.mask
			if q.seqs[i].Load() != h+1 {
				break
			}
			q.avail = q.lens[i]
		}
		k := min(q.avail, uint64(len(dst)-n))
		i := h & q.mask
		end := min(i+k, uint64(len(q.vals)))
		c := copy(dst[n:], q.vals[i:end])
		clear(q.vals[i:end])
		if uint64(c) < k {
			c2 := copy(dst[n+c:], q.vals[:k-uint64(c)])
			clear(q.vals[:c2])
		}
		h += k
		n += int(k)
		q.avail -= k
	}
	if n > 0 {
		q.head.Store(h)
		q.notFull.wake()
	}
	return n
}

// close marks the ring closed; later pushes report closed.
func (q *MPSC[T]) close() {
	for {
		t := q.tail.Load()
		if t&closedBit != 0 || q.tail.CompareAndSwap(t, t|closedBit) {
			q.notFull.signal()
			return
		}
	}
}

// drained reports whether the ring is closed and every claimed position
// has been consumed.
func (q *MPSC[T]) drained() bool {
	t := q.tail.Load()
	return t&closedBit != 0 && t&^closedBit == q.head.Load()
}

// pushedCount returns the number of positions ever claimed by producers.
func (q *MPSC[T]) pushedCount() uint64 { return q.tail.Load() &^ closedBit }

// hasRoom reports whether a producer could claim a position now, or the
// ring is closed (so that waiting producers wake up and see it).
func (q *MPSC[T]) hasRoom() bool {
	t := q.tail.Load()
	return t&closedBit != 0 || t-q.head.Load() < uint64(len(q.vals))
}

// headReady reports whether an element is ready at the head. Consumer
// only.
func (q *MPSC[T]) headReady() bool {
	if q.avail > 0 {
		return true
	}
	h := q.head.Load()
	return q.seqs[h&q.mask].Load() == h+1
}

// Push appends v, waiting (spin, yield, park) for room until ctx is done;
// then the error matches ErrPoolFull and ctx.Err(). Safe for concurrent
// use.
func (q *MPSC[T]) Push(ctx context.Context, v T) error {
	for !q.TryPush(v) {
		if !q.notFull.wait(q.hasRoom, nil, ctxDone(ctx)) {
			return fullErr(ctx)
		}
	}
	return nil
}

// Pop removes the oldest element, waiting for one until ctx is done; then
// it returns ctx.Err(). Consumer only.
func (q *MPSC[T]) Pop(ctx context.Context) (T, error) {
	for {
		if v, ok := q.TryPop(); ok {
			return v, nil
		}
		if !q.notEmpty.wait(q.headReady, nil, ctxDone(ctx)) {
			var zero T
			return zero, ctx.Err()
		}
	}
}

// PushBatchWait appends all of src in order, waiting for room until ctx
// is done (then the error matches ErrPoolFull and ctx.Err()); it returns
// how many were appended. Safe for concurrent use; a slice pushed in
// several pieces may interleave with other producers' elements.
func (q *MPSC[T]) PushBatchWait(ctx context.Context, src []T) (int, error) {
	return pushAll(ctx, src, q.PushBatch, q.notFull, q.free, q.Cap())
}

// PopBatchWait waits until an element is queued or ctx is done (then it
// returns ctx.Err()), and moves up to len(dst) elements into dst.
// Consumer only.
func (q *MPSC[T]) PopBatchWait(ctx context.Context, dst []T) (int, error) {
	return popSome(ctx, dst, q.PopBatch, q.notEmpty, q.headReady)
}

// free returns the room left (all of it once closed, so waiters wake).
func (q *MPSC[T]) free() int {
	if q.tail.Load()&closedBit != 0 {
		return len(q.vals)
	}
	return len(q.vals) - q.Len()
}
