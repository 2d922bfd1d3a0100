package worker

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by this package. Compare with errors.Is; errors
// carrying data (*PanicError, *PartitionError) are matched with errors.As.
var (
	// ErrNotRunning is returned by sends, asks and Exec on a pool that has
	// not been started yet.
	ErrNotRunning = errors.New("worker: pool not running")
	// ErrAlreadyRunning is returned by a second call to Pool.Start.
	ErrAlreadyRunning = errors.New("worker: pool already running")
	// ErrPanicked is matched (errors.Is) by every *PanicError: a handler,
	// Init or Exec function panicked while processing the request.
	ErrPanicked = errors.New("worker: handler panicked")
	// ErrClosed is returned for work offered after Close or Stop, and for
	// requests dropped by Stop.
	ErrClosed = errors.New("worker: pool closed")
	// ErrTimeout is matched, together with context.DeadlineExceeded, by the
	// error Ask, AskTo and Exec return when the context's deadline passes
	// while waiting for the reply. A cancelled context yields an error that
	// matches context.Canceled only. Waiting for room in a full ring until
	// the context is done yields ErrPoolFull instead (see SendTo).
	ErrTimeout = errors.New("worker: timed out waiting for reply")
	// ErrInvalidConfig is wrapped, with the detail, by New and by the ring
	// constructors when a setting is out of range.
	ErrInvalidConfig = errors.New("worker: invalid config")
	// ErrPoolFull is returned by TrySend when the target ring is full, and
	// wrapped together with ctx.Err() by SendTo, AskTo, Ask and Exec when
	// the context ends before room frees up.
	ErrPoolFull = errors.New("worker: queue full")
	// ErrWorkerNotFound is returned for a worker index outside [0, Size()).
	ErrWorkerNotFound = errors.New("worker: no such worker")
	// ErrPartition is matched by *PartitionError: the Partitioner returned
	// an index outside [0, n).
	ErrPartition = errors.New("worker: partitioner returned an out-of-range worker")
	// ErrCircuitOpen is returned for messages to a worker whose circuit
	// opened after Config.MaxConsecutivePanics panics in a row. The worker
	// is not restarted again; its queued and new messages fail with this
	// error and are counted in Stats.Dropped.
	ErrCircuitOpen = errors.New("worker: circuit open")
	// ErrPinningUnsupported is returned by Pin, and wrapped by Pool.Start
	// with Config.PinCPUs set, on platforms other than Linux.
	ErrPinningUnsupported = errors.New("worker: CPU pinning unsupported on this platform")
)

// PanicError reports a panic recovered on a worker goroutine. It matches
// ErrPanicked with errors.Is, and if the panic value is itself an error,
// errors.Is/As also see through to it.
type PanicError struct {
	// Worker is the index of the worker that panicked.
	Worker int
	// Value is the value passed to panic.
	Value any
	// Stack is the goroutine stack at the time of the panic.
	Stack []byte
}

// Error implements error.
func (e *PanicError) Error() string {
	return fmt.Sprintf("worker: worker %d panicked: %v", e.Worker, e.Value)
}

// Is reports whether target is ErrPanicked.
func (e *PanicError) Is(target error) bool { return target == ErrPanicked }

// Unwrap returns the panic value if it is an error, else nil.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// PartitionError reports a Partitioner that returned an index outside
// [0, Workers). It matches ErrPartition with errors.Is.
type PartitionError struct {
	// Key is the key that was partitioned.
	Key string
	// Worker is the out-of-range index the partitioner returned.
	Worker int
	// Workers is the number of workers it was asked to choose from.
	Workers int
}

// Error implements error.
func (e *PartitionError) Error() string {
	return fmt.Sprintf("worker: partitioner mapped key %q to worker %d, want [0, %d)", e.Key, e.Worker, e.Workers)
}

// Is reports whether target is ErrPartition.
func (e *PartitionError) Is(target error) bool { return target == ErrPartition }

// invalidf returns an error wrapping ErrInvalidConfig with a detail.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}
