package worker

import (
	"context"
)

// MPSC is a bounded multi-producer single-consumer ring: any number of
// goroutines may push concurrently; at most one goroutine at a time may
// pop (TryPop, PopBatch, Pop). Len and Cap are safe from anywhere.
//
// Producers use Vyukov's per-slot sequence numbers and claim positions
// (or, for PushBatch, a range) with one CAS; the consumer owns the head
// and needs no atomic read-modify-write at all.
type MPSC[T any] struct {
	vyukov[T]
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
	q := &MPSC[T]{}
	q.init(capacity, notEmpty)
	return q
}

// TryPush appends v if there is room. Safe for concurrent use.
func (q *MPSC[T]) TryPush(v T) bool { return q.tryPush(v) == pushed }

// PushBatch claims room for a prefix of src with one CAS, copies it in and
// returns its length (0 when full). The elements of one batch stay
// contiguous. Safe for concurrent use.
func (q *MPSC[T]) PushBatch(src []T) int {
	n, _ := q.tryPushFunc(len(src), func(i int) T { return src[i] })
	return n
}

// TryPop removes the oldest element. Consumer only.
func (q *MPSC[T]) TryPop() (T, bool) {
	h := q.head.Load()
	s := &q.slots[h&q.mask]
	var zero T
	if s.seq.Load() != h+1 {
		return zero, false
	}
	v := s.val
	s.val = zero
	s.seq.Store(h + q.mask + 1)
	q.head.Store(h + 1)
	q.notFull.wake()
	return v, true
}

// PopBatch moves up to len(dst) published elements into dst and returns
// how many. Consumer only.
func (q *MPSC[T]) PopBatch(dst []T) int {
	h := q.head.Load()
	var zero T
	n := 0
	for n < len(dst) {
		p := h + uint64(n)
		s := &q.slots[p&q.mask]
		if s.seq.Load() != p+1 {
			break
		}
		dst[n] = s.val
		s.val = zero
		s.seq.Store(p + q.mask + 1)
		n++
	}
	if n > 0 {
		q.head.Store(h + uint64(n))
		q.notFull.wake()
	}
	return n
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
