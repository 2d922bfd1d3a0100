package worker

import (
	"math/bits"
	"sync/atomic"
)

// BatchBuckets is the number of batch-size buckets in Stats.BatchSizes:
// bucket i counts batches of [2^i, 2^(i+1)) messages, the last one
// everything larger.
const BatchBuckets = 8

// Stats is a snapshot of one worker's counters, taken while it runs.
type Stats struct {
	// Worker is the worker's index.
	Worker int
	// Enqueued counts data messages accepted into the worker's ring.
	Enqueued uint64
	// Processed counts data messages whose Handle returned (with or
	// without an error).
	Processed uint64
	// Errors counts Handle calls that returned a non-nil error.
	Errors uint64
	// Dropped counts data messages never handled: discarded by Stop, or
	// refused or discarded because the circuit is open.
	Dropped uint64
	// Panics counts recovered panics in Init, Handle and Exec functions.
	Panics uint64
	// Restarts counts re-initialisations after a panic or Init failure.
	Restarts uint64
	// Batches counts drained data batches.
	Batches uint64
	// QueueDepth is the number of data messages waiting in the ring.
	QueueDepth int
	// CircuitOpen reports that the worker gave up restarting.
	CircuitOpen bool
	// Running reports that the worker has live state and serves messages
	// (false before Start, during restart backoff, with the circuit open
	// and after it stopped).
	Running bool
	// Latency summarises handler time per message. It is measured once
	// per batch and spread evenly over the batch's messages.
	Latency LatencySnapshot
	// BatchSizes is a histogram of batch sizes; see BatchBuckets.
	BatchSizes [BatchBuckets]uint64
}

// MeanBatchSize returns the mean number of messages per batch.
func (s Stats) MeanBatchSize() float64 {
	if s.Batches == 0 {
		return 0
	}
	return float64(s.Processed) / float64(s.Batches)
}

// counters are one worker's statistics. The block written by the worker
// alone sits on its own cache lines; dropped, also written by senders
// refused by an open circuit, sits apart.
type counters struct {
	_          pad
	processed  atomic.Uint64
	errors     atomic.Uint64
	panics     atomic.Uint64
	restarts   atomic.Uint64
	batches    atomic.Uint64
	batchSizes [BatchBuckets]atomic.Uint64
	_          pad
	dropped    atomic.Uint64
	_          pad
}

// batchBucket returns the BatchSizes index for a batch of n >= 1.
func batchBucket(n int) int {
	return min(bits.Len(uint(n))-1, BatchBuckets-1)
}

// atomicBool is atomic.Bool; named so worker fields read uniformly.
type atomicBool = atomic.Bool
