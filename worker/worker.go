package worker

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"
)

// worker is one shared-nothing worker of a Pool: a data ring, a priority
// ring, counters, and the fields below "owned by the goroutine", which
// only the worker goroutine touches.
type worker[S, M, R any] struct {
	id       int
	p        *Pool[S, M, R]
	notEmpty *waiter // shared by data and ctl: the worker parks here
	data     *MPSC[envelope[M, R]]
	ctl      *MPSC[control[S]]
	ready    func() bool // anything for the worker to do?
	c        counters
	lat      Histogram
	circuit  atomicBool
	running  atomicBool

	// owned by the worker goroutine
	state       S
	batch       []envelope[M, R]
	pos, n      int // batch[pos:n] is still to be handled
	first       int // pos when the current process call began
	inData      bool
	inCtl       bool
	cur         control[S]
	consecutive int // failures since the last successful message
}

func newWorker[S, M, R any](p *Pool[S, M, R], id int) *worker[S, M, R] {
	w := &worker[S, M, R]{id: id, p: p, notEmpty: newWaiter()}
	w.data = newMPSC[envelope[M, R]](p.cfg.QueueSize, w.notEmpty)
	w.ctl = newMPSC[control[S]](controlQueueSize, w.notEmpty)
	w.batch = make([]envelope[M, R], p.cfg.BatchSize)
	w.ready = func() bool {
		return w.data.headReady() || w.ctl.headReady() || p.closing.Load()
	}
	return w
}

// push offers e to the data ring, waiting for room if wait is set (until
// ctx, if non-nil, is done, or the pool closes).
func (w *worker[S, M, R]) push(ctx context.Context, e envelope[M, R], wait bool) error {
	if err := w.p.accepting(); err != nil {
		return err
	}
	if w.circuit.Load() {
		w.c.dropped.Add(1)
		return ErrCircuitOpen
	}
	for {
		switch w.data.tryPush(e) {
		case pushed:
			return nil
		case closed:
			return ErrClosed
		}
		if !wait {
			return ErrPoolFull
		}
		if !w.data.notFull.wait(w.data.hasRoom, w.p.done, ctxDone(ctx)) && ctx.Err() != nil {
			return fullErr(ctx)
		}
	}
}

func (w *worker[S, M, R]) pushBatch(ctx context.Context, msgs []M) (int, error) {
	if err := w.p.accepting(); err != nil {
		return 0, err
	}
	if w.circuit.Load() {
		w.c.dropped.Add(uint64(len(msgs)))
		return 0, ErrCircuitOpen
	}
	sent := 0
	for sent < len(msgs) {
		rest := msgs[sent:]
		n, st := w.data.tryPushFunc(len(rest), func(i int) envelope[M, R] { return envelope[M, R]{msg: rest[i]} })
		sent += n
		if st == closed {
			return sent, ErrClosed
		}
		if n == 0 && !w.data.notFull.wait(w.data.hasRoom, w.p.done, ctxDone(ctx)) && ctx.Err() != nil {
			return sent, fullErr(ctx)
		}
	}
	return sent, nil
}

// exitReason tells run why serve returned.
type exitReason uint8

const (
	exitClose exitReason = iota
	exitStop
	exitPanic
)

// run is the worker goroutine. It reports the first Init on started.
func (w *worker[S, M, R]) run(started chan<- error) {
	defer w.p.wg.Done()
	if w.p.cfg.LockOSThread || w.p.cfg.PinCPUs {
		// Never unlocked: a pinned thread must die with its goroutine
		// rather than return to the runtime with a one-CPU affinity mask.
		runtime.LockOSThread()
	}
	if w.p.cfg.PinCPUs {
		if err := Pin(w.id); err != nil {
			started <- fmt.Errorf("worker %d: %w", w.id, err)
			return
		}
	}
	if err := w.init(); err != nil {
		started <- err
		return
	}
	started <- nil
	for {
		switch w.serve() {
		case exitClose:
			w.finish(false)
			return
		case exitStop:
			w.finish(true)
			return
		case exitPanic:
			if !w.restart() {
				return
			}
		}
	}
}

// init creates the state with Init, recovering a panic.
func (w *worker[S, M, R]) init() (err error) {
	defer func() {
		if v := recover(); v != nil {
			w.c.panics.Add(1)
			err = &PanicError{Worker: w.id, Value: v, Stack: debug.Stack()}
		}
	}()
	s, err := w.p.h.Init(w.id)
	if err != nil {
		return fmt.Errorf("worker %d: init: %w", w.id, err)
	}
	w.state = s
	w.running.Store(true)
	return nil
}

// finish ends a healthy worker: drop the rest on Stop, then Shutdown.
func (w *worker[S, M, R]) finish(stop bool) {
	if stop {
		w.dropAll(ErrClosed)
	}
	w.running.Store(false)
	func() {
		defer func() {
			if v := recover(); v != nil {
				w.c.panics.Add(1)
			}
		}()
		w.p.h.Shutdown(&w.state)
	}()
	var zero S
	w.state = zero
}

// restart re-creates the state after a failure with exponential backoff.
// It returns false when the worker goroutine should exit (stopped while
// backing off, or circuit open and drained).
func (w *worker[S, M, R]) restart() bool {
	w.running.Store(false)
	var zero S
	w.state = zero // never reuse a state abandoned by a panic
	cfg := &w.p.cfg
	for {
		w.consecutive++
		if w.consecutive >= cfg.MaxConsecutivePanics {
			w.openCircuit()
			return false
		}
		backoff := cfg.RestartBackoff << min(w.consecutive-1, 30)
		if backoff <= 0 || backoff > cfg.MaxRestartBackoff {
			backoff = cfg.MaxRestartBackoff
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-w.p.done: // closing: restart now to drain, or stop
		}
		t.Stop()
		if w.p.stopping.Load() {
			w.dropAll(ErrClosed)
			return false
		}
		w.c.restarts.Add(1)
		if w.init() == nil {
			return true
		}
	}
}

// serve runs the message loop until the pool closes or a handler panics.
func (w *worker[S, M, R]) serve() (reason exitReason) {
	defer func() {
		if v := recover(); v != nil {
			w.onPanic(v, debug.Stack())
			reason = exitPanic
		}
	}()
	for {
		if w.pos < w.n { // the rest of a batch interrupted by a panic
			w.process()
		}
		if w.p.stopping.Load() {
			return exitStop
		}
		for w.runControl() {
		}
		if n := w.data.PopBatch(w.batch); n > 0 {
			w.pos, w.n = 0, n
			w.c.batches.Add(1)
			w.c.batchSizes[batchBucket(n)].Add(1)
			w.process()
			continue
		}
		if w.p.closing.Load() && w.data.drained() && w.ctl.drained() {
			return exitClose
		}
		w.notEmpty.wait(w.ready, nil, nil)
	}
}

// process handles batch[pos:n], timing the whole run once.
func (w *worker[S, M, R]) process() {
	start := time.Now()
	w.first = w.pos
	w.inData = true
	for w.pos < w.n {
		e := &w.batch[w.pos]
		r, err := w.p.h.Handle(&w.state, e.msg)
		if err != nil {
			w.c.errors.Add(1)
		}
		if e.reply != nil {
			e.reply.ch <- result[R]{val: r, err: err}
		}
		*e = envelope[M, R]{}
		w.pos++
	}
	w.inData = false
	if e := w.p.ender; e != nil {
		e.EndBatch(&w.state)
	}
	k := uint64(w.pos - w.first)
	w.c.processed.Add(k)
	w.consecutive = 0
	w.lat.RecordN(time.Since(start)/time.Duration(k), k)
}

// runControl runs one queued Exec function, if any.
func (w *worker[S, M, R]) runControl() bool {
	c, ok := w.ctl.TryPop()
	if !ok {
		return false
	}
	w.cur, w.inCtl = c, true
	c.fn(&w.state)
	w.cur, w.inCtl = control[S]{}, false
	w.consecutive = 0
	c.done <- nil
	return true
}

// onPanic accounts for a panic recovered in serve and replies to the
// message or Exec that caused it.
func (w *worker[S, M, R]) onPanic(v any, stack []byte) {
	w.c.panics.Add(1)
	pe := &PanicError{Worker: w.id, Value: v, Stack: stack}
	switch {
	case w.inCtl:
		w.cur.done <- pe
		w.cur, w.inCtl = control[S]{}, false
	case w.inData:
		w.inData = false
		w.c.processed.Add(uint64(w.pos - w.first))
		e := &w.batch[w.pos]
		if e.reply != nil {
			e.reply.ch <- result[R]{err: pe}
		}
		*e = envelope[M, R]{}
		w.pos++
	}
}

// openCircuit gives up on the worker: from now on it only fails messages
// with ErrCircuitOpen until the pool closes.
func (w *worker[S, M, R]) openCircuit() {
	w.circuit.Store(true)
	w.running.Store(false)
	for {
		w.failQueued(ErrCircuitOpen)
		if w.p.closing.Load() && w.data.drained() && w.ctl.drained() {
			return
		}
		w.notEmpty.wait(w.ready, nil, nil)
	}
}

// dropAll fails everything queued with err until the (closed) rings are
// drained.
func (w *worker[S, M, R]) dropAll(err error) {
	for {
		w.failQueued(err)
		if w.data.drained() && w.ctl.drained() {
			return
		}
		runtime.Gosched() // a producer is between claiming and publishing
	}
}

// failQueued fails the rest of the current batch and whatever the rings
// hold right now.
func (w *worker[S, M, R]) failQueued(err error) {
	for {
		for ; w.pos < w.n; w.pos++ {
			e := &w.batch[w.pos]
			if e.reply != nil {
				e.reply.ch <- result[R]{err: err}
			}
			*e = envelope[M, R]{}
			w.c.dropped.Add(1)
		}
		for {
			c, ok := w.ctl.TryPop()
			if !ok {
				break
			}
			c.done <- err
		}
		n := w.data.PopBatch(w.batch)
		if n == 0 {
			return
		}
		w.pos, w.n = 0, n
	}
}

func (w *worker[S, M, R]) stats() Stats {
	s := Stats{
		Worker:      w.id,
		Enqueued:    w.data.pushedCount(),
		Processed:   w.c.processed.Load(),
		Errors:      w.c.errors.Load(),
		Dropped:     w.c.dropped.Load(),
		Panics:      w.c.panics.Load(),
		Restarts:    w.c.restarts.Load(),
		Batches:     w.c.batches.Load(),
		QueueDepth:  w.data.Len(),
		CircuitOpen: w.circuit.Load(),
		Running:     w.running.Load(),
		Latency:     w.lat.Snapshot(),
	}
	for i := range s.BatchSizes {
		s.BatchSizes[i] = w.c.batchSizes[i].Load()
	}
	return s
}
