package worker

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// tstate is the test handler's per-worker state.
type tstate struct {
	worker int
	log    []int // values of "add" messages, in handling order
	sum    int
}

// tmsg drives the test handler.
type tmsg struct {
	op      string // add, get, fail, panic, block
	n       int
	started chan struct{} // block: closed when the handler starts blocking
	gate    chan struct{} // block: handler waits for it
}

// thandler is the test Handler; it counts lifecycle calls.
type thandler struct {
	inits     atomic.Int64
	shutdowns atomic.Int64
	initErr   func(worker int, call int64) error
}

func (h *thandler) Init(worker int) (tstate, error) {
	call := h.inits.Add(1)
	if h.initErr != nil {
		if err := h.initErr(worker, call); err != nil {
			return tstate{}, err
		}
	}
	return tstate{worker: worker}, nil
}

func (h *thandler) Handle(s *tstate, m tmsg) (int, error) {
	switch m.op {
	case "add":
		s.log = append(s.log, m.n)
		s.sum += m.n
		return s.sum, nil
	case "get":
		return s.sum, nil
	case "fail":
		return 0, errTest
	case "panic":
		panic(fmt.Sprintf("boom %d", m.n))
	case "block":
		close(m.started)
		<-m.gate
		return 0, nil
	}
	return 0, fmt.Errorf("unknown op %q", m.op)
}

func (h *thandler) Shutdown(*tstate) { h.shutdowns.Add(1) }

var errTest = errors.New("test error")

func newTestPool(t *testing.T, cfg Config) (*Pool[tstate, tmsg, int], *thandler) {
	t.Helper()
	h := &thandler{}
	p, err := New[tstate, tmsg, int](cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p, h
}

// block occupies worker w until the returned release is called.
func block(t *testing.T, p *Pool[tstate, tmsg, int], w int) (release func()) {
	t.Helper()
	m := tmsg{op: "block", started: make(chan struct{}), gate: make(chan struct{})}
	if err := p.SendTo(context.Background(), w, m); err != nil {
		t.Fatal(err)
	}
	<-m.started
	var once sync.Once
	return func() { once.Do(func() { close(m.gate) }) }
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestConfigValidate(t *testing.T) {
	rng3 := mustRange(t, "m")
	cases := []struct {
		name string
		cfg  Config
	}{
		{"negative workers", Config{Workers: -1}},
		{"queue not power of two", Config{QueueSize: 1000}},
		{"queue of one", Config{QueueSize: 1}},
		{"negative batch", Config{BatchSize: -1}},
		{"negative panics", Config{MaxConsecutivePanics: -1}},
		{"negative backoff", Config{RestartBackoff: -1}},
		{"max below base backoff", Config{RestartBackoff: time.Second, MaxRestartBackoff: time.Millisecond}},
		{"range size mismatch", Config{Workers: 3, Partitioner: rng3}},
		{"weighted size mismatch", Config{Workers: 3, Partitioner: mustWeighted(t, 1, 1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New[tstate, tmsg, int](c.cfg, &thandler{})
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("New = %v, want ErrInvalidConfig", err)
			}
		})
	}
	t.Run("nil handler", func(t *testing.T) {
		if _, err := New[tstate, tmsg, int](Config{}, nil); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("HandlerFuncs without HandleFunc", func(t *testing.T) {
		if _, err := New(Config{}, HandlerFuncs[int, int, int]{}); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		p, err := New[tstate, tmsg, int](Config{}, &thandler{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Size() != runtime.GOMAXPROCS(0) || p.cfg != withPart(DefaultConfig(), Hash{}) {
			t.Fatalf("defaults: size %d cfg %+v", p.Size(), p.cfg)
		}
	})
}

func withPart(c Config, p Partitioner) Config { c.Partitioner = p; return c }

func TestLifecycle(t *testing.T) {
	h := &thandler{}
	p, err := New[tstate, tmsg, int](Config{Workers: 2}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Send("k", tmsg{op: "add", n: 1}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Send before Start = %v", err)
	}
	if err := p.Exec(context.Background(), 0, func(*tstate) {}); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Exec before Start = %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Start = %v", err)
	}
	if got := h.inits.Load(); got != 2 {
		t.Fatalf("inits = %d", got)
	}
	for _, s := range p.Stats() {
		if !s.Running {
			t.Fatalf("worker %d not running", s.Worker)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p.Stop()
	if got := h.shutdowns.Load(); got != 2 {
		t.Fatalf("shutdowns = %d, want 2", got)
	}
	if err := p.Send("k", tmsg{op: "add"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v", err)
	}
	if _, err := p.Ask(context.Background(), "k", tmsg{op: "get"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ask after Close = %v", err)
	}
	if err := p.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v", err)
	}
	for _, s := range p.Stats() {
		if s.Running {
			t.Fatalf("worker %d still running", s.Worker)
		}
	}

	// Close before Start is fine too.
	p2, _ := New[tstate, tmsg, int](Config{Workers: 1}, &thandler{})
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStartInitFailure(t *testing.T) {
	h := &thandler{initErr: func(w int, _ int64) error {
		if w == 1 {
			return errTest
		}
		return nil
	}}
	p, err := New[tstate, tmsg, int](Config{Workers: 3}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); !errors.Is(err, errTest) {
		t.Fatalf("Start = %v, want errTest", err)
	}
	if err := p.Send("k", tmsg{op: "add"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after failed Start = %v", err)
	}
	if got := h.shutdowns.Load(); got != 2 {
		t.Fatalf("shutdowns = %d, want 2 (the workers whose Init succeeded)", got)
	}
}

func TestAskAndOrder(t *testing.T) {
	p, _ := newTestPool(t, Config{Workers: 3})
	ctx := context.Background()
	keys := []string{"a", "b", "c", "d", "e"}
	for i := range 500 {
		for _, k := range keys {
			if err := p.Send(k, tmsg{op: "add", n: i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Per-key order: every worker saw each key's values increasing, so
	// its log is the merge of increasing sequences; check via Exec.
	for w := range p.Size() {
		var log []int
		// Exec overtakes queued data, so first drain with an Ask.
		if _, err := p.AskTo(ctx, w, tmsg{op: "get"}); err != nil {
			t.Fatal(err)
		}
		if err := p.Exec(ctx, w, func(s *tstate) { log = slices.Clone(s.log) }); err != nil {
			t.Fatal(err)
		}
		nkeys := 0
		for _, k := range keys {
			if p.WorkerOf(k) == w {
				nkeys++
			}
		}
		if len(log) != 500*nkeys {
			t.Fatalf("worker %d handled %d messages, want %d", w, len(log), 500*nkeys)
		}
		for i, v := range log {
			if v != i/nkeys {
				t.Fatalf("worker %d: log[%d] = %d, want %d (order broken)", w, i, v, i/nkeys)
			}
		}
	}
	got, err := p.Ask(ctx, "a", tmsg{op: "add", n: 0})
	if err != nil {
		t.Fatal(err)
	}
	if got <= 0 {
		t.Fatalf("sum = %d", got)
	}
	if _, err := p.Ask(ctx, "a", tmsg{op: "fail"}); !errors.Is(err, errTest) {
		t.Fatalf("Ask fail = %v, want errTest", err)
	}
	// An Ask's reply is sent before the worker counts its batch: poll.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := p.Stats()[p.WorkerOf("a")]
		if s.Errors == 1 && s.Processed > 0 && s.Batches > 0 && s.Latency.Count == s.Processed && s.MeanBatchSize() >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAskContext(t *testing.T) {
	p, _ := newTestPool(t, Config{Workers: 1})
	release := block(t, p, 0)
	defer release()

	_, err := p.Ask(ctxTimeout(t, 20*time.Millisecond), "k", tmsg{op: "get"})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ask past deadline = %v, want ErrTimeout and DeadlineExceeded", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	_, err = p.Ask(ctx, "k", tmsg{op: "get"})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("cancelled Ask = %v, want Canceled only", err)
	}
	release()
	// The abandoned messages are still handled and the pool still works.
	if _, err := p.Ask(context.Background(), "k", tmsg{op: "get"}); err != nil {
		t.Fatal(err)
	}
}

func TestBackpressure(t *testing.T) {
	p, _ := newTestPool(t, Config{Workers: 1, QueueSize: 4, BatchSize: 4})
	release := block(t, p, 0)
	defer release()
	for i := range 4 {
		if err := p.TrySend("k", tmsg{op: "add", n: i}); err != nil {
			t.Fatalf("TrySend %d = %v", i, err)
		}
	}
	if err := p.TrySend("k", tmsg{op: "add"}); !errors.Is(err, ErrPoolFull) {
		t.Fatalf("TrySend on full = %v, want ErrPoolFull", err)
	}
	err := p.SendTo(ctxTimeout(t, 20*time.Millisecond), 0, tmsg{op: "add"})
	if !errors.Is(err, ErrPoolFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SendTo on full = %v, want ErrPoolFull and DeadlineExceeded", err)
	}
	_, err = p.AskTo(ctxTimeout(t, 20*time.Millisecond), 0, tmsg{op: "get"})
	if !errors.Is(err, ErrPoolFull) {
		t.Fatalf("AskTo on full = %v, want ErrPoolFull", err)
	}
	if d := p.Stats()[0].QueueDepth; d != 4 {
		t.Fatalf("QueueDepth = %d, want 4", d)
	}
	// A blocked Send completes once the worker drains.
	sent := make(chan error, 1)
	go func() { sent <- p.Send("k", tmsg{op: "add", n: 100}) }()
	waitParked(t, p.workers[0].data.notFull)
	release()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if got, _ := p.AskTo(context.Background(), 0, tmsg{op: "get"}); got != 0+1+2+3+100 {
		t.Fatalf("sum = %d", got)
	}
}

func TestSendBatchTo(t *testing.T) {
	p, _ := newTestPool(t, Config{Workers: 2, QueueSize: 8})
	msgs := make([]tmsg, 100)
	want := 0
	for i := range msgs {
		msgs[i] = tmsg{op: "add", n: i}
		want += i
	}
	n, err := p.SendBatchTo(context.Background(), 1, msgs)
	if err != nil || n != len(msgs) {
		t.Fatalf("SendBatchTo = %d, %v", n, err)
	}
	if got, _ := p.AskTo(context.Background(), 1, tmsg{op: "get"}); got != want {
		t.Fatalf("sum = %d, want %d", got, want)
	}
}

func TestAddressingErrors(t *testing.T) {
	bad := PartitionerFunc(func(key string, n int) int { return n })
	h := &thandler{}
	p, err := New[tstate, tmsg, int](Config{Workers: 2, Partitioner: bad}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	ctx := context.Background()
	var pe *PartitionError
	if err := p.Send("k", tmsg{}); !errors.Is(err, ErrPartition) || !errors.As(err, &pe) || pe.Worker != 2 || pe.Key != "k" {
		t.Fatalf("Send with bad partitioner = %v", err)
	}
	if _, err := p.Ask(ctx, "k", tmsg{}); !errors.Is(err, ErrPartition) {
		t.Fatalf("Ask = %v", err)
	}
	if w := p.WorkerOf("k"); w != -1 {
		t.Fatalf("WorkerOf = %d, want -1", w)
	}
	for _, i := range []int{-1, 2} {
		if err := p.SendTo(ctx, i, tmsg{}); !errors.Is(err, ErrWorkerNotFound) {
			t.Fatalf("SendTo(%d) = %v", i, err)
		}
		if _, err := p.AskTo(ctx, i, tmsg{}); !errors.Is(err, ErrWorkerNotFound) {
			t.Fatalf("AskTo(%d) = %v", i, err)
		}
		if err := p.Exec(ctx, i, func(*tstate) {}); !errors.Is(err, ErrWorkerNotFound) {
			t.Fatalf("Exec(%d) = %v", i, err)
		}
	}
}

func TestExecOvertakesData(t *testing.T) {
	p, _ := newTestPool(t, Config{Workers: 1})
	release := block(t, p, 0)
	for i := range 10 {
		if err := p.SendTo(context.Background(), 0, tmsg{op: "add", n: i}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []int
	done := make(chan error)
	go func() {
		done <- p.Exec(context.Background(), 0, func(s *tstate) { seen = slices.Clone(s.log) })
	}()
	eventually(t, 5*time.Second, func() bool { return p.workers[0].ctl.Len() == 1 })
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(seen) != 0 {
		t.Fatalf("Exec ran after %d queued data messages, want before all", len(seen))
	}
	if got, _ := p.AskTo(context.Background(), 0, tmsg{op: "get"}); got != 45 {
		t.Fatalf("sum = %d", got)
	}
	// A panicking Exec reports it.
	err := p.Exec(context.Background(), 0, func(*tstate) { panic("exec boom") })
	var perr *PanicError
	if !errors.As(err, &perr) || perr.Value != "exec boom" {
		t.Fatalf("Exec panic = %v", err)
	}
}

func TestBroadcast(t *testing.T) {
	p, _ := newTestPool(t, Config{Workers: 3})
	if err := p.Broadcast(tmsg{op: "add", n: 7}); err != nil {
		t.Fatal(err)
	}
	for w := range 3 {
		if got, _ := p.AskTo(context.Background(), w, tmsg{op: "get"}); got != 7 {
			t.Fatalf("worker %d sum = %d", w, got)
		}
	}
}

func TestPanicRestart(t *testing.T) {
	p, h := newTestPool(t, Config{Workers: 2, RestartBackoff: time.Millisecond, MaxRestartBackoff: 5 * time.Millisecond})
	ctx := context.Background()
	other := 1
	if err := p.SendTo(ctx, other, tmsg{op: "add", n: 5}); err != nil {
		t.Fatal(err)
	}
	// Queue a panic followed by more messages while worker 0 is busy, so
	// they share a batch and a ring: they must survive the restart.
	release := block(t, p, 0)
	type askRes struct {
		v   int
		err error
	}
	panicked := make(chan askRes, 1)
	go func() {
		v, err := p.AskTo(ctx, 0, tmsg{op: "panic", n: 1})
		panicked <- askRes{v, err}
	}()
	eventually(t, 5*time.Second, func() bool { return p.workers[0].data.Len() == 1 })
	for i := 1; i <= 10; i++ {
		if err := p.SendTo(ctx, 0, tmsg{op: "add", n: i}); err != nil {
			t.Fatal(err)
		}
	}
	release()
	r := <-panicked
	var pe *PanicError
	if !errors.Is(r.err, ErrPanicked) || !errors.As(r.err, &pe) || pe.Worker != 0 || pe.Value != "boom 1" || len(pe.Stack) == 0 {
		t.Fatalf("Ask of panicking message = %v", r.err)
	}
	if got, err := p.AskTo(ctx, 0, tmsg{op: "get"}); err != nil || got != 55 {
		t.Fatalf("after restart sum = %d, %v; want 55 (queued messages survive, fresh state)", got, err)
	}
	if got, _ := p.AskTo(ctx, other, tmsg{op: "get"}); got != 5 {
		t.Fatalf("other worker's state = %d, want 5", got)
	}
	s := p.Stats()
	if s[0].Panics != 1 || s[0].Restarts != 1 || !s[0].Running || s[0].CircuitOpen || s[1].Panics != 0 {
		t.Fatalf("stats = %+v", s)
	}
	if h.inits.Load() != 3 {
		t.Fatalf("inits = %d, want 3", h.inits.Load())
	}
}

func TestCircuitOpens(t *testing.T) {
	p, _ := newTestPool(t, Config{Workers: 2, MaxConsecutivePanics: 3, RestartBackoff: time.Millisecond, MaxRestartBackoff: 2 * time.Millisecond})
	ctx := context.Background()
	for i := range 3 {
		if _, err := p.AskTo(ctx, 0, tmsg{op: "panic", n: i}); !errors.Is(err, ErrPanicked) {
			t.Fatalf("panic %d: %v", i, err)
		}
	}
	eventually(t, 5*time.Second, func() bool { return p.Stats()[0].CircuitOpen })
	if _, err := p.AskTo(ctx, 0, tmsg{op: "get"}); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Ask to open circuit = %v", err)
	}
	if err := p.SendTo(ctx, 0, tmsg{op: "add"}); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Send to open circuit = %v", err)
	}
	if err := p.Exec(ctx, 0, func(*tstate) {}); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Exec on open circuit = %v", err)
	}
	if _, err := p.AskTo(ctx, 1, tmsg{op: "get"}); err != nil {
		t.Fatalf("other worker: %v", err)
	}
	s := p.Stats()[0]
	if s.Running || s.Panics != 3 || s.Restarts != 2 || s.Dropped != 2 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestCircuitFailsQueued(t *testing.T) {
	p, _ := newTestPool(t, Config{Workers: 1, MaxConsecutivePanics: 1})
	release := block(t, p, 0)
	ctx := context.Background()
	if err := p.SendTo(ctx, 0, tmsg{op: "panic"}); err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { _, err := p.AskTo(ctx, 0, tmsg{op: "get"}); res <- err }()
	eventually(t, 5*time.Second, func() bool { return p.workers[0].data.Len() == 2 })
	release()
	if err := <-res; !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("queued Ask = %v, want ErrCircuitOpen", err)
	}
}

func TestCloseDrains(t *testing.T) {
	p, h := newTestPool(t, Config{Workers: 2, QueueSize: 64})
	const n = 5000
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range n {
				if err := p.Send(fmt.Sprint(g, i%17), tmsg{op: "add", n: 1}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	var processed uint64
	for _, s := range p.Stats() {
		processed += s.Processed
		if s.Dropped != 0 || s.Enqueued != s.Processed {
			t.Fatalf("stats = %+v", s)
		}
	}
	if processed != 4*n {
		t.Fatalf("processed %d, want %d", processed, 4*n)
	}
	if h.shutdowns.Load() != 2 {
		t.Fatalf("shutdowns = %d", h.shutdowns.Load())
	}
}

func TestStopDrops(t *testing.T) {
	p, h := newTestPool(t, Config{Workers: 1})
	release := block(t, p, 0)
	ctx := context.Background()
	for range 10 {
		if err := p.SendTo(ctx, 0, tmsg{op: "add", n: 1}); err != nil {
			t.Fatal(err)
		}
	}
	asked := make(chan error, 1)
	go func() { _, err := p.AskTo(ctx, 0, tmsg{op: "get"}); asked <- err }()
	execd := make(chan error, 1)
	eventually(t, 5*time.Second, func() bool { return p.workers[0].data.Len() == 11 })
	go func() { execd <- p.Exec(ctx, 0, func(*tstate) {}) }()
	eventually(t, 5*time.Second, func() bool { return p.workers[0].ctl.Len() == 1 })
	stopped := make(chan struct{})
	go func() { p.Stop(); close(stopped) }()
	eventually(t, 5*time.Second, func() bool { return p.stopping.Load() })
	release()
	<-stopped
	if err := <-asked; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending Ask after Stop = %v", err)
	}
	if err := <-execd; !errors.Is(err, ErrClosed) {
		t.Fatalf("pending Exec after Stop = %v", err)
	}
	s := p.Stats()[0]
	if s.Dropped != 11 || s.Processed != 1 {
		t.Fatalf("stats = %+v", s)
	}
	if h.shutdowns.Load() != 1 {
		t.Fatalf("shutdowns = %d", h.shutdowns.Load())
	}
}

func TestCloseWakesBlockedSender(t *testing.T) {
	p, _ := newTestPool(t, Config{Workers: 1, QueueSize: 2, BatchSize: 1})
	release := block(t, p, 0)
	for range 2 {
		if err := p.TrySend("k", tmsg{op: "add"}); err != nil {
			t.Fatal(err)
		}
	}
	sent := make(chan error, 1)
	go func() { sent <- p.Send("k", tmsg{op: "add"}) }()
	waitParked(t, p.workers[0].data.notFull)
	closed := make(chan struct{})
	go func() { _ = p.Close(); close(closed) }()
	if err := <-sent; !errors.Is(err, ErrClosed) {
		t.Fatalf("blocked Send during Close = %v", err)
	}
	release()
	<-closed
	if s := p.Stats()[0]; s.Processed != 3 {
		t.Fatalf("processed %d, want 3 (block + 2 accepted)", s.Processed)
	}
}

func TestPinCPUs(t *testing.T) {
	h := &thandler{}
	p, err := New[tstate, tmsg, int](Config{Workers: 2, PinCPUs: true}, h)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Start()
	defer p.Stop()
	if runtime.GOOS != "linux" {
		if !errors.Is(err, ErrPinningUnsupported) {
			t.Fatalf("Start with PinCPUs = %v, want ErrPinningUnsupported", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.AskTo(context.Background(), 1, tmsg{op: "get"}); err != nil {
		t.Fatal(err)
	}
}

func TestHandlerFuncs(t *testing.T) {
	var shut atomic.Int32
	p, err := New(Config{Workers: 1}, HandlerFuncs[int, int, int]{
		HandleFunc:   func(s *int, m int) (int, error) { *s += m; return *s, nil },
		ShutdownFunc: func(*int) { shut.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	_ = p.Send("x", 2)
	if got, err := p.Ask(context.Background(), "x", 3); got != 5 || err != nil {
		t.Fatalf("Ask = %d, %v", got, err)
	}
	_ = p.Close()
	if shut.Load() != 1 {
		t.Fatal("ShutdownFunc not called")
	}
}

func TestLockOSThread(t *testing.T) {
	p, _ := newTestPool(t, Config{Workers: 2, LockOSThread: true})
	for w := range 2 {
		if _, err := p.AskTo(context.Background(), w, tmsg{op: "get"}); err != nil {
			t.Fatal(err)
		}
	}
	_ = p.Close()
}
