package node

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/nothingshared/ns/kv"
	"github.com/nothingshared/ns/node/internal/owner"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
	"github.com/nothingshared/ns/wal"
	"github.com/nothingshared/ns/worker"
)

// The worker side of the data path: each worker's private state (shard),
// and the handler that applies the envelopes dispatch sends it.

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

	// prefetch loads an envelope's records ahead (handler.prefetch).
	prefetch kv.Prefetcher
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

// errMinority is what an owner answers while its table lacks quorum: it
// serves nothing then, reads included (owner.Minority).
var errMinority = fmt.Errorf("%w: this node sees fewer than half of the cluster's last agreed members; it serves nothing until the cluster heals", transport.ErrUnavailable)

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
// write (kv.Prefetcher), all of them before the first is applied: at
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
	s.prefetch.Run()
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
	it := owner.Item{Ours: t.OwnerIndex(int(p)) == self && self >= 0, Quorum: n.quorum.Load()}
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
	case owner.Minority:
		*res = transport.ResultError(errMinority)
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
		*res = transport.ResultError(errMinority)
		return
	}
	if write && s.logFail {
		*res = transport.ResultError(walError(n.walErr()))
		return
	}
	id := it.GetRequestId()
	if write && id != 0 {
		if e, ok := ps.dedup.get(id); ok {
			h.answerRetry(s, ps, e, env, j, t)
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
	h.recordWrite(s, ps, env, j, now, t)
}

// answerRetry answers a retry of a write already applied (its request id
// is in the dedup table as e) as the first time, and makes sure the
// backups have that write (they skip what they have).
func (h *handler) answerRetry(s *shard, ps *partState, e dedupEntry, env *envelope, j int, t *ring.Table) {
	res := &env.results[env.pos[j]]
	*res = &nsv1.Result{Code: e.code, Payload: e.result()}
	if e.code != int32(codes.OK) {
		*res = &nsv1.Result{Code: e.code, Message: "retried request failed the first time", Payload: e.result()}
	}
	if e.item != nil && t.BackupCount() > 0 {
		op := &nsv1.ReplicaOp{Partition: uint32(env.parts[j]), Epoch: ps.epoch, Lsn: e.lsn, NowUnixNano: e.now, Item: e.item}
		ack := &writeAck{op: op}
		if e.lsn == ps.lsn {
			ps.unacked = ack // the latest write: reads wait for this sending
		}
		s.written = append(s.written, replOp{op: op, env: env, pos: env.pos[j], ack: ack})
	}
}

// recordWrite records a write just applied to an owned partition (its
// result is set): the next LSN, its request id's dedup entry, its log
// record, and its place in the batch's writes, to be synced and
// replicated by commit.
func (h *handler) recordWrite(s *shard, ps *partState, env *envelope, j int, now time.Time, t *ring.Table) {
	it := env.items[j]
	res := &env.results[env.pos[j]]
	ps.lsn++
	if id := it.GetRequestId(); id != 0 {
		ps.dedup.put(h.n.mem, id, dedupEntry{lsn: ps.lsn, code: (*res).GetCode(), payload: (*res).GetPayload(), now: now.UnixNano(), item: it}, false)
	}
	if s.log == nil && t.BackupCount() == 0 {
		return
	}
	op := &nsv1.ReplicaOp{Partition: uint32(env.parts[j]), Epoch: ps.epoch, Lsn: ps.lsn, NowUnixNano: now.UnixNano(), Item: it}
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
