package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
)

// call tracks one Dispatch (or one Replicate request): the pieces still
// running (sub-batches on workers, forwards, parked items, replications).
// The last one to finish wakes the caller.
type call struct {
	pending atomic.Int32
	done    chan struct{}
}

func newCall() *call { return &call{done: make(chan struct{})} }

func (c *call) add(n int32) { c.pending.Add(n) }

func (c *call) finish() {
	if c.pending.Add(-1) == 0 {
		close(c.done)
	}
}

// envKind says what an envelope carries.
type envKind uint8

const (
	envItems   envKind = iota // client items for partitions this node owns
	envReplica                // writes to apply on backup copies
)

// envelope is one ring push: a sub-batch of one request for one worker.
type envelope struct {
	kind    envKind
	ctx     context.Context
	items   []*nsv1.Item      // envItems
	ops     []*nsv1.ReplicaOp // envReplica
	parts   []int32           // partition of each item or op
	pos     []int32           // index of each item or op in results
	results []*nsv1.Result
	call    *call
	from    string // envReplica: the owner that sent the ops
}

func movedError(t *ring.Table, p int) error {
	o := t.Owner(p)
	return &transport.MovedError{Epoch: t.Epoch(), Partition: p, OwnerID: o.ID, OwnerAddr: o.Addr}
}

// expired reports, as an error, that item's caller gave up before now: the
// item must not be applied (see nsv1.Item.deadline_unix_nano).
func (n *Node) expired(it *nsv1.Item, now time.Time) error {
	if d := it.GetDeadlineUnixNano(); d != 0 && now.UnixNano() >= d {
		return fmt.Errorf("%w: the caller's deadline passed %v before node %s could apply the request", context.DeadlineExceeded,
			now.Sub(time.Unix(0, d)).Round(time.Millisecond), n.cfg.NodeID)
	}
	return nil
}

// dispatch is the node's one entry point for items, from gRPC (backend.go)
// and RESP (resp.go) alike. It routes items to their owners: local items go to their workers in
// one envelope per worker, the rest to their owners in one Forward per
// peer. An item that answers moved (its partition moved while it was on its
// way, or tables disagree for a moment) is routed again to the node it
// names, with a short backoff, until the deadline, unless it was itself
// forwarded: between two nodes an item makes at most one hop per route. It
// returns when every item has a result.
func (n *Node) dispatch(ctx context.Context, items []*nsv1.Item, forwarded bool) []*nsv1.Result {
	results := make([]*nsv1.Result, len(items))
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.RequestTimeout)
		defer cancel()
	}
	if !n.formed.Load() {
		err := fmt.Errorf("%w: node %s has not joined its cluster yet (seeds %v)", transport.ErrUnavailable, n.cfg.NodeID, n.cfg.Cluster.Join)
		for i := range results {
			results[i] = transport.ResultError(err)
		}
		return results
	}
	if now := time.Now(); !forwarded {
		if _, ok := n.lease.check(now); !ok {
			// Cut off or just resumed: this node's table may be stale, so
			// it neither serves nor forwards; the client retries elsewhere.
			err := n.lease.errLapsed(now)
			for i := range results {
				results[i] = transport.ResultError(err)
			}
			return results
		}
	}
	todo := make([]int32, len(items))
	for i := range todo {
		todo[i] = int32(i)
	}
	backoff := time.Millisecond
	for route := 0; ; route++ {
		n.route(ctx, items, todo, results, forwarded, route)
		if forwarded {
			return results
		}
		var again []int32
		now := time.Now()
		for _, i := range todo {
			if r := results[i]; r.GetMoved() != nil && r.GetCode() != 0 {
				if err := n.expired(items[i], now); err != nil {
					results[i] = transport.ResultError(err)
					continue
				}
				again = append(again, i)
			}
		}
		if len(again) == 0 || route+1 >= maxRoutes {
			return results
		}
		if route > 0 {
			// Moved twice: tables are converging. Give them a moment.
			select {
			case <-ctx.Done():
				return results
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 100*time.Millisecond)
		}
		todo = again
	}
}

// maxRoutes bounds how often Dispatch routes an item that keeps answering
// moved (about two seconds of backoff in all).
const maxRoutes = 30

// route sends the items at idx once: local ones to workers, others to the
// owner named by a previous moved answer or by the table.
func (n *Node) route(ctx context.Context, items []*nsv1.Item, idx []int32, results []*nsv1.Result, forwarded bool, attempt int) {
	t := n.table.Load()
	self := t.MemberIndex(n.cfg.NodeID)
	W := n.pool.Size()
	c := newCall()

	// First each item's partition and destination; local items are counted
	// by worker, so that the envelopes then take their items from one
	// allocation of each kind instead of growing by appends.
	var pbuf [64]int32
	part := pbuf[:0] // by item of idx: its partition if local, else -1
	if len(idx) > len(pbuf) {
		part = make([]int32, 0, len(idx))
	}
	var cbuf [64]int32
	var count []int32 // local items by worker, made at the first
	nlocal := 0
	var remote map[string][]int32
	var remoteAddr map[string]string
	for _, i := range idx {
		it := items[i]
		p := t.PartitionOf(it.GetKey())
		ownerID, ownerAddr := t.Owner(p).ID, t.Owner(p).Addr
		if attempt > 0 {
			if mv := results[i].GetMoved(); mv != nil && mv.GetOwnerAddr() != "" {
				ownerID, ownerAddr = mv.GetOwnerId(), mv.GetOwnerAddr()
			}
		}
		switch {
		case ownerID == n.cfg.NodeID && self >= 0:
			if count == nil {
				count = cbuf[:0]
				if W > len(cbuf) {
					count = make([]int32, 0, W)
				}
				count = count[:W]
			}
			count[p%W]++
			nlocal++
			part = append(part, int32(p))
			continue
		case forwarded:
			// At most one hop: the sender's table differs from ours.
			results[i] = transport.ResultError(movedError(t, p))
		default:
			if remote == nil {
				remote = map[string][]int32{}
				remoteAddr = map[string]string{}
			}
			remote[ownerID] = append(remote[ownerID], i)
			remoteAddr[ownerID] = ownerAddr
		}
		part = append(part, -1)
	}
	var local []*envelope // by worker
	if nlocal > 0 {
		local = envelopes(ctx, c, items, idx, results, part, count, nlocal)
	}
	var pending int32
	for _, env := range local {
		if env != nil {
			pending++
		}
	}
	pending += int32(len(remote))
	if pending == 0 {
		return
	}
	c.pending.Store(pending)
	for id, pos := range remote {
		go n.forward(ctx, t, ring.Member{ID: id, Addr: remoteAddr[id]}, items, pos, results, c)
	}
	for w, env := range local {
		if env == nil {
			continue
		}
		if err := n.pool.SendTo(ctx, w, env); err != nil {
			n.noteBackpressure(w, len(env.pos))
			n.rlog.Warn("worker queue full past the deadline; refusing items", "worker", w, "items", len(env.pos))
			err = fmt.Errorf("%w: worker %d queue full past the deadline: %v", transport.ErrBackpressure, w, err)
			for _, i := range env.pos {
				results[i] = transport.ResultError(err)
			}
			c.finish()
		}
	}
	<-c.done
}

// envelopes builds route's envelopes, one per worker with local items, from
// one allocation of each kind: count is the local items by worker (nlocal
// in all), part each item of idx's partition if local, else -1.
func envelopes(ctx context.Context, c *call, items []*nsv1.Item, idx []int32, results []*nsv1.Result, part, count []int32, nlocal int) []*envelope {
	W := len(count)
	local := make([]*envelope, W)
	envs := make([]envelope, 0, W)
	its := make([]*nsv1.Item, nlocal)
	ints := make([]int32, 2*nlocal) // parts, then pos
	off := 0
	for w, k := range count {
		if k == 0 {
			continue
		}
		end := off + int(k)
		envs = append(envs, envelope{kind: envItems, ctx: ctx, results: results, call: c,
			items: its[off:off:end], parts: ints[off:off:end], pos: ints[nlocal+off : nlocal+off : nlocal+end]})
		local[w] = &envs[len(envs)-1]
		off = end
	}
	for k, i := range idx {
		if p := part[k]; p >= 0 {
			env := local[int(p)%W]
			env.items = append(env.items, items[i])
			env.parts = append(env.parts, p)
			env.pos = append(env.pos, i)
		}
	}
	return local
}
