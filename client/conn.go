package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/wire"
)

// call is one item on its way to a node. The caller (exec) owns it until it
// is enqueued; from then on the node's goroutines own it until they send it
// on done, exactly once per enqueue.
type call struct {
	service   string
	key       []byte
	payload   []byte
	requestID uint64
	ctx       context.Context // the caller's; an expired call is not sent

	// Set by the node's goroutines before done.
	res  *nsv1.Result // the node's answer; nil when err is set
	err  error        // a failure before an answer (broken stream, closed)
	node *nodeConn    // where it was sent

	done chan *call // has room for every call that shares it

	// Owned by exec.
	inFlight bool // sent this round and not yet judged
	attempts int
	avoid    *nodeConn // a node that failed this call: route elsewhere
	reply    []byte
	final    error
}

// size is the item's contribution to a frame's size, roughly.
func (c *call) size() int { return len(c.key) + len(c.payload) + len(c.service) + 16 }

// complete hands c back to the caller.
func (c *call) complete(n *nodeConn, res *nsv1.Result, err error) {
	c.node, c.res, c.err = n, res, err
	c.done <- c
}

// frame is one StreamRequest in flight with the calls it carries. Its
// items are its own (copies of the calls' fields), so a completed call may
// be reused while Send still holds the message. Once sent a frame has two
// owners, the batcher (until Send returns: gRPC stats handlers may still
// look at the message) and whoever completes its calls; the last to unref
// recycles it.
type frame struct {
	calls []*call
	items []*nsv1.Item // len(calls) in use; spare ones kept for reuse
	req   nsv1.StreamRequest
	refs  atomic.Int32
}

// add appends cl and its item.
func (f *frame) add(cl *call) {
	i := len(f.calls)
	f.calls = append(f.calls, cl)
	if i == len(f.items) {
		f.items = append(f.items, new(nsv1.Item))
	}
	it := f.items[i]
	it.Service, it.Key, it.Payload, it.RequestId = cl.service, cl.key, cl.payload, cl.requestID
	// The caller's deadline travels with the item: no node applies it
	// after the caller gave up.
	it.DeadlineUnixNano = 0
	if d, ok := cl.ctx.Deadline(); ok {
		it.DeadlineUnixNano = d.UnixNano()
	}
}

func (f *frame) unref() {
	if f.refs.Add(-1) == 0 {
		f.release()
	}
}

var framePool = sync.Pool{New: func() any { return new(frame) }}

func (f *frame) release() {
	for _, it := range f.items[:len(f.calls)] {
		it.Key, it.Payload = nil, nil
	}
	clear(f.calls)
	f.calls = f.calls[:0]
	f.req.Items = nil
	framePool.Put(f)
}

// nodeConn is the client's link to one node (by gRPC address): a
// connection, a circuit breaker, a queue of calls and the batcher goroutine
// that drains the queue into frames on the node's Stream. The node's
// receiver goroutine (one per stream) completes calls as answers arrive.
type nodeConn struct {
	c       *Client
	addr    string
	cc      *grpc.ClientConn
	queue   chan *call
	breaker *breaker

	frames   atomic.Uint64
	items    atomic.Uint64
	failures atomic.Uint64
	stalls   atomic.Uint64 // streams closed after an unanswered probe
}

func newNodeConn(c *Client, addr string) (*nodeConn, error) {
	target := addr
	if !strings.Contains(target, "://") {
		target = "passthrough:///" + addr
	}
	cc, err := grpc.NewClient(target, c.dialOptions...)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	n := &nodeConn{
		c:       c,
		addr:    addr,
		cc:      cc,
		queue:   make(chan *call, c.cfg.MaxBatch*2),
		breaker: newBreaker(c.cfg.BreakerFailures, c.cfg.BreakerOpenFor),
	}
	c.wg.Add(1)
	go n.run()
	return n, nil
}

// enqueue queues cl for the node. It fails only when ctx ends or the client
// closes; cl is then not queued.
func (n *nodeConn) enqueue(ctx context.Context, cl *call) error {
	select {
	case n.queue <- cl:
		return nil
	default:
	}
	select {
	case n.queue <- cl:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.c.ctx.Done():
		return ErrClosed
	}
}

// stream is one NodeService.Stream to the node with its frames in flight.
type stream struct {
	s      nsv1.NodeService_StreamClient
	cancel context.CancelFunc
	slots  chan struct{} // one token per frame in flight
	broken chan struct{} // closed when the receiver has failed every frame

	mu      sync.Mutex        // guards pending, nextID and quiet
	pending map[uint64]*frame // frames sent and not yet answered; nil once broken
	nextID  uint64
	quiet   time.Time // since when pending frames have had no answer
}

// answered is take for an answer from the node: under the same lock it
// notes that the stream is not silent (stream.quiet, for watch).
func (s *stream) answered(id uint64) *frame {
	s.mu.Lock()
	s.quiet = time.Now()
	f := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	return f
}

// take removes and returns the frame with the given id, nil when it is not
// pending (answered, failed, or never sent).
func (s *stream) take(id uint64) *frame {
	s.mu.Lock()
	f := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	return f
}

// run is the batcher: it takes the first queued call, waits for a free
// in-flight slot (calls pile up meanwhile), then takes whatever else is
// queued, up to MaxBatch items or maxFrameBytes, and sends one frame. No
// timer: batches grow exactly as much as the stream is busy.
func (n *nodeConn) run() {
	defer n.c.wg.Done()
	var st *stream
	defer func() {
		if st != nil {
			st.cancel()
		}
		n.failQueued(ErrClosed)
	}()
	batch := make([]*call, 0, n.c.cfg.MaxBatch)
	for {
		var first *call
		select {
		case first = <-n.queue:
		case <-n.c.ctx.Done():
			return
		}
		batch = append(batch[:0], first)
		if st != nil && isClosed(st.broken) {
			st.cancel()
			st = nil
		}
		if st == nil {
			var err error
			if st, err = n.open(); err != nil {
				n.transportFailure(err)
				n.failBatch(append(batch, n.drain()...), n.unavailable(err))
				continue
			}
		}
		select {
		case st.slots <- struct{}{}:
		case <-st.broken:
			n.failBatch(batch, n.unavailable(errors.New("stream broken")))
			continue
		case <-n.c.ctx.Done():
			n.failBatch(batch, ErrClosed)
			return
		}
		if len(st.slots) > 1 {
			// Frames are in flight: let callers that are about to enqueue
			// do so, so this frame carries them too. No timer, no wait
			// when the stream is idle.
			runtime.Gosched()
		}
		bytes := first.size()
	fill:
		for len(batch) < cap(batch) && bytes < maxFrameBytes {
			select {
			case cl := <-n.queue:
				batch = append(batch, cl)
				bytes += cl.size()
			default:
				break fill
			}
		}
		n.send(st, batch)
	}
}

// send sends batch as one frame on st, holding one slot.
func (n *nodeConn) send(st *stream, batch []*call) {
	f := framePool.Get().(*frame)
	for _, cl := range batch {
		if err := cl.ctx.Err(); err != nil {
			cl.complete(n, nil, err)
			continue
		}
		f.add(cl)
	}
	if len(f.calls) == 0 {
		f.release()
		<-st.slots
		return
	}
	st.mu.Lock()
	if st.pending == nil { // broke while we filled the frame
		st.mu.Unlock()
		n.failBatch(f.calls, n.unavailable(errors.New("stream broken")))
		f.release()
		return
	}
	st.nextID++
	id := st.nextID
	if len(st.pending) == 0 {
		st.quiet = time.Now()
	}
	st.pending[id] = f
	st.mu.Unlock()

	f.req.Id = id
	f.req.Items = f.items[:len(f.calls)]
	f.req.TableEpoch = n.c.epoch()
	f.refs.Store(2)
	n.frames.Add(1)
	n.items.Add(uint64(len(f.calls)))
	// The receiver may complete f's calls as soon as Send has written it.
	err := st.s.Send(&f.req)
	if err != nil && st.take(id) != nil { // the receiver will not see f
		if err == io.EOF { // the stream ended; Recv has the reason
			err = n.unavailable(errors.New("stream closed by the node"))
		} else {
			err = n.unavailable(err)
		}
		n.failBatch(f.calls, err)
		f.unref()
		<-st.slots
	}
	f.unref()
}

// open starts a stream and its receiver.
func (n *nodeConn) open() (*stream, error) {
	ctx, cancel := context.WithCancel(n.c.ctx)
	s, err := nsv1.NewNodeServiceClient(n.cc).Stream(ctx)
	if err != nil {
		cancel()
		return nil, wire.FromError(err)
	}
	st := &stream{
		s:       s,
		cancel:  cancel,
		slots:   make(chan struct{}, n.c.cfg.MaxInFlight),
		broken:  make(chan struct{}),
		pending: make(map[uint64]*frame),
	}
	n.c.wg.Add(1)
	go n.receive(st)
	if n.c.cfg.StallTimeout > 0 {
		n.c.wg.Add(1)
		go n.watch(st)
	}
	return st, nil
}

// watch probes the node when st has had frames in flight and no answer for
// StallTimeout (Config.StallTimeout), and closes st when the probe gets no
// answer either: receive then fails its frames as unavailable, and exec
// retries their calls elsewhere.
func (n *nodeConn) watch(st *stream) {
	defer n.c.wg.Done()
	stall := n.c.cfg.StallTimeout
	tick := time.NewTicker(max(stall/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-st.broken:
			return
		case <-n.c.ctx.Done():
			return
		case <-tick.C:
		}
		st.mu.Lock()
		silent := len(st.pending) > 0 && time.Since(st.quiet) >= stall
		st.mu.Unlock()
		if !silent {
			continue
		}
		if err := n.probe(stall); err != nil {
			n.stalls.Add(1)
			n.c.log.Warn("client: node silent with calls in flight and its probe unanswered; retrying its calls elsewhere",
				"node", n.addr, "silent_for", stall, "err", err)
			st.cancel()
			return
		}
		st.mu.Lock()
		st.quiet = time.Now() // alive, only slow: give it another StallTimeout
		st.mu.Unlock()
	}
}

// probe asks the node's health service, waiting at most d. Any answer, an
// error status included, shows the node is running and reachable; only no
// answer (deadline) or a broken connection is a failure.
func (n *nodeConn) probe(d time.Duration) error {
	ctx, cancel := context.WithTimeout(n.c.ctx, d)
	defer cancel()
	_, err := healthpb.NewHealthClient(n.cc).Check(ctx, &healthpb.HealthCheckRequest{})
	switch status.Code(err) {
	case codes.OK, codes.Unimplemented, codes.NotFound, codes.PermissionDenied, codes.Unauthenticated, codes.FailedPrecondition:
		return nil
	}
	return err
}

// receive completes the calls of each answered frame. When the stream
// breaks it fails every pending frame with ErrUnavailable and exits.
func (n *nodeConn) receive(st *stream) {
	defer n.c.wg.Done()
	for {
		resp, err := st.s.Recv()
		if err != nil {
			st.mu.Lock()
			pending := st.pending
			st.pending = nil
			st.mu.Unlock()
			close(st.broken)
			if n.c.ctx.Err() != nil {
				err = ErrClosed
			} else {
				if err == io.EOF {
					err = errors.New("stream closed by the node")
				}
				n.transportFailure(err)
				err = n.unavailable(wire.FromError(err))
			}
			for _, f := range pending {
				n.failBatch(f.calls, err)
				f.unref()
			}
			return
		}
		f := st.answered(resp.GetId())
		if f == nil {
			continue // not ours: ignore
		}
		<-st.slots
		if n.breaker.success() {
			n.c.log.Info("client: circuit breaker closed", "node", n.addr)
		}
		results := resp.GetResults()
		if len(results) != len(f.calls) {
			n.failBatch(f.calls, fmt.Errorf("%w: node %s answered %d results for %d items",
				ErrUnavailable, n.addr, len(results), len(f.calls)))
		} else {
			for i, cl := range f.calls {
				cl.complete(n, results[i], nil)
			}
		}
		f.unref()
	}
}

// transportFailure counts a failure of the link against the breaker.
func (n *nodeConn) transportFailure(err error) {
	n.failures.Add(1)
	if n.breaker.failure(n.c.now()) {
		n.c.log.Warn("client: circuit breaker open", "node", n.addr, "for", n.c.cfg.BreakerOpenFor, "err", err)
	}
}

// unavailable wraps a transport failure so it matches ErrUnavailable.
func (n *nodeConn) unavailable(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("node %s: %w", n.addr, err)
	}
	return fmt.Errorf("%w: node %s: %v", ErrUnavailable, n.addr, err)
}

func (n *nodeConn) failBatch(calls []*call, err error) {
	for _, cl := range calls {
		cl.complete(n, nil, err)
	}
}

// drain takes every call queued now.
func (n *nodeConn) drain() []*call {
	var out []*call
	for {
		select {
		case cl := <-n.queue:
			out = append(out, cl)
		default:
			return out
		}
	}
}

func (n *nodeConn) failQueued(err error) { n.failBatch(n.drain(), err) }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
