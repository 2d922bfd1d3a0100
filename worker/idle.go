package worker

import (
	"runtime"
	"sync/atomic"
)

// cacheLine is the padding unit that keeps independently written fields
// apart. 128 bytes rather than 64 because x86 adjacent-line prefetching
// pulls lines in pairs (the same choice as crossbeam and folly).
const cacheLine = 128

// pad fills the rest of a cache line after one 8-byte field.
type pad [cacheLine - 8]byte

// Idle strategy: a waiter first re-checks its condition spinTries times
// (cheap, catches the producer that is a few nanoseconds behind), then
// yields the processor yieldTries times (lets the producer run on a busy
// machine), then parks. DESIGN.md: spinning queues lose badly on a busy
// 2-core box, so both phases are short.
const (
	spinTries  = 32
	yieldTries = 3
)

// waiter is a wake-up point in the style of nats' ipqueue: a channel of
// capacity 1 that wakers send to without blocking, plus a count of parked
// goroutines so that wakers pay only an atomic load when nobody sleeps.
//
// The lost-wakeup race is closed by ordering: a parker increments parked
// and then re-checks its condition; a waker publishes its change and then
// loads parked. Go atomics are sequentially consistent, so at least one
// of the two sees the other. A token may be left behind in the channel
// (the parker found its condition true without consuming it); the next
// park then returns early and re-checks, which is harmless.
//
// Several goroutines may wait on one waiter (producers of a full MPSC or
// consumers of an MPMC ring): a goroutine that wakes with its condition
// satisfied passes the token on while others are still parked.
type waiter struct {
	parked atomic.Int32
	_      [cacheLine - 4]byte
	ch     chan struct{}
}

func newWaiter() *waiter { return &waiter{ch: make(chan struct{}, 1)} }

// wake wakes a parked goroutine if there is one. Cost when nobody is
// parked: one atomic load.
func (w *waiter) wake() {
	if w.parked.Load() != 0 {
		w.signal()
	}
}

// signal leaves a token unconditionally.
func (w *waiter) signal() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// wait returns true as soon as ready reports true, or false once done or
// ctxDone is closed (either may be nil). It spins, yields, then parks.
func (w *waiter) wait(ready func() bool, done, ctxDone <-chan struct{}) bool {
	for range spinTries {
		if ready() {
			return true
		}
	}
	for range yieldTries {
		runtime.Gosched()
		if ready() {
			return true
		}
	}
	return w.park(ready, done, ctxDone)
}

// park blocks without spinning; see wait.
func (w *waiter) park(ready func() bool, done, ctxDone <-chan struct{}) bool {
	for {
		w.parked.Add(1)
		if ready() {
			w.parked.Add(-1)
			return true
		}
		select {
		case <-w.ch:
			left := w.parked.Add(-1)
			if ready() {
				if left > 0 {
					w.signal() // pass the baton to the next parked goroutine
				}
				return true
			}
		case <-done:
			w.parked.Add(-1)
			return false
		case <-ctxDone:
			w.parked.Add(-1)
			return false
		}
	}
}
