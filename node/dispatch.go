package node

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"

	"google.golang.org/grpc/codes"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
	"github.com/nothingshared/ns/wal"
	"github.com/nothingshared/ns/worker"
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

// shard is one worker's private state: the partitions it owns and the
// backup copies it keeps. Only that worker touches it.
type shard struct {
	worker   int
	parts    map[int32]*partState
	replicas map[int32]*replicaState

	// log is the worker's write-ahead log (durable.go); nil without a data
	// directory.
	log *wal.Log
	// written holds the writes of the batch being handled, applied but not
	// released: commit syncs the log once for all of them, then replicates
	// them.
	written  []replOp
	held     []*envelope // envelopes whose writes wait for the batch's Sync
	scratch  []byte      // encoding buffer for log records
	logFail  bool        // the log failed; reported once, retried by tick
	lastSnap time.Time

	// results is the chunk the worker's results are carved from
	// (newResult), so that an item's result costs no allocation of its
	// own. A result is never reused: a chunk lives while any result carved
	// from it does.
	results []nsv1.Result

	// selfIn is the table self was looked up in: self is this node's
	// index in it (memberIndex).
	selfIn *ring.Table
	self   int

	// prefetch and touched: see handler.prefetch.
	prefetch kv.Prefetcher
	touched  uint64
}

// memberIndex returns this node's index in t's members (-1: not one),
// looked up once per table rather than once per item.
func (s *shard) memberIndex(t *ring.Table, id string) int {
	if s.selfIn != t {
		s.selfIn, s.self = t, t.MemberIndex(id)
	}
	return s.self
}

// resultChunk is how many results a chunk holds.
const resultChunk = 64

// newResult returns a zero result carved from s's chunk.
func (s *shard) newResult() *nsv1.Result {
	if len(s.results) == 0 {
		s.results = make([]nsv1.Result, resultChunk)
	}
	r := &s.results[0]
	s.results = s.results[1:]
	return r
}

// handler adapts the node to worker.Handler.
type handler struct{ n *Node }

var (
	_ worker.Handler[shard, *envelope, struct{}] = (*handler)(nil)
	_ worker.BatchEnder[shard]                   = (*handler)(nil)
)

func (h *handler) Init(w int) (shard, error) {
	return shard{worker: w, parts: map[int32]*partState{}, replicas: map[int32]*replicaState{}}, nil
}

func (h *handler) Shutdown(s *shard) {
	if s.log != nil {
		_ = s.log.Close()
	}
}

// Handle runs on the worker goroutine.
func (h *handler) Handle(s *shard, env *envelope) (struct{}, error) {
	now := time.Now()
	switch env.kind {
	case envItems:
		h.n.observeKeys(s.worker, env.items)
		t := h.n.table.Load()
		if len(env.items) > 1 && prefetchBatches && h.n.mem.Used() > prefetchAbove*int64(h.n.pool.Size()) {
			h.prefetch(s, env)
		}
		for j := range env.items {
			h.process(s, env, j, now, t)
		}
		if s.log != nil {
			// With a log, the batch's writes wait for its group commit
			// (EndBatch), and so does everything handled after the first
			// of them: a read must not be answered with a write that is
			// not durable yet.
			if len(s.written) > 0 {
				s.held = append(s.held, env)
				return struct{}{}, nil
			}
		} else {
			h.commit(s, t)
		}
	case envReplica:
		for j := range env.ops {
			h.applyReplica(s, env, j)
		}
	}
	env.call.finish()
	return struct{}{}, nil
}

// prefetchBatches turns prefetch on (a benchmark turns it off to compare).
var prefetchBatches = true

// prefetchAbove is the memory per worker (what --max-memory counts, over
// the workers) above which the workers prefetch. Below it a worker's data
// mostly stays in the CPU's caches and prefetching only costs: 12% of the
// worker's CPU on BenchmarkApply's 16 hot keys (a map lookup, a key peek
// and a hash per item). 1 MiB is about one core's L2 cache on current x86.
// A variable so that a test can turn prefetching on for small data.
var prefetchAbove int64 = 1 << 20

// prefetch touches the store records the envelope's KV items will read or
// write (kv.Store.Prefetch), all of them before the first is applied: at
// pipeline 16 a CPU profile of the node spent 20% of its samples in the
// store's lookups, nearly all of it waiting on the first touch of an
// index slot and then of its record, one item after another. Loaded
// together, the misses of a batch overlap (BenchmarkApplyCold).
func (h *handler) prefetch(s *shard, env *envelope) {
	kvi, ok := h.n.services[transport.KVServiceName]
	if !ok {
		return
	}
	for j, it := range env.items {
		if it.GetService() != transport.KVServiceName {
			continue
		}
		ps := s.parts[env.parts[j]]
		if ps == nil || ps.svcs == nil {
			continue
		}
		kp, ok := ps.svcs[kvi].(*kvPartition)
		if !ok {
			continue
		}
		if key, ok := kv.RequestKey(it.GetPayload()); ok {
			s.prefetch.Add(kp.Store, key)
		}
	}
	s.touched += s.prefetch.Run()
}

// EndBatch runs after the worker handled a batch drained from its ring:
// one Sync of the log for every write of the batch (group commit), then
// their replication, then the release of their results.
func (h *handler) EndBatch(s *shard) {
	if len(s.held) == 0 {
		return
	}
	h.commit(s, h.n.table.Load())
	for i, env := range s.held {
		env.call.finish()
		s.held[i] = nil
	}
	s.held = s.held[:0]
}

// process handles one client item: it parks it while the partition's state
// is incoming, answers moved when another node owns it, and otherwise applies
// it, replicating writes to the partition's backups.
func (h *handler) process(s *shard, env *envelope, j int, now time.Time, t *ring.Table) {
	n := h.n
	p := env.parts[j]
	res := &env.results[env.pos[j]]
	if err := env.ctx.Err(); err != nil {
		*res = transport.ResultError(err)
		return
	}
	if err := n.expired(env.items[j], now); err != nil {
		*res = transport.ResultError(err)
		return
	}
	ps := s.parts[p]
	self := s.memberIndex(t, n.cfg.NodeID)
	it := owner.Item{Ours: t.OwnerIndex(int(p)) == self && self >= 0}
	var gen uint64
	if ps != nil {
		it.Status, it.HasData, it.Dormant = ps.status, ps.svcs != nil, ps.dormant
		if ps.status == owner.Owned {
			gen, it.Lease = n.lease.check(now)
			it.Verified = ps.gen == gen
		}
	}
	switch owner.Serve(it) {
	case owner.MovedFenced:
		*res = transport.ResultError(&transport.MovedError{Epoch: ps.fence, Partition: int(p), OwnerID: ps.movedTo.id, OwnerAddr: ps.movedTo.addr})
		return
	case owner.Moved:
		*res = transport.ResultError(movedError(t, int(p)))
		return
	case owner.Lapsed:
		*res = transport.ResultError(n.lease.errLapsed(now))
		return
	case owner.PullBack, owner.Verify:
		nps := &partState{status: owner.Incoming, epoch: t.Epoch(), since: now}
		if ps.svcs != nil || ps.status == owner.Owned {
			nps.fallback = ps
		}
		ps = nps
		s.parts[p] = ps
		n.requestPull(p)
	case owner.AwaitPlan:
		ps = &partState{status: owner.Incoming, epoch: t.Epoch(), since: now}
		s.parts[p] = ps
	}
	if ps.status == owner.Incoming {
		env.call.add(1)
		ps.parked = append(ps.parked, parkedItem{env: env, j: j})
		return
	}
	h.apply(s, ps, env, j, now, t)
}

// apply runs an item on its owned partition.
func (h *handler) apply(s *shard, ps *partState, env *envelope, j int, now time.Time, t *ring.Table) {
	n := h.n
	p := env.parts[j]
	it := env.items[j]
	res := &env.results[env.pos[j]]
	si, ok := n.services[it.GetService()]
	if !ok {
		*res = transport.ResultError(fmt.Errorf("%w: %q", transport.ErrUnknownService, it.GetService()))
		return
	}
	st := ps.svcs[si]
	if st == nil {
		st = n.svcList[si].NewPartition(int(p))
		ps.svcs[si] = st
	}
	write := !isRead(st, it.GetPayload())
	if write && !n.quorum.Load() {
		*res = transport.ResultError(fmt.Errorf("%w: this node sees fewer than half of the cluster's last agreed members; it acknowledges no write until the cluster heals", transport.ErrUnavailable))
		return
	}
	if write && s.logFail {
		*res = transport.ResultError(walError(n.walErr()))
		return
	}
	id := it.GetRequestId()
	if write && id != 0 {
		if e, ok := ps.dedup.get(id); ok {
			// A retry of a write already applied: answer as the first time,
			// and make sure the backups have it (they skip what they have).
			*res = &nsv1.Result{Code: e.code, Payload: e.result()}
			if e.code != int32(codes.OK) {
				*res = &nsv1.Result{Code: e.code, Message: "retried request failed the first time", Payload: e.result()}
			}
			if e.item != nil && t.BackupCount() > 0 {
				op := &nsv1.ReplicaOp{Partition: uint32(p), Epoch: ps.epoch, Lsn: e.lsn, NowUnixNano: e.now, Item: e.item}
				ack := &writeAck{op: op}
				if e.lsn == ps.lsn {
					ps.unacked = ack // the latest write: reads wait for this sending
				}
				s.written = append(s.written, replOp{op: op, env: env, pos: env.pos[j], ack: ack})
			}
			return
		}
		// The entry this write leaves in the dedup table counts in
		// --max-memory: it is reserved first, so that a write the node
		// has no room to remember is refused before it changes anything.
		// A KV write that can only remove keys is let through (its entry
		// charged past the limit): it is how room is made.
		_, isKV := st.(*kvPartition)
		if !ps.dedup.reserve(n.mem, dedupItemBytes(it), isKV && kv.OnlyFrees(it.GetPayload())) {
			n.memRefused.Add(1)
			*res = transport.ResultError(n.memoryFullError(fmt.Errorf("%w: no room for the request id's entry", kv.ErrMemoryFull)))
			return
		}
	}
	out, err := h.handleOwner(st, s.worker, p, it, now) // the owner: may refuse for memory (memory.go)
	if err != nil {
		*res = transport.ResultError(err)
	} else {
		r := s.newResult()
		r.Payload = out
		*res = r
	}
	if !write {
		h.holdRead(s, ps, p, env, env.pos[j], t)
		return
	}
	if err != nil && errors.Is(err, kv.ErrMemoryFull) {
		// Refused for lack of memory: it changed nothing here, and a copy
		// that replays it (a backup, the log at restart) would apply it
		// (kv.Store.HandleReplay is never refused). Nothing to record.
		ps.dedup.unreserve()
		return
	}
	ps.lsn++
	if id != 0 {
		ps.dedup.put(n.mem, id, dedupEntry{lsn: ps.lsn, code: (*res).GetCode(), payload: (*res).GetPayload(), now: now.UnixNano(), item: it}, false)
	}
	if s.log == nil && t.BackupCount() == 0 {
		return
	}
	op := &nsv1.ReplicaOp{Partition: uint32(p), Epoch: ps.epoch, Lsn: ps.lsn, NowUnixNano: now.UnixNano(), Item: it}
	if s.log != nil {
		if err := h.logWrite(s, op); err != nil {
			*res = transport.ResultError(walError(err))
			return
		}
	}
	var ack *writeAck
	if t.BackupCount() > 0 {
		ack = &writeAck{op: op}
		ps.unacked = ack
	}
	s.written = append(s.written, replOp{op: op, env: env, pos: env.pos[j], ack: ack})
}

// holdRead makes a read of partition p wait until the partition's latest
// write is on every backup (docs/handoff.md, "Reads"): until then a crash of
// this owner could take back the value read. If that write failed to reach
// a backup, it is sent again (same LSN: a backup skips what it has) and the
// read waits for that.
func (h *handler) holdRead(s *shard, ps *partState, p int32, env *envelope, pos int32, t *ring.Table) {
	a := ps.unacked
	if a == nil {
		return
	}
	if done, err := a.state(); done {
		if err == nil {
			ps.unacked = nil
			return
		}
		op := &nsv1.ReplicaOp{Partition: a.op.GetPartition(), Epoch: ps.epoch, Lsn: a.op.GetLsn(), NowUnixNano: a.op.GetNowUnixNano(), Item: a.op.GetItem()}
		a = &writeAck{op: op}
		ps.unacked = a
		s.written = append(s.written, replOp{op: op, ack: a})
	}
	env.call.add(1)
	a.hold(env, pos)
}

// commit ends a batch: it makes the batch's writes durable with one Sync of
// the worker's log (group commit), then queues each to the backups of its
// partition. A write's result is released only when the Sync succeeded and
// every backup applied it; if the Sync fails, no write of the batch is
// acknowledged (they answer Unavailable) and none is replicated.
func (h *handler) commit(s *shard, t *ring.Table) {
	if len(s.written) == 0 {
		return
	}
	n := h.n
	written := s.written
	s.written = s.written[:0]
	defer clear(written)
	if s.log != nil {
		if err := h.syncLog(s); err != nil {
			for _, w := range written {
				if w.env != nil {
					w.env.results[w.pos] = transport.ResultError(walError(err))
				}
				if w.ack != nil {
					w.ack.arm(0, walError(err))
				}
			}
			return
		}
	}
	for _, w := range written {
		var backups []ring.Member
		if t.BackupCount() > 0 {
			for _, b := range t.BackupsOf(int(w.op.GetPartition())) {
				if b.ID != n.cfg.NodeID {
					backups = append(backups, b)
				}
			}
		}
		if w.ack != nil {
			w.ack.arm(len(backups), nil) // before any backup can answer
		}
		for _, b := range backups {
			if w.env != nil {
				w.env.call.add(1)
			}
			n.repl.enqueue(b, w)
		}
	}
}

func isRead(st Partition, payload []byte) bool {
	if r, ok := st.(ReadOnlyClassifier); ok {
		return r.ReadOnly(payload)
	}
	return false
}

func (h *handler) safeHandle(st Partition, w int, p int32, it *nsv1.Item, now time.Time) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			h.n.log.Error("service handler panicked", "service", it.GetService(), "partition", p, "panic", v, "stack", string(stack))
			err = &worker.PanicError{Worker: w, Value: v, Stack: stack}
		}
	}()
	return st.Handle(now, it.GetPayload())
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
		local = make([]*envelope, W)
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
