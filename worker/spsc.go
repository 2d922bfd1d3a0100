package worker

import (
	"context"
	"sync/atomic"
)

// SPSC is a bounded single-producer single-consumer ring. At most one
// goroutine at a time may push (TryPush, PushBatch, Push, PushBatchWait)
// and at most one other may pop (TryPop, PopBatch, Pop, PopBatchWait);
// Len and Cap are safe from anywhere.
//
// The producer's index and its cached copy of the consumer's index share
// one cache line, the consumer's another, so in steady state each side
// touches the other's line only when its cached view runs out.
type SPSC[T any] struct {
	_ pad
	// producer side
	tail      atomic.Uint64 // next position to write; written by the producer only
	headCache uint64        // producer's last view of head
	_         [cacheLine - 16]byte
	head      atomic.Uint64 // next position to read; written by the consumer only
	tailCache uint64        // consumer's last view of tail
	_         [cacheLine - 16]byte
	mask      uint64
	buf       []T
	notEmpty  *waiter
	notFull   *waiter
	_         pad
}

// NewSPSC returns an empty SPSC ring. capacity must be a power of two
// >= 2, else the error wraps ErrInvalidConfig.
func NewSPSC[T any](capacity int) (*SPSC[T], error) {
	if err := checkCapacity(capacity); err != nil {
		return nil, err
	}
	return &SPSC[T]{
		mask:     uint64(capacity - 1),
		buf:      make([]T, capacity),
		notEmpty: newWaiter(),
		notFull:  newWaiter(),
	}, nil
}

// Cap returns the capacity.
func (q *SPSC[T]) Cap() int { return len(q.buf) }

// Len returns the number of queued elements.
func (q *SPSC[T]) Len() int {
	h := q.head.Load()
	t := q.tail.Load()
	if t < h {
		return 0
	}
	return int(t - h)
}

// TryPush appends v if there is room. Producer only.
func (q *SPSC[T]) TryPush(v T) bool {
	t := q.tail.Load()
	if t-q.headCache > q.mask {
		q.headCache = q.head.Load()
		if t-q.headCache > q.mask {
			return false
		}
	}
	q.buf[t&q.mask] = v
	q.tail.Store(t + 1)
	q.notEmpty.wake()
	return true
}

// PushBatch appends as many elements of src as fit, publishing them with
// one index update, and returns how many. Producer only.
func (q *SPSC[T]) PushBatch(src []T) int {
	t := q.tail.Load()
	free := uint64(len(q.buf)) - (t - q.headCache)
	if free < uint64(len(src)) {
		q.headCache = q.head.Load()
		free = uint64(len(q.buf)) - (t - q.headCache)
	}
	n := min(uint64(len(src)), free)
	i := t & q.mask
	c := copy(q.buf[i:], src[:n])
	copy(q.buf, src[c:n])
	if n > 0 {
		q.tail.Store(t + n)
		q.notEmpty.wake()
	}
	return int(n)
}

// TryPop removes the oldest element. Consumer only.
func (q *SPSC[T]) TryPop() (T, bool) {
	h := q.head.Load()
	if h == q.tailCache {
		q.tailCache = q.tail.Load()
		if h == q.tailCache {
			var zero T
			return zero, false
		}
	}
	var zero T
	i := h & q.mask
	v := q.buf[i]
	q.buf[i] = zero
	q.head.Store(h + 1)
	q.notFull.wake()
	return v, true
}

// PopBatch moves up to len(dst) elements into dst, releasing them with
// one index update, and returns how many. Consumer only.
func (q *SPSC[T]) PopBatch(dst []T) int {
	h := q.head.Load()
	avail := q.tailCache - h
	if avail < uint64(len(dst)) {
		q.tailCache = q.tail.Load()
		avail = q.tailCache - h
	}
	n := min(uint64(len(dst)), avail)
	i := h & q.mask
	end := min(i+n, uint64(len(q.buf)))
	c := copy(dst, q.buf[i:end])
	clear(q.buf[i:end])
	if uint64(c) < n {
		c2 := copy(dst[c:], q.buf[:n-uint64(c)])
		clear(q.buf[:c2])
	}
	if n > 0 {
		q.head.Store(h + n)
		q.notFull.wake()
	}
	return int(n)
}

// Push appends v, waiting (spin, yield, park) for room until ctx is done;
// then the error matches ErrPoolFull and ctx.Err(). Producer only.
func (q *SPSC[T]) Push(ctx context.Context, v T) error {
	for !q.TryPush(v) {
		if !q.notFull.wait(q.hasRoom, nil, ctxDone(ctx)) {
			return fullErr(ctx)
		}
	}
	return nil
}

// Pop removes the oldest element, waiting for one until ctx is done; then
// it returns ctx.Err(). Consumer only.
func (q *SPSC[T]) Pop(ctx context.Context) (T, error) {
	for {
		if v, ok := q.TryPop(); ok {
			return v, nil
		}
		if !q.notEmpty.wait(q.nonEmpty, nil, ctxDone(ctx)) {
			var zero T
			return zero, ctx.Err()
		}
	}
}

func (q *SPSC[T]) hasRoom() bool  { return q.tail.Load()-q.head.Load() <= q.mask }
func (q *SPSC[T]) nonEmpty() bool { return q.tail.Load() != q.head.Load() }

// PushBatchWait appends all of src in order, waiting for room until ctx
// is done (then the error matches ErrPoolFull and ctx.Err()); it returns
// how many were appended.
func (q *SPSC[T]) PushBatchWait(ctx context.Context, src []T) (int, error) {
	return pushAll(ctx, src, q.PushBatch, q.notFull, q.free, q.Cap())
}

// PopBatchWait waits until an element is queued or ctx is done (then it
// returns ctx.Err()), and moves up to len(dst) elements into dst.
func (q *SPSC[T]) PopBatchWait(ctx context.Context, dst []T) (int, error) {
	return popSome(ctx, dst, q.PopBatch, q.notEmpty, q.nonEmpty)
}

// free returns the room left.
func (q *SPSC[T]) free() int { return len(q.buf) - q.Len() }
