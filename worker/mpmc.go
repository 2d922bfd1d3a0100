package worker

import (
	"context"
)

// MPMC is a bounded multi-producer multi-consumer ring (Dmitry Vyukov's
// design): every method is safe for concurrent use. Producers and
// consumers each claim positions, or ranges of positions for the batch
// methods, with one CAS on their own index.
type MPMC[T any] struct {
	vyukov[T]
}

// NewMPMC returns an empty MPMC ring. capacity must be a power of two
// >= 2, else the error wraps ErrInvalidConfig.
func NewMPMC[T any](capacity int) (*MPMC[T], error) {
	if err := checkCapacity(capacity); err != nil {
		return nil, err
	}
	q := &MPMC[T]{}
	q.init(capacity, nil)
	return q, nil
}

// TryPush appends v if there is room.
func (q *MPMC[T]) TryPush(v T) bool { return q.tryPush(v) == pushed }

// PushBatch claims room for a prefix of src with one CAS, copies it in and
// returns its length (0 when full).
func (q *MPMC[T]) PushBatch(src []T) int {
	n, _ := q.tryPushFunc(len(src), func(i int) T { return src[i] })
	return n
}

// TryPop removes the oldest element.
func (q *MPMC[T]) TryPop() (T, bool) {
	pos := q.head.Load()
	var zero T
	for {
		s := &q.slots[pos&q.mask]
		seq := s.seq.Load()
		switch dif := int64(seq - (pos + 1)); {
		case dif == 0:
			if q.head.CompareAndSwap(pos, pos+1) {
				v := s.val
				s.val = zero
				s.seq.Store(pos + q.mask + 1)
				q.notFull.wake()
				return v, true
			}
			pos = q.head.Load()
		case dif < 0:
			return zero, false
		default:
			pos = q.head.Load()
		}
	}
}

// PopBatch claims up to len(dst) consecutive published elements with one
// CAS, moves them into dst and returns how many.
func (q *MPMC[T]) PopBatch(dst []T) int {
	if len(dst) == 0 {
		return 0
	}
	pos := q.head.Load()
	var zero T
	for {
		k := uint64(0)
		for k < uint64(len(dst)) && q.slots[(pos+k)&q.mask].seq.Load() == pos+k+1 {
			k++
		}
		if k == 0 {
			if int64(q.slots[pos&q.mask].seq.Load()-(pos+1)) < 0 {
				return 0
			}
			pos = q.head.Load()
			continue
		}
		if !q.head.CompareAndSwap(pos, pos+k) {
			pos = q.head.Load()
			continue
		}
		for i := range k {
			s := &q.slots[(pos+i)&q.mask]
			dst[i] = s.val
			s.val = zero
			s.seq.Store(pos + i + q.mask + 1)
		}
		q.notFull.wake()
		return int(k)
	}
}

// Push appends v, waiting (spin, yield, park) for room until ctx is done;
// then the error matches ErrPoolFull and ctx.Err().
func (q *MPMC[T]) Push(ctx context.Context, v T) error {
	for !q.TryPush(v) {
		if !q.notFull.wait(q.hasRoom, nil, ctxDone(ctx)) {
			return fullErr(ctx)
		}
	}
	return nil
}

// Pop removes the oldest element, waiting for one until ctx is done; then
// it returns ctx.Err().
func (q *MPMC[T]) Pop(ctx context.Context) (T, error) {
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
// how many were appended.
func (q *MPMC[T]) PushBatchWait(ctx context.Context, src []T) (int, error) {
	return pushAll(ctx, src, q.PushBatch, q.notFull, q.free, q.Cap())
}

// PopBatchWait waits until an element is queued or ctx is done (then it
// returns ctx.Err()), and moves up to len(dst) elements into dst.
func (q *MPMC[T]) PopBatchWait(ctx context.Context, dst []T) (int, error) {
	return popSome(ctx, dst, q.PopBatch, q.notEmpty, q.headReady)
}
