package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nothingshared/ns/wire"
)

// Message is one message of a SendBatch.
type Message struct {
	// Service is the registered service name, e.g. "kv".
	Service string
	// Key selects the partition and so the node and worker; not empty.
	Key []byte
	// Payload is passed to the service as is.
	Payload []byte
}

// Reply is the outcome of one Message of a SendBatch.
type Reply struct {
	// Payload is the service's reply when Err is nil.
	Payload []byte
	// Err is the message's error, nil on success.
	Err error
}

// Send delivers payload to service on the node that owns key and returns
// the service's reply. Concurrent calls to the same node share stream
// frames. The call is retried (see Config.MaxRetries) after a stale table,
// an unavailable node or backpressure, with one request id so that a
// retried write takes effect once. Without a deadline in ctx it is bounded
// by Config.RequestTimeout.
func (c *Client) Send(ctx context.Context, service string, key, payload []byte) ([]byte, error) {
	return c.send(ctx, service, key, payload, newRequestID())
}

// SendBatch delivers every message like Send, all at once: messages for the
// same node travel together in frames of up to Config.MaxBatch items. It
// returns one Reply per message, in order. Messages for the same key are
// processed in order only if they land in the same frame; send dependent
// messages in separate batches.
func (c *Client) SendBatch(ctx context.Context, msgs []Message) []Reply {
	return c.sendBatch(ctx, msgs, nil)
}

// sendBatch is SendBatch with given request ids (ids[i] for msgs[i]); nil
// ids means random ones.
func (c *Client) sendBatch(ctx context.Context, msgs []Message, ids []uint64) []Reply {
	out := make([]Reply, len(msgs))
	if len(msgs) == 0 {
		return out
	}
	calls := make([]call, len(msgs))
	ptrs := make([]*call, 0, len(msgs))
	idx := make([]int, 0, len(msgs))
	done := make(chan *call, len(msgs))
	for i, m := range msgs {
		if len(m.Key) == 0 {
			out[i].Err = ErrKeyEmpty
			continue
		}
		cl := &calls[i]
		cl.service, cl.key, cl.payload = m.Service, m.Key, m.Payload
		if ids != nil {
			cl.requestID = ids[i]
		} else {
			cl.requestID = newRequestID()
		}
		cl.done = done
		ptrs = append(ptrs, cl)
		idx = append(idx, i)
	}
	if len(ptrs) > 0 {
		c.exec(ctx, ptrs, done)
	}
	for j, cl := range ptrs {
		out[idx[j]] = Reply{Payload: cl.reply, Err: cl.final}
	}
	return out
}

// callPool recycles the calls of single sends with their done channels.
var callPool = sync.Pool{New: func() any { return &call{done: make(chan *call, 1)} }}

// send is Send with a given request id.
func (c *Client) send(ctx context.Context, service string, key, payload []byte, requestID uint64) ([]byte, error) {
	if len(key) == 0 {
		return nil, ErrKeyEmpty
	}
	cl := callPool.Get().(*call)
	cl.service, cl.key, cl.payload, cl.requestID = service, key, payload, requestID
	one := [1]*call{cl}
	if c.exec(ctx, one[:], cl.done) {
		return nil, cl.final // abandoned: a node goroutine may still write cl; never reuse it
	}
	reply, err := cl.reply, cl.final
	*cl = call{done: cl.done}
	callPool.Put(cl)
	return reply, err
}

// verdict is what exec does with a call after an attempt.
type verdict int

const (
	settled   verdict = iota // a reply or a final error
	retryMove                // stale table: refresh, re-route, retry
	retryElse                // unavailable node: retry elsewhere after a backoff
	retryWait                // backpressure: retry after a backoff
)

// exec sends calls to their owners and retries them until each has a reply
// or a final error in reply/final. Every call's done is done, which has room
// for all of them. It reports whether it gave up on calls still in flight
// (ctx ended or the client closed); those calls must not be reused.
func (c *Client) exec(ctx context.Context, calls []*call, done chan *call) (abandoned bool) {
	c.calls.Add(uint64(len(calls)))
	if c.ctx.Err() != nil {
		for _, cl := range calls {
			cl.final = ErrClosed
		}
		return false
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	pending := calls
	for round := 0; ; round++ {
		r := c.route.Load()
		for _, cl := range pending {
			cl.ctx, cl.res, cl.err, cl.node, cl.inFlight = ctx, nil, nil, nil, true
			n, err := c.pick(r, cl)
			if err == nil {
				err = n.enqueue(ctx, cl)
			}
			if err != nil {
				cl.complete(n, nil, err)
			}
		}
		var (
			retry     []*call
			moved     bool   // some call met a stale table
			waitOnly  bool   // some call needs a backoff whatever the table
			movedFrom string // the node that said so
		)
		for got := 0; got < len(pending); got++ {
			var cl *call
			select {
			case cl = <-done:
			case <-ctx.Done():
				abandon(pending, fmt.Errorf("client: %w", ctx.Err()))
				return true
			case <-c.ctx.Done():
				abandon(pending, ErrClosed)
				return true
			}
			switch c.judge(cl) {
			case settled:
				continue
			case retryMove:
				moved = true
				if cl.node != nil {
					movedFrom = cl.node.addr
				}
			default:
				waitOnly = true
			}
			if cl.attempts++; cl.attempts > c.cfg.MaxRetries {
				continue // cl.final holds the last error
			}
			if retry == nil {
				retry = make([]*call, 0, len(pending)-got)
			}
			retry = append(retry, cl)
		}
		if len(retry) == 0 {
			return false
		}
		c.retries.Add(uint64(len(retry)))
		if moved {
			c.moved.Add(1)
			if c.route.Load() == r {
				c.refreshAfterMoved(ctx, r, movedFrom, round >= 2)
			}
		}
		if waitOnly || c.route.Load() == r {
			if err := c.sleep(ctx, c.backoff(round)); err != nil {
				for _, cl := range retry {
					cl.final = withLast(err, cl.final)
				}
				return false
			}
		}
		pending = retry
	}
}

// abandon gives every call of pending still in flight the final error err.
func abandon(pending []*call, err error) {
	for _, cl := range pending {
		if cl.inFlight {
			cl.final = withLast(err, cl.final)
		}
	}
}

// withLast adds the last attempt's error to err.
func withLast(err, last error) error {
	if last == nil {
		return err
	}
	return fmt.Errorf("%w (last error: %v)", err, last)
}

// judge classifies the outcome of an attempt. It sets cl.reply or cl.final
// (the last error, kept when the call is retried) and marks cl judged.
func (c *Client) judge(cl *call) verdict {
	cl.inFlight = false
	err := cl.err
	if err == nil {
		if err = wire.ErrorFromResult(cl.res); err == nil {
			cl.reply, cl.final = cl.res.GetPayload(), nil
			return settled
		}
		if cl.node != nil {
			err = fmt.Errorf("node %s: %w", cl.node.addr, err)
		}
	}
	cl.final = err
	switch {
	case errors.Is(err, ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return settled
	case errors.Is(err, wire.ErrMoved), errors.Is(err, wire.ErrTooManyHops):
		return retryMove
	case errors.Is(err, wire.ErrUnavailable), errors.Is(err, wire.ErrLeaving):
		cl.avoid = cl.node
		return retryElse
	case errors.Is(err, wire.ErrBackpressure):
		return retryWait
	}
	return settled
}

// pick chooses the node for cl in r: the key's owner, unless cl failed
// there or its breaker is open; then another member, which forwards the
// call to the owner.
func (c *Client) pick(r *routing, cl *call) (*nodeConn, error) {
	t := r.table
	i := t.OwnerIndex(t.PartitionOf(cl.key))
	owner := r.nodes[i]
	if owner != cl.avoid && owner.breaker.allow(c.now) {
		return owner, nil
	}
	if k := len(r.nodes); k > 1 {
		for j := range k - 1 {
			n := r.nodes[(i+1+(cl.attempts+j)%(k-1))%k]
			if n != cl.avoid && n.breaker.allow(c.now) {
				return n, nil
			}
		}
	}
	if owner == cl.avoid && owner.breaker.allow(c.now) {
		return owner, nil // nowhere else to go
	}
	return nil, fmt.Errorf("%w: node %s", ErrBreakerOpen, owner.addr)
}

// backoff is the delay before retry round+1: RetryBackoff doubled per
// round, capped at MaxRetryBackoff, with equal jitter.
func (c *Client) backoff(round int) time.Duration {
	d := c.cfg.RetryBackoff << min(round, 16)
	if d > MaxRetryBackoff || d <= 0 {
		d = MaxRetryBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits for d, ctx or Close.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("client: %w", ctx.Err())
	case <-c.ctx.Done():
		return ErrClosed
	}
}

// newRequestID returns a random non-zero request id.
func newRequestID() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}
