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

// done returns ctx.Done(), tolerating a nil ctx.
func ctxDone(ctx context.Context) <-chan struct{} {
	if ctx == nil {
		return nil
	}
	return ctx.Done()
}

// mulHi returns the high and low words of a*b: hi is a uniform a scaled
// onto [0, b).
func mulHi(a, b uint64) (hi, lo uint64) { return bits.Mul64(a, b) }
