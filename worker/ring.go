package worker

import (
	"context"
	"fmt"
	"math/bits"
)

// Queue is the behaviour shared by the three rings. Which methods may be
// called concurrently depends on the ring: see SPSC, MPSC and MPMC.
type Queue[T any] interface {
	// TryPush appends v and reports whether there was room.
	TryPush(v T) bool
	// TryPop removes the oldest element, reporting false if there is none.
	TryPop() (T, bool)
	// PushBatch appends a prefix of src as one unit and returns its length
	// (0 when full).
	PushBatch(src []T) int
	// PopBatch moves up to len(dst) elements into dst and returns how many.
	PopBatch(dst []T) int
	// Push appends v, waiting for room until ctx is done.
	Push(ctx context.Context, v T) error
	// Pop removes the oldest element, waiting for one until ctx is done.
	Pop(ctx context.Context) (T, error)
	// PushBatchWait appends all of src in order, in as few batches as room
	// allows, waiting for room until ctx is done; it returns how many
	// were appended.
	PushBatchWait(ctx context.Context, src []T) (int, error)
	// PopBatchWait waits until at least one element is queued (or ctx is
	// done) and then moves up to len(dst) into dst.
	PopBatchWait(ctx context.Context, dst []T) (int, error)
	// Len is the number of elements queued (a snapshot under concurrency).
	Len() int
	// Cap is the capacity.
	Cap() int
}

var (
	_ Queue[int] = (*SPSC[int])(nil)
	_ Queue[int] = (*MPSC[int])(nil)
	_ Queue[int] = (*MPMC[int])(nil)
)

// checkCapacity validates a ring capacity: a power of two >= 2.
func checkCapacity(capacity int) error {
	if capacity < 2 || bits.OnesCount(uint(capacity)) != 1 {
		return invalidf("ring capacity %d is not a power of two >= 2", capacity)
	}
	return nil
}

// fullErr is returned by the blocking Push methods when ctx ends first.
func fullErr(ctx context.Context) error {
	return fmt.Errorf("%w: %w", ErrPoolFull, ctx.Err())
}

// ctxDone returns ctx.Done(), tolerating a nil ctx.
func ctxDone(ctx context.Context) <-chan struct{} {
	if ctx == nil {
		return nil
	}
	return ctx.Done()
}

// mulHi returns the high and low words of a*b: hi is a uniform a scaled
// onto [0, b).
func mulHi(a, b uint64) (hi, lo uint64) { return bits.Mul64(a, b) }

// pushAll implements PushBatchWait over a ring's PushBatch. When the ring
// fills up it waits for room for min(rest, capacity/2) elements rather
// than one, so that a saturated ring keeps moving large batches instead
// of degrading into single-element pushes.
func pushAll[T any](ctx context.Context, src []T, push func([]T) int, w *waiter, free func() int, capacity int) (int, error) {
	sent := 0
	for sent < len(src) {
		n := push(src[sent:])
		sent += n
		if sent == len(src) {
			break
		}
		need := min(len(src)-sent, capacity/2)
		if !w.wait(func() bool { return free() >= need }, nil, ctxDone(ctx)) {
			return sent, fullErr(ctx)
		}
	}
	return sent, nil
}

// popSome implements PopBatchWait over a ring's PopBatch.
func popSome[T any](ctx context.Context, dst []T, pop func([]T) int, w *waiter, ready func() bool) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	for {
		if n := pop(dst); n > 0 {
			return n, nil
		}
		if !w.wait(ready, nil, ctxDone(ctx)) {
			return 0, ctx.Err()
		}
	}
}
