package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
)

// replOp is one write to apply on one backup, and where its acknowledgement
// goes: the item's result slot and its call.
type replOp struct {
	op  *nsv1.ReplicaOp
	env *envelope // nil for a write sent again for the reads waiting on it
	pos int32
	ack *writeAck // the write's settlement, shared by its backups; nil for none
}

// replicators keeps one replicator per backup node.
type replicators struct {
	n  *Node
	mu sync.Mutex // guards m and closed
	m  map[string]*replicator
	wg sync.WaitGroup

	closed bool
}

func newReplicators(n *Node) *replicators {
	return &replicators{n: n, m: map[string]*replicator{}}
}

// enqueue hands op to the replicator of backup b. It never blocks: workers
// call it.
func (rs *replicators) enqueue(b ring.Member, op replOp) {
	rs.mu.Lock()
	r := rs.m[b.ID]
	if r == nil && !rs.closed {
		r = &replicator{rs: rs, id: b.ID, addr: b.Addr, wake: make(chan struct{}, 1), stop: make(chan struct{})}
		rs.m[b.ID] = r
		rs.wg.Add(1)
		go r.run()
	}
	rs.mu.Unlock()
	if r == nil {
		op.fail(fmt.Errorf("%w: node is shutting down", transport.ErrUnavailable))
		return
	}
	if r.addr != b.Addr {
		r.setAddr(b.Addr)
	}
	r.push(op)
}

// close stops every replicator after it has sent what it holds.
func (rs *replicators) close() {
	rs.mu.Lock()
	rs.closed = true
	for _, r := range rs.m {
		close(r.stop)
	}
	rs.mu.Unlock()
	rs.wg.Wait()
}

// pending counts ops not yet acknowledged by any backup.
func (rs *replicators) pending() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	total := 0
	for _, r := range rs.m {
		r.mu.Lock()
		total += len(r.queue) + r.inflight
		r.mu.Unlock()
	}
	return total
}

// replicator sends one backup its ops in order, one Replicate call at a time
// (so a partition's writes arrive in apply order), batching whatever queued
// up while the previous call was in flight.
type replicator struct {
	rs   *replicators
	id   string
	wake chan struct{}
	stop chan struct{}

	mu       sync.Mutex // guards addr, queue and inflight
	addr     string
	queue    []replOp
	inflight int
}

func (r *replicator) setAddr(a string) {
	r.mu.Lock()
	r.addr = a
	r.mu.Unlock()
}

func (r *replicator) push(op replOp) {
	r.mu.Lock()
	r.queue = append(r.queue, op)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

const maxReplicateBatch = 1024

func (r *replicator) run() {
	defer r.rs.wg.Done()
	for {
		r.mu.Lock()
		batch := r.queue
		if len(batch) > maxReplicateBatch {
			batch = batch[:maxReplicateBatch]
			r.queue = append([]replOp(nil), r.queue[maxReplicateBatch:]...)
		} else {
			r.queue = nil
		}
		r.inflight = len(batch)
		addr := r.addr
		r.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-r.wake:
				continue
			case <-r.stop:
				return
			}
		}
		r.send(addr, batch)
		r.mu.Lock()
		r.inflight = 0
		r.mu.Unlock()
	}
}

func (r *replicator) send(addr string, batch []replOp) {
	n := r.rs.n
	req := &nsv1.ReplicateRequest{From: n.cfg.NodeID, Ops: make([]*nsv1.ReplicaOp, len(batch))}
	for i, o := range batch {
		req.Ops[i] = o.op
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ReplicationTimeout)
	defer cancel()
	conn, err := n.peers.get(addr)
	var resp *nsv1.ReplicateResponse
	if err == nil {
		began := time.Now()
		if resp, err = nsv1.NewPeerServiceClient(conn).Replicate(ctx, req); err == nil {
			n.lease.note(r.id, began)
		}
	}
	if err == nil && len(resp.GetResults()) != len(batch) {
		err = fmt.Errorf("backup answered %d results for %d ops", len(resp.GetResults()), len(batch))
	}
	if err != nil {
		n.log.Warn("replication to backup failed; writes not acknowledged", "backup", r.id, "addr", addr, "ops", len(batch), "err", err)
		e := fmt.Errorf("%w: write applied on the owner but not on backup %s (%v): outcome unknown, retry with the same request id", transport.ErrUnavailable, r.id, status.Convert(err).Message())
		for _, o := range batch {
			o.fail(e)
		}
		return
	}
	for i, o := range batch {
		if res := resp.GetResults()[i]; res.GetCode() != int32(codes.OK) {
			rerr := transport.ErrorFromResult(res)
			if errors.Is(rerr, transport.ErrNotOwner) {
				// The backup follows a newer owner: this node's ownership
				// is stale. Re-pull the partition, and answer moved: the
				// write was not acknowledged, and the node that received it
				// routes it again once tables agree.
				n.rlog.Warn("a backup refused a write: this node's ownership looks stale; pulling the partition again", "backup", r.id, "partition", o.op.GetPartition(), "epoch", o.op.GetEpoch(), "reason", rerr)
				n.requestRepull(int32(o.op.GetPartition()), o.op.GetEpoch(), o.op.GetNowUnixNano())
				o.fail(&transport.MovedError{Epoch: o.op.GetEpoch(), Partition: int(o.op.GetPartition())})
				continue
			}
			o.fail(fmt.Errorf("%w: backup %s refused the write: %v", transport.ErrUnavailable, r.id, rerr))
			continue
		}
		o.ok()
	}
}

// fail replaces the item's result with err and releases it.
func (o replOp) fail(err error) {
	if o.env != nil {
		o.env.results[o.pos] = transport.ResultError(err)
		o.env.call.finish()
	}
	if o.ack != nil {
		o.ack.answer(err)
	}
}

// ok releases the item: this backup applied it.
func (o replOp) ok() {
	if o.env != nil {
		o.env.call.finish()
	}
	if o.ack != nil {
		o.ack.answer(nil)
	}
}

// replicate is the backup side: it applies an owner's writes to the backup
// copies, on their workers, and answers one result per op.
func (n *Node) replicate(ctx context.Context, req *nsv1.ReplicateRequest) []*nsv1.Result {
	ops := req.GetOps()
	results := make([]*nsv1.Result, len(ops))
	W := n.pool.Size()
	envs := make([]*envelope, W)
	c := newCall()
	for i, op := range ops {
		if op.GetItem() == nil || int(op.GetPartition()) >= n.cfg.Ring.Partitions {
			results[i] = transport.ResultError(fmt.Errorf("%w: bad replica op", transport.ErrInvalidArgument))
			continue
		}
		w := int(op.GetPartition()) % W
		env := envs[w]
		if env == nil {
			env = &envelope{kind: envReplica, ctx: ctx, results: results, call: c, from: req.GetFrom()}
			envs[w] = env
		}
		env.ops = append(env.ops, op)
		env.parts = append(env.parts, int32(op.GetPartition()))
		env.pos = append(env.pos, int32(i))
	}
	var pending int32
	for _, e := range envs {
		if e != nil {
			pending++
		}
	}
	if pending == 0 {
		return results
	}
	c.pending.Store(pending)
	for w, env := range envs {
		if env == nil {
			continue
		}
		if err := n.pool.SendTo(ctx, w, env); err != nil {
			for _, i := range env.pos {
				results[i] = transport.ResultError(fmt.Errorf("%w: %v", transport.ErrBackpressure, err))
			}
			c.finish()
		}
	}
	<-c.done
	return results
}

// applyReplica applies one replicated write to its backup copy, in LSN order.
// A copy that is missing, or that sees a gap, waits for a snapshot from the
// owner (the op waits with it).
func (h *handler) applyReplica(s *shard, env *envelope, j int) {
	n := h.n
	op := env.ops[j]
	p := env.parts[j]
	res := &env.results[env.pos[j]]
	if ps := s.parts[p]; ps != nil {
		cur := n.table.Load()
		switch owner.OnReplicated(ps.status, ps.epoch, cur.Owner(int(p)).ID == env.from, op.GetEpoch()) {
		case owner.RefuseOwnerHere:
			*res = transport.ResultError(fmt.Errorf("%w: node %s owns partition %d at epoch %d; refusing a write from epoch %d", transport.ErrNotOwner, n.cfg.NodeID, p, ps.epoch, op.GetEpoch()))
			return
		case owner.FenceOwned:
			// An owner at a newer epoch writes to this node as its backup:
			// this node's owned copy is stale. Never serve it again.
			ps.status = owner.Fenced
			ps.svcs = nil
			ps.dedup = dedup{} // its charge returns when the table is freed (dedup.go)
			ps.movedTo = moved{id: env.from}
			n.unlog(s, p, ps.epoch)
			if m, ok := cur.Member(env.from); ok {
				ps.movedTo.addr = m.Addr
			}
		}
	}
	rs := s.replicas[p]
	if rs == nil {
		rs = &replicaState{syncing: true}
		s.replicas[p] = rs
	}
	if rs.syncing || op.GetLsn() > rs.lsn+1 {
		rs.source = env.from
	}
	if rs.syncing {
		n.requestSync(p)
	}
	if owner.RefuseReplicated(rs.epoch, rs.fence, op.GetEpoch()) {
		*res = transport.ResultError(fmt.Errorf("%w: partition %d is fenced at epoch %d; refusing a write from epoch %d", transport.ErrNotOwner, p, max(rs.epoch, rs.fence), op.GetEpoch()))
		return
	}
	if !rs.syncing && op.GetLsn() > rs.lsn+1 {
		// A gap: this copy missed writes. Resynchronise from the owner.
		rs.syncing = true
		n.requestSync(p)
	}
	if rs.syncing {
		env.call.add(1)
		rs.buffered = append(rs.buffered, parkedOp{env: env, j: j})
		return
	}
	h.applyReplicaOp(rs, op, p)
	*res = s.newResult()
}

// applyReplicaOp applies op to an in-sync copy (duplicates are skipped).
func (h *handler) applyReplicaOp(rs *replicaState, op *nsv1.ReplicaOp, p int32) {
	if op.GetEpoch() > rs.epoch {
		rs.epoch = op.GetEpoch()
	}
	if op.GetLsn() <= rs.lsn {
		return
	}
	n := h.n
	it := op.GetItem()
	si, ok := n.services[it.GetService()]
	if ok {
		if rs.svcs == nil {
			rs.svcs = make([]Partition, len(n.svcList))
		}
		st := rs.svcs[si]
		if st == nil {
			st = n.svcList[si].NewPartition(int(p))
			rs.svcs[si] = st
		}
		now := time.Unix(0, op.GetNowUnixNano())
		out, err := h.safeHandle(st, -1, p, it, now)
		if id := it.GetRequestId(); id != 0 {
			code := int32(codes.OK)
			if err != nil {
				code = int32(transport.Code(err))
			}
			rs.dedup.put(n.mem, id, dedupEntry{lsn: op.GetLsn(), code: code, payload: out, now: op.GetNowUnixNano(), item: it}, true)
		}
	}
	rs.lsn = op.GetLsn()
}

// releaseBuffered applies (or answers) the ops that waited for a snapshot.
func (h *handler) releaseBuffered(rs *replicaState, p int32) {
	buf := rs.buffered
	rs.buffered = nil
	for i, b := range buf {
		op := b.env.ops[b.j]
		res := &b.env.results[b.env.pos[b.j]]
		switch {
		case owner.RefuseReplicated(rs.epoch, rs.fence, op.GetEpoch()):
			*res = transport.ResultError(fmt.Errorf("%w: partition %d is fenced at epoch %d", transport.ErrNotOwner, p, max(rs.epoch, rs.fence)))
		case op.GetLsn() > rs.lsn+1:
			// Still a gap: wait for another snapshot.
			rs.syncing = true
			rs.buffered = append(rs.buffered, buf[i:]...)
			h.n.requestSync(p)
			return
		default:
			h.applyReplicaOp(rs, op, p)
			*res = &nsv1.Result{}
		}
		b.env.call.finish()
	}
}

// failBuffered answers every waiting op with err.
func failBuffered(rs *replicaState, err error) {
	for _, b := range rs.buffered {
		b.env.results[b.env.pos[b.j]] = transport.ResultError(err)
		b.env.call.finish()
	}
	rs.buffered = nil
}
