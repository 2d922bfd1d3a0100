package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Pool states.
const (
	stateNew int32 = iota
	stateRunning
	stateClosed
)

// Pool runs N workers, each owning private handler state S and consuming
// messages M from its own MPSC ring, replying R. Every method is safe for
// concurrent use.
type Pool[S, M, R any] struct {
	cfg     Config
	h       Handler[S, M, R]
	ender   BatchEnder[S] // h, if it implements BatchEnder
	part    Partitioner
	workers []*worker[S, M, R]
	replies sync.Pool // *replySlot[R]
	execs   sync.Pool // chan error

	_        pad
	state    atomic.Int32 // stateNew, stateRunning, stateClosed
	closing  atomic.Bool  // Close or Stop began: rings are closed
	stopping atomic.Bool  // Stop began: drop what is queued
	_        pad

	lifecycleMu sync.Mutex    // guards Start/Close/Stop transitions and closing done
	done        chan struct{} // closed once by Close or Stop; wakes blocked senders
	wg          sync.WaitGroup
}

// envelope is what a data ring carries: the message, and where to send
// the reply for Ask (nil for Send).
type envelope[M, R any] struct {
	msg   M
	reply *replySlot[R]
}

// replySlot carries one reply; pooled so Ask does not allocate.
type replySlot[R any] struct {
	ch chan result[R]
}

type result[R any] struct {
	val R
	err error
}

// control is what a priority ring carries: an Exec function and where to
// report that it ran.
type control[S any] struct {
	fn   func(*S)
	done chan error
}

// New validates cfg (errors wrap ErrInvalidConfig) and builds a stopped
// pool; Start launches its workers.
func New[S, M, R any](cfg Config, h Handler[S, M, R]) (*Pool[S, M, R], error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	switch hf := h.(type) {
	case nil:
		return nil, invalidf("nil handler")
	case HandlerFuncs[S, M, R]:
		if hf.HandleFunc == nil {
			return nil, invalidf("HandlerFuncs without HandleFunc")
		}
	case *HandlerFuncs[S, M, R]:
		if hf == nil || hf.HandleFunc == nil {
			return nil, invalidf("HandlerFuncs without HandleFunc")
		}
	}
	p := &Pool[S, M, R]{
		cfg:  cfg,
		h:    h,
		part: cfg.Partitioner,
		done: make(chan struct{}),
	}
	p.ender, _ = h.(BatchEnder[S])
	p.replies.New = func() any { return &replySlot[R]{ch: make(chan result[R], 1)} }
	p.execs.New = func() any { return make(chan error, 1) }
	p.workers = make([]*worker[S, M, R], cfg.Workers)
	for i := range p.workers {
		p.workers[i] = newWorker(p, i)
	}
	return p, nil
}

// Start launches one goroutine per worker (locked to its OS thread with
// Config.LockOSThread, pinned to a CPU with Config.PinCPUs) and waits
// until every worker's Init has returned. If any Init fails or pinning
// fails, Start stops the pool and returns the errors joined. A second
// call returns ErrAlreadyRunning, a call after Close or Stop ErrClosed.
func (p *Pool[S, M, R]) Start() error {
	p.lifecycleMu.Lock()
	switch p.state.Load() {
	case stateRunning:
		p.lifecycleMu.Unlock()
		return ErrAlreadyRunning
	case stateClosed:
		p.lifecycleMu.Unlock()
		return ErrClosed
	}
	started := make(chan error, len(p.workers))
	p.wg.Add(len(p.workers))
	for _, w := range p.workers {
		go w.run(started)
	}
	var errs []error
	for range p.workers {
		if err := <-started; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		p.lifecycleMu.Unlock()
		p.Stop()
		return errors.Join(errs...)
	}
	p.state.Store(stateRunning)
	p.lifecycleMu.Unlock()
	return nil
}

// Size returns the number of workers.
func (p *Pool[S, M, R]) Size() int { return len(p.workers) }

// WorkerOf returns the worker that owns key, or -1 if the partitioner
// returns an out-of-range index.
func (p *Pool[S, M, R]) WorkerOf(key string) int {
	i := p.part.Partition(key, len(p.workers))
	if uint(i) >= uint(len(p.workers)) {
		return -1
	}
	return i
}

func (p *Pool[S, M, R]) route(key string) (*worker[S, M, R], error) {
	i := p.part.Partition(key, len(p.workers))
	if uint(i) >= uint(len(p.workers)) {
		return nil, &PartitionError{Key: key, Worker: i, Workers: len(p.workers)}
	}
	return p.workers[i], nil
}

func (p *Pool[S, M, R]) worker(i int) (*worker[S, M, R], error) {
	if uint(i) >= uint(len(p.workers)) {
		return nil, fmt.Errorf("%w: %d not in [0, %d)", ErrWorkerNotFound, i, len(p.workers))
	}
	return p.workers[i], nil
}

// accepting returns nil while the pool runs, else ErrNotRunning or
// ErrClosed.
func (p *Pool[S, M, R]) accepting() error {
	switch p.state.Load() {
	case stateRunning:
		return nil
	case stateNew:
		return ErrNotRunning
	default:
		return ErrClosed
	}
}

// Send queues msg for the worker owning key, fire and forget. It waits
// while that worker's ring is full, and returns ErrClosed once Close or
// Stop began (also for a Send blocked on a full ring), ErrNotRunning
// before Start, ErrCircuitOpen if the worker's circuit is open, or a
// *PartitionError.
func (p *Pool[S, M, R]) Send(key string, msg M) error {
	w, err := p.route(key)
	if err != nil {
		return err
	}
	return w.push(context.Background(), envelope[M, R]{msg: msg}, true)
}

// TrySend is Send that returns ErrPoolFull instead of waiting.
func (p *Pool[S, M, R]) TrySend(key string, msg M) error {
	w, err := p.route(key)
	if err != nil {
		return err
	}
	return w.push(context.Background(), envelope[M, R]{msg: msg}, false)
}

// SendTo queues msg for worker i. It waits for room until ctx is done,
// then returns an error matching both ErrPoolFull and ctx.Err(). It
// returns ErrWorkerNotFound for a bad index, and otherwise fails like
// Send.
func (p *Pool[S, M, R]) SendTo(ctx context.Context, worker int, msg M) error {
	w, err := p.worker(worker)
	if err != nil {
		return err
	}
	return w.push(ctx, envelope[M, R]{msg: msg}, true)
}

// SendBatchTo queues msgs, in order, for worker i, claiming ring space
// for as many as fit with one atomic operation at a time. It waits for
// room like SendTo and returns how many messages were accepted.
func (p *Pool[S, M, R]) SendBatchTo(ctx context.Context, worker int, msgs []M) (int, error) {
	w, err := p.worker(worker)
	if err != nil {
		return 0, err
	}
	return w.pushBatch(ctx, msgs)
}

// Ask sends msg to the worker owning key and waits for Handle's reply.
// Errors: those of SendTo while queueing (a full ring past the deadline
// matches ErrPoolFull); a *PanicError if Handle panicked on msg;
// ErrClosed if Stop dropped msg; ErrCircuitOpen; the context's error if
// it ends first (a deadline also matches ErrTimeout) — msg may still be
// handled later. Ask does not start a goroutine and reuses reply slots.
func (p *Pool[S, M, R]) Ask(ctx context.Context, key string, msg M) (R, error) {
	w, err := p.route(key)
	if err != nil {
		var zero R
		return zero, err
	}
	return p.ask(ctx, w, msg)
}

// AskTo is Ask addressed to worker i.
func (p *Pool[S, M, R]) AskTo(ctx context.Context, worker int, msg M) (R, error) {
	w, err := p.worker(worker)
	if err != nil {
		var zero R
		return zero, err
	}
	return p.ask(ctx, w, msg)
}

func (p *Pool[S, M, R]) ask(ctx context.Context, w *worker[S, M, R], msg M) (R, error) {
	var zero R
	slot := p.replies.Get().(*replySlot[R])
	if err := w.push(ctx, envelope[M, R]{msg: msg, reply: slot}, true); err != nil {
		p.replies.Put(slot)
		return zero, err
	}
	select {
	case res := <-slot.ch:
		p.replies.Put(slot)
		return res.val, res.err
	case <-ctx.Done():
		// The worker still owns the slot and will write into it; leave it
		// to the garbage collector instead of reusing it.
		return zero, waitErr(ctx)
	}
}

// waitErr is the error for a context that ended while waiting for a
// reply.
func waitErr(ctx context.Context) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}

// Broadcast sends msg to every worker (waiting for room like Send) and
// returns the joined errors of the workers that did not accept it.
func (p *Pool[S, M, R]) Broadcast(msg M) error {
	if err := p.accepting(); err != nil {
		return err
	}
	var errs []error
	for _, w := range p.workers {
		if err := w.push(context.Background(), envelope[M, R]{msg: msg}, true); err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", w.id, err))
		}
	}
	return errors.Join(errs...)
}

// Exec runs fn on worker i's goroutine with its state, ahead of the data
// messages already queued (after the batch in progress), and returns once
// fn ran: nil, a *PanicError if fn panicked (the worker then restarts),
// ErrClosed if the pool closed first, ErrCircuitOpen, or the context's
// error (fn may still run later). Exec is how other goroutines read or
// change a worker's state, e.g. to snapshot it.
func (p *Pool[S, M, R]) Exec(ctx context.Context, worker int, fn func(state *S)) error {
	w, err := p.worker(worker)
	if err != nil {
		return err
	}
	if err := p.accepting(); err != nil {
		return err
	}
	if w.circuit.Load() {
		return ErrCircuitOpen
	}
	done := p.execs.Get().(chan error)
	c := control[S]{fn: fn, done: done}
	for {
		st := w.ctl.tryPush(c)
		if st == pushed {
			break
		}
		if st == closed {
			p.execs.Put(done)
			return ErrClosed
		}
		if !w.ctl.notFull.wait(w.ctl.hasRoom, p.done, ctx.Done()) && ctx.Err() != nil {
			p.execs.Put(done)
			return fullErr(ctx)
		}
	}
	select {
	case err := <-done:
		p.execs.Put(done)
		return err
	case <-ctx.Done():
		return waitErr(ctx)
	}
}

// Stats returns one snapshot per worker. Safe to call at any time.
func (p *Pool[S, M, R]) Stats() []Stats {
	out := make([]Stats, len(p.workers))
	for i, w := range p.workers {
		out[i] = w.stats()
	}
	return out
}

// Close stops the pool gracefully: it refuses new work (ErrClosed), lets
// every worker handle everything already accepted (data and Exec), calls
// each worker's Shutdown, and waits for the worker goroutines to exit.
// Close is idempotent and always returns nil; it is also valid before
// Start.
func (p *Pool[S, M, R]) Close() error {
	p.shutdown(false)
	return nil
}

// Stop stops the pool fast: it refuses new work, lets each worker finish
// the batch in hand, drops everything still queued (counted in
// Stats.Dropped; waiting Asks and Execs get ErrClosed), calls Shutdown and
// waits for the worker goroutines. Idempotent; Stop during Close turns
// the graceful close into a fast one.
func (p *Pool[S, M, R]) Stop() { p.shutdown(true) }

func (p *Pool[S, M, R]) shutdown(stop bool) {
	p.lifecycleMu.Lock()
	if stop {
		p.stopping.Store(true)
	}
	if p.state.Load() != stateClosed {
		p.state.Store(stateClosed)
		for _, w := range p.workers {
			w.data.close()
			w.ctl.close()
		}
		p.closing.Store(true)
		close(p.done)
	}
	p.lifecycleMu.Unlock()
	for _, w := range p.workers {
		w.notEmpty.signal()
	}
	p.wg.Wait()
}
