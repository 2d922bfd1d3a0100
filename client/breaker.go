package client

import (
	"sync"
	"sync/atomic"
	"time"
)

// BreakerState is the state of a node's circuit breaker.
type BreakerState int

// Breaker states.
const (
	// BreakerClosed lets every call through.
	BreakerClosed BreakerState = iota
	// BreakerOpen sends calls elsewhere (or fails them with ErrBreakerOpen)
	// until its open period is over.
	BreakerOpen
	// BreakerHalfOpen has let one probe through and sends other calls
	// elsewhere until the probe succeeds (closed) or fails (open again).
	BreakerHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// breaker is a consecutive-failure circuit breaker: threshold transport
// failures in a row open it; after openFor one probe goes through
// (half-open); the probe's success closes it, its failure opens it again. A
// probe that never reports back is replaced after another openFor.
//
// It has no clock: callers pass the time. It is safe for concurrent use; the
// closed path (allow, success) is lock-free.
type breaker struct {
	threshold int
	openFor   time.Duration

	tripped  atomic.Bool  // state != BreakerClosed; the lock-free fast path
	failures atomic.Int32 // consecutive failures while closed

	mu    sync.Mutex // guards state and until, and transitions of tripped
	state BreakerState
	until time.Time // open: when a probe may go; half-open: when a lost probe is replaced
}

func newBreaker(threshold int, openFor time.Duration) *breaker {
	return &breaker{threshold: threshold, openFor: openFor}
}

// allow reports whether a call may go out now. now is called only when the
// breaker is not closed.
func (b *breaker) allow(now func() time.Time) bool {
	if !b.tripped.Load() {
		return true
	}
	t := now()
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.state == BreakerClosed:
		return true
	case t.Before(b.until):
		return false
	}
	b.state = BreakerHalfOpen
	b.until = t.Add(b.openFor)
	return true
}

// blocked reports, without side effects, whether allow would refuse at t.
func (b *breaker) blocked(t time.Time) bool {
	if !b.tripped.Load() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state != BreakerClosed && t.Before(b.until)
}

// success records a successful exchange and closes the breaker. It reports
// whether the state changed.
func (b *breaker) success() (changed bool) {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if !b.tripped.Load() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	changed = b.state != BreakerClosed
	b.state = BreakerClosed
	b.tripped.Store(false)
	return changed
}

// failure records a transport failure at t. It reports whether the breaker
// opened because of it.
func (b *breaker) failure(t time.Time) (opened bool) {
	if !b.tripped.Load() && int(b.failures.Add(1)) < b.threshold {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		return false // late failures of calls sent before it opened
	case BreakerClosed:
		if int(b.failures.Load()) < b.threshold {
			return false // a success reset the count meanwhile
		}
	}
	b.failures.Store(0)
	b.state = BreakerOpen
	b.until = t.Add(b.openFor)
	b.tripped.Store(true)
	return true
}

// State returns the breaker's state.
func (b *breaker) State() BreakerState {
	if !b.tripped.Load() {
		return BreakerClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}
