package worker

// Handler is the user code a Pool runs. Each worker calls its Handler
// only from the worker's own goroutine, one call at a time, so a Handler
// needs no locks for the state S it creates: the runtime never hands S to
// another goroutine (Exec functions also run on the owning worker).
// Handler implementations shared by all workers must not keep mutable
// state outside S.
type Handler[S, M, R any] interface {
	// Init creates the worker's private state; called on the worker
	// goroutine at start and after each restart.
	Init(worker int) (S, error)
	// Handle processes one message with exclusive access to the state.
	Handle(state *S, msg M) (R, error)
	// Shutdown is called once on the worker goroutine when the worker
	// stops (Close or Stop). It is not called for a state abandoned after
	// a panic, nor when the circuit is open (there is no state then).
	Shutdown(state *S)
}

// BatchEnder is an optional interface of a Handler. A worker drains its
// ring in batches; after Handle has run for every message of a batch, the
// worker calls EndBatch, on its goroutine, with the same state. It lets a
// handler amortise work over the batch: a group commit (one fsync of a
// write-ahead log for every message of the batch), one flush of buffered
// output. Exec functions never run between a batch's Handle calls and its
// EndBatch.
type BatchEnder[S any] interface {
	EndBatch(state *S)
}

// HandlerFuncs adapts functions to Handler. HandleFunc is required; a nil
// InitFunc yields the zero S, a nil ShutdownFunc does nothing.
type HandlerFuncs[S, M, R any] struct {
	InitFunc     func(worker int) (S, error)
	HandleFunc   func(state *S, msg M) (R, error)
	ShutdownFunc func(state *S)
}

var _ Handler[int, int, int] = HandlerFuncs[int, int, int]{}

// Init calls InitFunc, or returns the zero S if it is nil.
func (h HandlerFuncs[S, M, R]) Init(worker int) (S, error) {
	if h.InitFunc == nil {
		var zero S
		return zero, nil
	}
	return h.InitFunc(worker)
}

// Handle calls HandleFunc.
func (h HandlerFuncs[S, M, R]) Handle(state *S, msg M) (R, error) { return h.HandleFunc(state, msg) }

// Shutdown calls ShutdownFunc if it is set.
func (h HandlerFuncs[S, M, R]) Shutdown(state *S) {
	if h.ShutdownFunc != nil {
		h.ShutdownFunc(state)
	}
}
