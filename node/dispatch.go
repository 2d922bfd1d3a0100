package node

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
	"github.com/nothingshared/ns/worker"
)

// call tracks one Dispatch: the sub-batches (per worker, per peer) still
// running. The last one to finish wakes the caller.
type call struct {
	pending atomic.Int32
	done    chan struct{}
}

func (c *call) finish() {
	if c.pending.Add(-1) == 0 {
		close(c.done)
	}
}

// envelope is the sub-batch of one Dispatch for one worker: one ring push
// carries all of a request's items that the worker owns.
type envelope struct {
	ctx     context.Context
	table   *ring.Table
	items   []*nsv1.Item
	parts   []int32 // partition of each item
	pos     []int32 // index of each item in results
	results []*nsv1.Result
	call    *call
}

// shard is one worker's private state: the partitions it owns, each with
// one state per service. Only that worker touches it.
type shard struct {
	worker int
	parts  map[int32][]Partition
}

func (s *shard) expire(now time.Time) {
	for _, svcs := range s.parts {
		for _, p := range svcs {
			if e, ok := p.(Expirer); ok {
				e.ExpireSome(now, 64)
			}
		}
	}
}

// handler adapts the node to worker.Handler.
type handler struct{ n *Node }

var _ worker.Handler[shard, *envelope, struct{}] = (*handler)(nil)

func (h *handler) Init(w int) (shard, error) {
	return shard{worker: w, parts: map[int32][]Partition{}}, nil
}

func (h *handler) Shutdown(*shard) {}

// Handle runs on the worker goroutine: it applies every item of the
// envelope to its partition's state, in order, and writes the results.
func (h *handler) Handle(s *shard, env *envelope) (struct{}, error) {
	defer env.call.finish()
	n := h.n
	now := time.Now()
	expired := env.ctx.Err()
	cur := n.table.Load()
	self := cur.MemberIndex(n.cfg.NodeID)
	for j, it := range env.items {
		p := env.parts[j]
		var res *nsv1.Result
		switch {
		case expired != nil:
			res = transport.ResultError(expired)
		case cur.OwnerIndex(int(p)) != self:
			// The table changed while the item waited in the ring.
			res = transport.ResultError(movedError(cur, int(p)))
		default:
			res = h.apply(s, p, it, now)
		}
		env.results[env.pos[j]] = res
	}
	return struct{}{}, nil
}

func (h *handler) apply(s *shard, p int32, it *nsv1.Item, now time.Time) (res *nsv1.Result) {
	si, ok := h.n.services[it.GetService()]
	if !ok {
		return transport.ResultError(fmt.Errorf("%w: %q", transport.ErrUnknownService, it.GetService()))
	}
	svcs := s.parts[p]
	if svcs == nil {
		svcs = make([]Partition, len(h.n.svcList))
		s.parts[p] = svcs
	}
	st := svcs[si]
	if st == nil {
		st = h.n.svcList[si].NewPartition(int(p))
		svcs[si] = st
	}
	defer func() {
		if v := recover(); v != nil {
			h.n.log.Error("service handler panicked", "service", it.GetService(), "partition", p, "panic", v, "stack", string(debug.Stack()))
			res = transport.ResultError(&worker.PanicError{Worker: s.worker, Value: v, Stack: debug.Stack()})
		}
	}()
	out, err := st.Handle(now, it.GetPayload())
	if err != nil {
		return transport.ResultError(err)
	}
	return &nsv1.Result{Payload: out}
}

func movedError(t *ring.Table, p int) error {
	o := t.Owner(p)
	return &transport.MovedError{Epoch: t.Epoch(), Partition: p, OwnerID: o.ID, OwnerAddr: o.Addr}
}

// Dispatch routes items to their owners: local items go to their workers in
// one envelope per worker, the rest to their owners in one Forward per
// peer. It returns when every item has a result.
func (n *Node) Dispatch(ctx context.Context, items []*nsv1.Item, forwarded bool) []*nsv1.Result {
	results := make([]*nsv1.Result, len(items))
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.RequestTimeout)
		defer cancel()
	}
	t := n.table.Load()
	self := t.MemberIndex(n.cfg.NodeID)
	W := n.pool.Size()
	c := &call{done: make(chan struct{})}

	var local []*envelope // by worker, allocated lazily
	var remote map[int][]int32
	for i, it := range items {
		p := t.PartitionOf(it.GetKey())
		owner := t.OwnerIndex(p)
		switch {
		case owner == self:
			if local == nil {
				local = make([]*envelope, W)
			}
			w := p % W
			env := local[w]
			if env == nil {
				env = &envelope{ctx: ctx, table: t, results: results, call: c}
				local[w] = env
			}
			env.items = append(env.items, it)
			env.parts = append(env.parts, int32(p))
			env.pos = append(env.pos, int32(i))
		case forwarded:
			// At most one hop: the sender's table is newer or older than ours.
			results[i] = transport.ResultError(movedError(t, p))
		default:
			if remote == nil {
				remote = map[int][]int32{}
			}
			remote[owner] = append(remote[owner], int32(i))
		}
	}
	var pending int32
	for _, env := range local {
		if env != nil {
			pending++
		}
	}
	pending += int32(len(remote))
	if pending == 0 {
		return results
	}
	c.pending.Store(pending)
	for owner, pos := range remote {
		m := t.Members()[owner]
		go n.forward(ctx, t, m, items, pos, results, c)
	}
	for w, env := range local {
		if env == nil {
			continue
		}
		if err := n.pool.SendTo(ctx, w, env); err != nil {
			err = fmt.Errorf("%w: worker %d queue full past the deadline: %v", transport.ErrBackpressure, w, err)
			for _, i := range env.pos {
				results[i] = transport.ResultError(err)
			}
			c.finish()
		}
	}
	<-c.done
	return results
}
