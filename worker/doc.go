// Package worker is ns's local shared-nothing runtime: lock-free rings,
// workers that own their state, pools that route keyed messages to them,
// partitioners, supervision and per-worker statistics. It has no network,
// no logger and no timers of its own beyond restart backoff.
//
// # Rings
//
// SPSC, MPSC and MPMC are bounded rings with a power-of-two capacity whose
// indices sit on separate cache lines. All offer non-blocking TryPush and
// TryPop, batch PushBatch and PopBatch (one atomic publication per batch
// where the design allows), and blocking Push, Pop, PushBatchWait and
// PopBatchWait that honour a context.
//
//   - SPSC: one producer, one consumer; each side caches the other's
//     index and touches the shared line only when its view runs out.
//   - MPSC: producers claim positions (or a whole batch) with one CAS and
//     publish a batch with one store in its first slot; the single
//     consumer copies runs out and frees space with one store per batch.
//     Pool workers consume MPSC rings.
//   - MPMC: Dmitry Vyukov's design, a sequence number per slot; batches
//     claim a range with one CAS but still publish and release per slot.
//
// # Idle strategy
//
// A goroutine that must wait (an empty ring for a consumer, a full one for
// a producer) re-checks a few dozen times, yields a few times with
// runtime.Gosched, then parks on a channel of capacity 1 (the nats ipqueue
// pattern). Wakers send without blocking, and only when an atomic count
// says somebody is parked, so a busy ring pays one atomic load per
// operation for wake-ups. The parker publishes that it is parked before
// re-checking the ring, and the waker publishes its element before
// checking for parkers, so a wake-up cannot be lost. Parked workers use no
// CPU (TestIdleWorkersUseNoCPU).
//
// # Workers and pools
//
// A Pool runs Config.Workers workers, one goroutine each (optionally
// locked to an OS thread and pinned to a CPU, Linux only). A worker calls
// Handler.Init to create its private state S, then loops: run queued Exec
// functions (the priority lane), drain up to Config.BatchSize messages from
// its MPSC ring and call Handler.Handle for each with exclusive access to
// S, park when there is nothing to do. S never leaves the worker
// goroutine; other goroutines reach it only through messages and Exec.
//
// Messages are routed by key with a Partitioner (Hash by default;
// Consistent, Range, RoundRobin, Weighted or any PartitionerFunc), or
// addressed to a worker by index. Each key's messages from one sender are
// handled in order. Send and SendBatchTo are fire and forget, TrySend
// never waits, Ask and AskTo wait for the reply through a pooled reply
// slot without starting goroutines. A full ring is backpressure: Send
// waits, TrySend returns ErrPoolFull, the context variants give up with an
// error matching ErrPoolFull and the context's error. Nothing is dropped
// silently.
//
// # Faults
//
// A panic in Handle, Exec or Init is recovered. The request that caused
// it fails with a *PanicError (errors.Is(err, ErrPanicked)); the worker
// abandons its state without calling Shutdown and, after a backoff that
// doubles from Config.RestartBackoff up to Config.MaxRestartBackoff,
// creates a new one with Init. Messages still queued in its ring (and the
// rest of the interrupted batch) survive and are handled by the new state;
// other workers never notice. After Config.MaxConsecutivePanics failures
// with no successful message in between, the worker's circuit opens: it
// is not restarted again, and its queued and new messages fail with
// ErrCircuitOpen and count as dropped (Stats.CircuitOpen).
//
// # Close and Stop
//
// Close is graceful: new work is refused with ErrClosed, every message and
// Exec already accepted is handled, then each worker calls Shutdown and
// exits. Stop is fast: each worker finishes the batch in hand, fails
// everything still queued with ErrClosed (counted in Stats.Dropped),
// calls Shutdown and exits. Both are idempotent and wait for the worker
// goroutines. Acceptance is decided by the ring itself (its tail carries a
// closed bit), so no message can slip in after a worker's final drain.
//
// # Statistics
//
// Stats returns per-worker counters kept on padded cache lines and
// written by the worker itself (once per batch), queue depth, and handler
// latency quantiles from a log-linear Histogram. Latency is measured once
// per batch and spread over its messages, which costs two clock reads per
// batch (BenchmarkLatencyPerBatch).
package worker
