package node

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"slices"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/cluster"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
)

// Handoff (see docs/handoff.md): a node that becomes the owner of a
// partition pulls its state from the node that holds it, in owner mode: the
// holder snapshots the partition inside its worker and fences it in the same
// step, so every write it acknowledged is in the snapshot and it
// acknowledges none afterwards. Items for the partition wait (parked) in the
// new owner's worker until the state is installed. A node that becomes a
// backup pulls in replica mode from the owner, which keeps serving; writes
// after the snapshot reach the backup through replication (ordered by LSN).

// handoffChunk is the size of one Handoff chunk.
const handoffChunk = 256 << 10

// pullKind is what a pull is for.
type pullKind uint8

const (
	pullOwner pullKind = iota
	pullReplica
)

type pullKey struct {
	p    int32
	kind pullKind
}

// planResult is what one worker's plan asks the node to do.
type planResult struct {
	pulls []int32
	syncs []int32
	empty int
}

// planOpts are the circumstances of a plan.
type planOpts struct {
	// quorum: this node sees a majority of the agreed members.
	quorum bool
	// gap: the table before was planned without quorum (see applyView).
	gap bool
	// verifyOnly: the table did not change; only partitions owned but not
	// verified under the current lease generation are verified (replan).
	verifyOnly bool
	// gen is the lease generation the plan runs under (set by
	// rebalanceWith).
	gen uint64
}

// rebalance runs on every new table: each worker plans its partitions in
// its priority lane, then the node starts the pulls the plans ask for. told
// is the table before; quorum says this node sees a majority of the agreed
// members; gap says told was planned without (see applyView).
func (n *Node) rebalance(told, t *ring.Table, quorum, gap bool) {
	n.rebalanceWith(told, t, planOpts{quorum: quorum, gap: gap})
}

func (n *Node) rebalanceWith(told, t *ring.Table, o planOpts) {
	o.gen = n.lease.gen.Load()
	var total planResult
	for w := 0; w < n.pool.Size(); w++ {
		var pr planResult
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := n.exec(ctx, w, func(s *shard) { pr = n.plan(s, told, t, o) })
		cancel()
		if err != nil {
			n.log.Error("cannot plan partitions on worker", "worker", w, "err", err)
			continue
		}
		total.pulls = append(total.pulls, pr.pulls...)
		total.syncs = append(total.syncs, pr.syncs...)
		total.empty += pr.empty
	}
	incoming := make([]int, len(total.pulls))
	for i, p := range total.pulls {
		incoming[i] = int(p)
	}
	if len(incoming) > 0 || n.movingSet.Load() {
		n.setMoving(incoming, nil)
		n.movingSet.Store(len(incoming) > 0)
	}
	if len(total.pulls)+len(total.syncs) > 0 {
		n.log.Info("rebalancing", "epoch", t.Epoch(), "pull", len(total.pulls), "sync_backups", len(total.syncs), "new_empty", total.empty)
	}
	for _, p := range total.pulls {
		n.startPull(pullKey{p, pullOwner}, told)
	}
	for _, p := range total.syncs {
		n.startPull(pullKey{p, pullReplica}, told)
	}
}

// plan decides, on the worker, what each of its partitions needs under
// table t (told is the table before; see planOpts).
func (n *Node) plan(s *shard, told, t *ring.Table, o planOpts) planResult {
	quorum, gap := o.quorum, o.gap
	var pr planResult
	now := time.Now()
	self := t.MemberIndex(n.cfg.NodeID)
	P, W := t.Partitions(), n.pool.Size()
	// A table that follows the previous one directly (next epoch) cannot
	// hide an owner in between; after a jump (this node was paused, cut
	// off, or adopted a newer epoch) or a gap (told was a minority table,
	// whose epoch says nothing of the majority's tables) an owned partition
	// must be verified.
	continuous := !gap && told != nil && told.Epoch() > 0 && t.Epoch() <= told.Epoch()+1
	// Ownership that t confirms takes t's epoch, unless this node is on the
	// minority side, or a member of told is missing from t: one that failed
	// or was cut off may be on the other side of a network partition, which
	// may number a table of its own with t's epoch and take over there what
	// t leaves here; the copy it takes over (at t's epoch) must outrank this
	// one when the sides meet again.
	raise := quorum
	if told != nil {
		for _, m := range told.Members() {
			if t.MemberIndex(m.ID) < 0 {
				raise = false
				break
			}
		}
	}
	for pi := s.worker; pi < P; pi += W {
		p := int32(pi)
		ps, rs := s.parts[p], s.replicas[p]
		if t.OwnerIndex(pi) == self && self >= 0 {
			oldOwner := ""
			if told != nil {
				oldOwner = told.Owner(pi).ID
			}
			switch {
			case o.verifyOnly && (ps == nil || ps.status != psOwned || ps.dormant || ps.gen == o.gen):
				// Replan after the lease came back: only owned copies not
				// verified since are looked at; the rest waits for tables.
				if ps != nil && ps.status == psIncoming {
					pr.pulls = append(pr.pulls, p)
				}
			case ps != nil && ps.status == psOwned && !ps.dormant && continuous && oldOwner == n.cfg.NodeID && ps.gen == o.gen:
				// Still ours, confirmed by the next table: the ownership
				// takes its epoch (backups fenced by a puller at this epoch
				// keep accepting this owner's writes), if raise allows.
				if raise {
					ps.epoch = max(ps.epoch, t.Epoch())
				}
			case ps != nil && ps.status == psOwned:
				// Ours again after a gap (another node may have owned it and
				// taken writes meanwhile): pull what others hold, keep the
				// newest of theirs and this copy.
				nps := &partState{status: psIncoming, epoch: t.Epoch(), since: now, fallback: ps}
				s.parts[p] = nps
				pr.pulls = append(pr.pulls, p)
			case ps != nil && ps.status == psIncoming:
				pr.pulls = append(pr.pulls, p)
			case len(n.pullCandidates(pi, told, t)) == 0 && len(n.awaitingPeers(t)) == 0:
				// Nobody else could hold it: a new partition.
				nps := &partState{status: psOwned, epoch: t.Epoch(), svcs: make([]Partition, len(n.svcList)), since: now, gen: o.gen}
				s.parts[p] = nps
				n.persist(s, p, nps)
				pr.empty++
			default:
				nps := &partState{status: psIncoming, epoch: t.Epoch(), since: now}
				if ps != nil {
					nps.parked = ps.parked
					if ps.status == psFenced && ps.svcs != nil {
						nps.fallback = ps
					}
				}
				if nps.fallback == nil && rs != nil && rs.svcs != nil {
					// This node's backup copy, should nothing newer be found.
					nps.fallback = &partState{epoch: rs.epoch, lsn: rs.lsn, svcs: rs.svcs, dedup: rs.dedup, fromReplica: true}
				}
				s.parts[p] = nps
				pr.pulls = append(pr.pulls, p)
			}
			if rs != nil && s.parts[p].status != psOwned {
				rs.orphan = now
			}
			continue
		}
		if o.verifyOnly {
			continue
		}
		if ps != nil && ps.status == psOwned {
			// Not ours in this table: whoever owns it now pulls it from
			// here; if it comes back without that, it must be verified.
			ps.dormant = true
		}
		if ps != nil && ps.status == psIncoming {
			// No longer ours before its state arrived: its parked items go
			// where the table now says; a copy it had stays, dormant.
			for _, pk := range ps.parked {
				pk.env.results[pk.env.pos[pk.j]] = transport.ResultError(movedError(t, pi))
				pk.env.call.finish()
			}
			if fb := ps.fallback; fb != nil {
				fb.dormant = true
				if fb.status == psFenced {
					s.parts[p] = fb
				} else {
					fb.status = psOwned
					s.parts[p] = fb
				}
			} else {
				delete(s.parts, p)
			}
		}
		if slices.Contains(t.BackupIndexes(pi), self) {
			if rs == nil {
				rs = &replicaState{syncing: true}
				s.replicas[p] = rs
			}
			if !rs.orphan.IsZero() || told == nil || told.Owner(pi).ID != t.Owner(pi).ID || !continuous {
				// A copy that stopped following (orphaned), or whose owner
				// changed (the new owner's writes continue from the copy it
				// pulled, maybe not this one), or after tables this node
				// missed (paused, cut off: the owner may have pulled another
				// copy meanwhile, whose LSNs this copy would take for ones it
				// has): resynchronise. Its data stays available to pullers
				// meanwhile.
				rs.syncing = true
			}
			rs.orphan = time.Time{}
			if rs.syncing {
				pr.syncs = append(pr.syncs, p)
			}
		} else if rs != nil && rs.orphan.IsZero() {
			rs.orphan = now
		}
	}
	return pr
}

func fillSvcs(svcs []Partition, n int) []Partition {
	if len(svcs) == n {
		return svcs
	}
	out := make([]Partition, n)
	copy(out, svcs)
	return out
}

// pullCandidates lists, in order of preference, the nodes that may hold
// partition p's state: its previous owner, previous and current backups,
// then every other member.
func (n *Node) pullCandidates(p int, told, t *ring.Table) []ring.Member {
	var out []ring.Member
	seen := map[string]bool{n.cfg.NodeID: true}
	add := func(m ring.Member) {
		if !seen[m.ID] && m.Addr != "" {
			seen[m.ID] = true
			out = append(out, m)
		}
	}
	if told != nil && told.Epoch() > 0 {
		add(told.Owner(p))
		for _, m := range told.BackupsOf(p) {
			add(m)
		}
	}
	for _, m := range t.BackupsOf(p) {
		add(m)
	}
	for _, m := range t.Members() {
		add(m)
	}
	if told != nil && told.Epoch() > 0 {
		for _, m := range told.Members() {
			add(m)
		}
	}
	return out
}

// startPull starts a pull goroutine for k unless one is running.
func (n *Node) startPull(k pullKey, told *ring.Table) {
	n.pullMu.Lock()
	if n.stopping {
		n.pullMu.Unlock()
		return
	}
	if _, running := n.pulling[k]; running {
		// The running loop may be about to give up: make it look again.
		n.pulling[k] = told
		n.pullMu.Unlock()
		return
	}
	n.pulling[k] = nil
	n.pullWG.Add(1)
	n.pullMu.Unlock()
	go func() {
		defer n.pullWG.Done()
		for {
			n.pullLoop(k, told)
			n.pullMu.Lock()
			again, ok := n.pulling[k]
			if !ok || again == nil || n.stopping {
				delete(n.pulling, k)
				n.pullMu.Unlock()
				return
			}
			n.pulling[k] = nil
			told = again
			n.pullMu.Unlock()
		}
	}()
}

// requestSync asks for a backup copy of p to be (re)synchronised from its
// owner. Workers call it: it never blocks.
func (n *Node) requestSync(p int32) {
	select {
	case n.syncCh <- p:
	default:
	}
}

// requestPull asks for an owned partition found without state (fenced while
// the table names this node its owner) to be pulled. Workers call it.
func (n *Node) requestPull(p int32) {
	select {
	case n.pullCh <- p:
	default:
	}
}

// repull asks to pull an owned partition again: a backup refused a write
// the partition's owner sent at epoch (it follows a newer owner).
type repull struct {
	p     int32
	epoch uint64
	at    int64 // when the owner applied the refused write (unix ns)
}

// requestRepull marks an owned partition stale (a backup fenced it at a
// newer epoch: another node owned it meanwhile) and pulls it again, unless
// the refused write is older than the partition's current ownership (a
// replication batch queued before the partition was pulled again).
func (n *Node) requestRepull(p int32, epoch uint64, at int64) {
	select {
	case n.repullCh <- repull{p, epoch, at}:
	default:
	}
}

// syncLoop serves requestSync and requestRepull.
func (n *Node) syncLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-n.syncCh:
			n.startPull(pullKey{p, pullReplica}, nil)
		case p := <-n.pullCh:
			n.startPull(pullKey{p, pullOwner}, nil)
		case r := <-n.repullCh:
			p := r.p
			w := int(p) % n.pool.Size()
			t := n.table.Load()
			var again bool
			ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = n.exec(ectx, w, func(s *shard) {
				if ps := s.parts[p]; ps != nil && ps.status == psOwned && ps.epoch <= r.epoch && ps.since.UnixNano() <= r.at {
					n.log.Warn("partition was owned elsewhere meanwhile (fenced by a backup); pulling it again", "partition", p)
					// This copy competes with what the pull finds: the
					// newest wins (a backup's fence alone says nothing of
					// whether anyone wrote a newer copy).
					s.parts[p] = &partState{status: psIncoming, epoch: t.Epoch(), since: time.Now(), fallback: ps}
					again = true
				}
			})
			cancel()
			if again {
				n.startPull(pullKey{p, pullOwner}, nil)
			}
		}
	}
}

// stillNeeded reports whether pull k is still wanted under the current table.
func (n *Node) stillNeeded(k pullKey, t *ring.Table) bool {
	self := t.MemberIndex(n.cfg.NodeID)
	if self < 0 {
		return false
	}
	if k.kind == pullOwner {
		return t.OwnerIndex(int(k.p)) == self
	}
	if _, ok := n.replicaSources.Load(k.p); ok {
		return true // an owner is replicating to a copy that waits for a snapshot
	}
	return slices.Contains(t.BackupIndexes(int(k.p)), self)
}

// waiting reports whether the partition's worker still waits for the
// state: owner kind, the partition is incoming; replica kind, the copy is
// missing or resynchronising.
func (n *Node) waiting(k pullKey) bool {
	ctx, cancel := context.WithTimeout(n.runCtx, 5*time.Second)
	defer cancel()
	wait := true
	_ = n.exec(ctx, int(k.p)%n.pool.Size(), func(s *shard) {
		if k.kind == pullOwner {
			ps := s.parts[k.p]
			wait = ps != nil && ps.status == psIncoming
			return
		}
		rs := s.replicas[k.p]
		wait = rs == nil || rs.syncing
	})
	return wait
}

// pullLoop pulls until the state is installed, the pull is no longer
// needed, or the node stops.
func (n *Node) pullLoop(k pullKey, told *ring.Table) {
	backoff := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		if n.runCtx.Err() != nil {
			return
		}
		t := n.table.Load()
		if !n.stillNeeded(k, t) || !n.waiting(k) {
			return
		}
		done, err := n.pullOnce(k, told, t)
		if done {
			return
		}
		if attempt == 5 || attempt > 0 && attempt%20 == 0 {
			n.log.Warn("partition pull not done yet; retrying", "partition", k.p, "kind", k.kind, "attempt", attempt, "err", err)
		}
		// Jitter: two nodes pulling from each other must not keep colliding.
		d := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		select {
		case <-n.runCtx.Done():
			return
		case <-time.After(d):
		}
		if backoff < time.Second {
			backoff *= 2
		}
	}
}

// pullOnce tries every candidate once. It reports done when the state was
// installed (or, owner mode, when no live candidate holds any).
func (n *Node) pullOnce(k pullKey, told, t *ring.Table) (bool, error) {
	n.handoffSem <- struct{}{}
	defer func() { <-n.handoffSem }()
	// What this attempt finds is only as fresh as the lease it began under:
	// a copy installed after a lapse it did not see is verified again.
	gen := n.lease.gen.Load()
	if k.kind == pullOwner {
		defer n.fetching.Delete(k.p)
	}
	p := int(k.p)
	var cands []ring.Member
	mode := nsv1.HandoffMode_HANDOFF_MODE_OWNER
	if k.kind == pullOwner {
		cands = n.pullCandidates(p, told, t)
	} else {
		mode = nsv1.HandoffMode_HANDOFF_MODE_REPLICA
		if v, ok := n.replicaSources.Load(k.p); ok {
			if m, ok := t.Member(v.(string)); ok && m.ID != n.cfg.NodeID {
				cands = append(cands, m)
			}
		}
		if o := t.Owner(p); o.ID != n.cfg.NodeID && (len(cands) == 0 || cands[0].ID != o.ID) {
			cands = append(cands, o)
		}
	}
	// Owner mode also asks every live member gossip knows, not only those
	// of the tables: a node that just joined may build its first tables
	// from part of the cluster (members arrive one event at a time), and a
	// copy it installs under such a table takes the table's epoch: it must
	// be the newest copy anywhere, not only there.
	// With backups, members out of the table that the failure detector
	// declared dead (crashed, paused or cut off) are not asked: they would
	// cost every pull a stalled answer (3 s) while holding a handoff slot,
	// and every write they got acknowledged is on a backup, which is asked.
	// A member in the table, or out of it but not known dead (leaving), is
	// asked.
	dead := map[string]bool{}
	if k.kind == pullOwner {
		seen := map[string]bool{n.cfg.NodeID: true}
		for _, c := range cands {
			seen[c.ID] = true
		}
		for _, m := range n.members.Members() {
			switch {
			case m.State == cluster.StateDead:
				dead[m.ID] = t.BackupCount() > 0
			case m.State.Live() && !seen[m.ID] && m.Meta.GRPCAddr != "":
				seen[m.ID] = true
				cands = append(cands, ring.Member{ID: m.ID, Addr: m.Meta.GRPCAddr, Zone: m.Meta.Zone})
			}
		}
	}
	var errs []error
	blocked := false
	asked := map[string]bool{n.cfg.NodeID: true}
	redirected := map[string]ring.Member{} // target id -> the fenced holder that named it
	notThere := map[string]bool{}          // candidates that answered: not here, no pointer
	var answers []string
	var best *fetched
	var deadHolders []string // previous holders skipped as dead
	for ci := 0; ci < len(cands); ci++ {
		c := cands[ci]
		if asked[c.ID] {
			continue
		}
		asked[c.ID] = true
		if dead[c.ID] && t.MemberIndex(c.ID) < 0 {
			answers = append(answers, c.ID+":dead")
			if heldBy(told, p, c.ID) {
				deadHolders = append(deadHolders, c.ID)
			}
			continue
		}
		start := time.Now()
		if k.kind == pullOwner {
			n.fetching.Store(k.p, true)
		}
		data, found, redirect, err := n.fetch(c, k.p, t.Epoch(), mode, false)
		if holder, ok := redirected[c.ID]; ok && err == nil && !found && redirect.ID == "" {
			// The node the holder handed the partition to does not have it
			// (its pull failed after the fence): take the fenced copy.
			answers = append(answers, fmt.Sprintf("%s:not-there", c.ID))
			c = holder
			data, found, redirect, err = n.fetch(c, k.p, t.Epoch(), mode, true)
		}
		if _, ok := redirected[c.ID]; ok && err != nil && t.MemberIndex(c.ID) >= 0 {
			blocked = true // a live node known to have held it: never give up on it
		}
		answers = append(answers, fmt.Sprintf("%s:found=%v,redirect=%s,err=%v", c.ID, found, redirect.ID, err))
		if err == nil && !found && redirect.ID == "" {
			notThere[c.ID] = true
		}
		if redirect.ID != "" && notThere[redirect.ID] {
			// It was handed to a node that already said it does not have
			// it (its pull failed after the fence): take the fenced copy.
			answers = append(answers, fmt.Sprintf("%s:not-there", redirect.ID))
			data, found, redirect, err = n.fetch(c, k.p, t.Epoch(), mode, true)
			if err != nil {
				blocked = true
			}
		}
		if redirect.ID != "" && redirect.Addr == "" {
			// The holder fenced its copy for a node its table did not
			// have yet: find it.
			redirect.Addr = n.memberAddr(t, redirect.ID)
		}
		if redirect.ID != "" && redirect.Addr != "" && !asked[redirect.ID] {
			// The holder handed the partition on: ask that node next.
			redirected[redirect.ID] = c
			cands = slices.Insert(cands, ci+1, redirect)
		}
		if err != nil {
			n.noteHandoff(true, 0, time.Since(start), err)
			errs = append(errs, fmt.Errorf("%s: %w", c.ID, err))
			var he *holderError
			if t.MemberIndex(c.ID) >= 0 || errors.As(err, &he) {
				// A live member we could not ask may hold the state: retry.
				blocked = true
			}
			continue
		}
		if !found {
			continue
		}
		if k.kind == pullOwner {
			// Owner mode asks every candidate (each fences its copy) and
			// keeps the newest copy: highest ownership epoch, then most
			// writes. The order of the candidates must not decide.
			e, l, ok := peekPartition(data)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: %w", c.ID, errBadSnapshot))
				n.ackFalse(c, k.p)
				blocked = true
				continue
			}
			if best == nil || e > best.epoch || e == best.epoch && l > best.lsn {
				if best != nil {
					n.ackFalse(best.from, k.p)
				}
				best = &fetched{from: c, data: data, epoch: e, lsn: l, start: start}
			} else {
				n.ackFalse(c, k.p)
			}
			continue
		}
		if done, ierr := n.installFetched(k, t, gen, mode, c, data, start, answers); done {
			return true, nil
		} else if ierr != nil {
			errs = append(errs, ierr)
			blocked = true
		}
	}
	if missing := n.awaitingPeers(t); k.kind == pullOwner && len(missing) > 0 {
		// Restarted from the data directory: a member of the previous run
		// that is not back yet may hold a newer copy.
		if best != nil {
			n.ackFalse(best.from, k.p)
		}
		return false, fmt.Errorf("waiting for members of the previous run to come back: %v (answers %v)", missing, answers)
	}
	if best != nil {
		if blocked {
			// A live node we could not ask may hold a newer copy.
			n.ackFalse(best.from, k.p)
			return false, fmt.Errorf("%w (answers %v)", errors.Join(errs...), answers)
		}
		if done, ierr := n.installFetched(k, t, gen, mode, best.from, best.data, best.start, answers); done {
			return true, nil
		} else if ierr != nil {
			return false, ierr
		}
	}
	if k.kind == pullReplica || blocked {
		return false, fmt.Errorf("%w (answers %v)", errors.Join(errs...), answers)
	}
	// No live node holds the partition: it starts empty here (or from this
	// node's own earlier copy), if the table still gives it to this node.
	if !n.stillNeeded(k, n.table.Load()) {
		return true, nil
	}
	if len(deadHolders) > 0 && !n.holdsCopy(k.p) {
		// Its previous owner or backups are unreachable, and this node has
		// no copy of its own: they may be cut off, not crashed, with every
		// write acknowledged so far. Starting empty would lose those writes
		// (a network partition that cut an owner and its backup off
		// together). Wait until one of them answers again; a crashed one
		// answers "not here" once it restarts (or is reaped by gossip).
		return false, fmt.Errorf("waiting for the partition's previous holders %v, unreachable, before it starts without their copies (answers %v)", deadHolders, answers)
	}
	if err := n.install(k, n.ownershipEpoch(t), gen, nil); err != nil {
		return false, err
	}
	if len(cands) > 0 {
		n.log.Warn("no live copy of partition found; it starts empty", "partition", k.p, "epoch", t.Epoch(), "answers", answers)
	}
	return true, nil
}

// heldBy reports whether member id owned or backed up partition p in table
// t (nil or epoch 0: no).
func heldBy(t *ring.Table, p int, id string) bool {
	if t == nil || t.Epoch() == 0 {
		return false
	}
	if t.Owner(p).ID == id {
		return true
	}
	for _, b := range t.BackupsOf(p) {
		if b.ID == id {
			return true
		}
	}
	return false
}

// holdsCopy reports whether this node holds data of partition p it could
// start from: a copy it owned (the fallback of a pull) or a backup copy.
func (n *Node) holdsCopy(p int32) bool {
	ctx, cancel := context.WithTimeout(n.runCtx, 5*time.Second)
	defer cancel()
	held := true // unknown: do not wait on it
	_ = n.exec(ctx, int(p)%n.pool.Size(), func(s *shard) {
		ps, rs := s.parts[p], s.replicas[p]
		held = ps != nil && ps.fallback != nil && ps.fallback.svcs != nil || rs != nil && rs.svcs != nil
	})
	return held
}

// memberAddr is the gRPC address of member id, from table t or gossip; ""
// when neither knows it.
func (n *Node) memberAddr(t *ring.Table, id string) string {
	if m, ok := t.Member(id); ok && m.Addr != "" {
		return m.Addr
	}
	for _, m := range n.members.Members() {
		if m.ID == id && m.State.Live() {
			return m.Meta.GRPCAddr
		}
	}
	return ""
}

// fetch pulls a partition's state from m. found is false when m holds none.
func (n *Node) fetch(m ring.Member, p int32, epoch uint64, mode nsv1.HandoffMode, takeFenced bool) (data []byte, found bool, redirect ring.Member, err error) {
	data, found, redirect, err = n.fetchOnce(m, p, epoch, mode, takeFenced)
	if err != nil {
		answered := fromHolder(err)
		err = transport.FromError(err)
		if answered {
			err = &holderError{err}
		}
	}
	return data, found, redirect, err
}

func (n *Node) fetchOnce(m ring.Member, p int32, epoch uint64, mode nsv1.HandoffMode, takeFenced bool) (data []byte, found bool, redirect ring.Member, err error) {
	conn, err := n.peers.get(m.Addr)
	if err != nil {
		return nil, false, redirect, err
	}
	// The holder must answer within a few seconds (a paused or cut-off
	// node must not stall the pull); the whole transfer may take up to
	// HandoffTimeout.
	first := 5 * time.Second
	if n.table.Load().MemberIndex(m.ID) < 0 {
		first = 3 * time.Second // not in the table: gone, or leaving
	}
	ctx, cancel := context.WithTimeout(n.runCtx, n.cfg.HandoffTimeout)
	answered := make(chan struct{})
	stall := time.AfterFunc(first, func() {
		select {
		case <-answered:
		default:
			cancel()
		}
	})
	defer stall.Stop()
	began := time.Now()
	st, err := nsv1.NewPeerServiceClient(conn).Handoff(ctx)
	if err != nil {
		cancel()
		return nil, false, redirect, err
	}
	// The stream stays open until ack (or a failure) ends it.
	n.pendingCancels.Store(ackKey{m.ID, p}, cancel)
	n.pendingAcks.Store(ackKey{m.ID, p}, st)
	defer func() {
		if err != nil || !found {
			n.pendingAcks.Delete(ackKey{m.ID, p})
			if c, ok := n.pendingCancels.LoadAndDelete(ackKey{m.ID, p}); ok {
				c.(context.CancelFunc)()
			}
		}
	}()
	if err := st.Send(&nsv1.HandoffRequest{Msg: &nsv1.HandoffRequest_Start{Start: &nsv1.HandoffStart{
		Partition: uint32(p), Epoch: epoch, Mode: mode, From: n.cfg.NodeID, TakeFenced: takeFenced}}}); err != nil {
		return nil, false, redirect, err
	}
	var buf []byte
	for seq := uint64(0); ; seq++ {
		resp, err := st.Recv()
		if seq == 0 {
			close(answered)
			if err == nil {
				n.lease.note(m.ID, began)
			}
		}
		if err != nil {
			return nil, false, redirect, err
		}
		if !resp.GetFound() {
			_ = st.CloseSend()
			return nil, false, ring.Member{ID: resp.GetMovedToId(), Addr: resp.GetMovedToAddr()}, nil
		}
		if resp.GetSeq() != seq {
			return nil, false, redirect, fmt.Errorf("handoff chunk %d arrived as %d", seq, resp.GetSeq())
		}
		if crc32.Checksum(resp.GetData(), castagnoli) != resp.GetCrc32C() {
			return nil, false, redirect, fmt.Errorf("handoff chunk %d: checksum mismatch", seq)
		}
		buf = append(buf, resp.GetData()...)
		if resp.GetLast() {
			if uint64(len(buf)) != resp.GetTotalBytes() {
				return nil, false, redirect, fmt.Errorf("handoff: got %d bytes, sender says %d", len(buf), resp.GetTotalBytes())
			}
			return buf, true, redirect, nil
		}
	}
}

type ackKey struct {
	id string
	p  int32
}

// ack tells the holder the state is installed, so it can release it.
func (n *Node) ack(m ring.Member, p int32) {
	v, ok := n.pendingAcks.LoadAndDelete(ackKey{m.ID, p})
	if !ok {
		return
	}
	st := v.(nsv1.PeerService_HandoffClient)
	_ = st.Send(&nsv1.HandoffRequest{Msg: &nsv1.HandoffRequest_Ack{Ack: &nsv1.HandoffAck{Installed: true}}})
	_ = st.CloseSend()
	_, _ = st.Recv() // wait for the holder to close
	if c, ok := n.pendingCancels.LoadAndDelete(ackKey{m.ID, p}); ok {
		c.(context.CancelFunc)()
	}
}

// install puts pulled state (nil: empty) in place on p's worker and releases
// what waited for it. Owner mode: the partition is owned at epoch, or at its
// data's epoch if newer (see ownershipEpoch), verified under lease
// generation gen.
func (n *Node) install(k pullKey, epoch, gen uint64, data []byte) error {
	p := k.p
	var d *decodedPartition
	if data != nil {
		var err error
		if d, err = n.decodePartition(int(p), data); err != nil {
			return err
		}
	} else {
		d = &decodedPartition{svcs: make([]Partition, len(n.svcList))}
	}
	w := int(p) % n.pool.Size()
	ctx, cancel := context.WithTimeout(n.runCtx, 5*time.Second)
	defer cancel()
	h := &handler{n: n}
	var err error
	xerr := n.exec(ctx, w, func(s *shard) {
		now := time.Now()
		t := n.table.Load()
		if k.kind == pullOwner {
			ps := s.parts[p]
			if ps != nil && ps.status == psOwned {
				err = fmt.Errorf("partition %d is already owned here", p)
				return
			}
			if ps == nil || ps.status != psIncoming {
				if data == nil {
					err = fmt.Errorf("partition %d is no longer incoming here", p)
					return
				}
				// The table moved the partition on while its state was on
				// the way: the holder is fenced, so this node must keep the
				// state (owned but not served) for the next owner to pull.
				ps = &partState{status: psIncoming, dormant: true}
				s.parts[p] = ps
			}
			ownCopy := false // the state is this worker's own copy: its history is in the log already
			if fb := ps.fallback; fb != nil && fb.svcs != nil && (data == nil || fb.epoch > d.epoch || fb.epoch == d.epoch && fb.lsn > d.lsn) {
				// This node's own copy is newer than anything found.
				ownCopy = !fb.fromReplica
				if fb.fromReplica {
					if rs := s.replicas[p]; rs != nil && rs.svcs != nil {
						fb = &partState{epoch: rs.epoch, lsn: rs.lsn, svcs: rs.svcs, dedup: rs.dedup}
						delete(s.replicas, p)
						failBuffered(rs, fmt.Errorf("%w: this node now owns partition %d", transport.ErrNotOwner, p))
					}
				}
				d = &decodedPartition{epoch: fb.epoch, lsn: fb.lsn, svcs: fillSvcs(fb.svcs, len(n.svcList)), dedup: fb.dedup}
				if ownCopy {
					ps.unacked = fb.unacked // its latest write may still be on its way to the backups
				}
			}
			ps.fallback = nil
			if rs := s.replicas[p]; rs != nil && rs.svcs != nil && (rs.epoch > d.epoch || rs.epoch == d.epoch && rs.lsn > d.lsn) {
				// This node's backup copy is newer than what was pulled.
				d = &decodedPartition{epoch: rs.epoch, lsn: rs.lsn, svcs: fillSvcs(rs.svcs, len(n.svcList)), dedup: rs.dedup}
				delete(s.replicas, p)
				failBuffered(rs, fmt.Errorf("%w: this node now owns partition %d", transport.ErrNotOwner, p))
				ownCopy = false
			}
			ps.status = psOwned
			ps.gen = gen
			ps.epoch = max(epoch, d.epoch)
			ps.lsn = d.lsn
			ps.svcs = d.svcs
			ps.dedup = d.dedup
			ps.since = now
			// Durable before it serves: the log's history of p starts here
			// (unless it is this worker's own copy, logged already).
			if !ownCopy {
				n.persist(s, p, ps)
			}
			parked := ps.parked
			ps.parked = nil
			for _, pk := range parked {
				h.process(s, pk.env, pk.j, now, t)
			}
			h.commit(s, t)
			for _, pk := range parked {
				pk.env.call.finish()
			}
			return
		}
		rs := s.replicas[p]
		if rs == nil {
			rs = &replicaState{}
			s.replicas[p] = rs
		}
		if d.epoch < rs.fence && data != nil {
			err = fmt.Errorf("snapshot of partition %d is from epoch %d, copy is fenced at %d", p, d.epoch, rs.fence)
			return
		}
		rs.epoch = d.epoch
		rs.lsn = d.lsn
		rs.svcs = d.svcs
		rs.dedup = d.dedup
		rs.syncing = false
		h.releaseBuffered(rs, p)
		if !rs.syncing {
			n.replicaSources.Delete(p)
		}
	})
	if xerr != nil {
		return xerr
	}
	return err
}

// Handoff is the holder's side of a pull: it snapshots (and in owner mode
// fences) the partition on its worker, streams it in checksummed chunks,
// and releases it when the puller acknowledges the install.
func (n *Node) Handoff(stream nsv1.PeerService_HandoffServer) error {
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	start := req.GetStart()
	if start == nil {
		return status.Error(codes.InvalidArgument, "ns: handoff must begin with a start message")
	}
	p := int32(start.GetPartition())
	if int(p) >= n.cfg.Ring.Partitions {
		return status.Errorf(codes.InvalidArgument, "ns: partition %d out of range", p)
	}
	from := ring.Member{ID: start.GetFrom()}
	if m, ok := n.table.Load().Member(from.ID); ok {
		from = m
	} else {
		from.Addr = n.memberAddr(n.table.Load(), from.ID)
	}
	began := time.Now()
	data, found, movedTo, err := n.snapshotFor(p, start.GetEpoch(), start.GetMode(), from, start.GetTakeFenced())
	if err != nil {
		return transport.ToStatus(err).Err()
	}
	if !found {
		return stream.Send(&nsv1.HandoffResponse{Found: false, MovedToId: movedTo.id, MovedToAddr: movedTo.addr})
	}
	for seq, off := uint64(0), 0; ; seq++ {
		end := min(off+handoffChunk, len(data))
		chunk := data[off:end]
		last := end == len(data)
		resp := &nsv1.HandoffResponse{Found: true, Seq: seq, Data: chunk, Crc32C: crc32.Checksum(chunk, castagnoli), Last: last}
		if last {
			resp.TotalBytes = uint64(len(data))
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		off = end
		if last {
			break
		}
	}
	ack, err := stream.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if ack.GetAck().GetInstalled() && start.GetMode() == nsv1.HandoffMode_HANDOFF_MODE_OWNER {
		n.release(p, start.GetEpoch(), from.ID)
	}
	n.noteHandoff(false, int64(len(data)), time.Since(began), nil)
	return nil
}

// snapshotFor takes the snapshot a puller asked for, on the partition's
// worker.
func (n *Node) snapshotFor(p int32, epoch uint64, mode nsv1.HandoffMode, from ring.Member, takeFenced bool) (data []byte, found bool, redirect moved, err error) {
	w := int(p) % n.pool.Size()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	xerr := n.exec(ctx, w, func(s *shard) {
		ps, rs := s.parts[p], s.replicas[p]
		stale := func(have uint64) {
			err = fmt.Errorf("%w: partition %d is at epoch %d here, newer than the puller's %d", transport.ErrNotOwner, p, have, epoch)
		}
		cur := n.table.Load()
		if mode == nsv1.HandoffMode_HANDOFF_MODE_OWNER && cur.Owner(int(p)).ID == n.cfg.NodeID && cur.Epoch() >= epoch {
			// This node's table is as new as the puller's and names this
			// node the owner: the puller's table is stale (or names the
			// same epoch for another member set while gossip converges).
			err = fmt.Errorf("%w: node %s owns partition %d at table epoch %d (puller at %d); retry once tables agree", transport.ErrUnavailable, n.cfg.NodeID, p, cur.Epoch(), epoch)
			return
		}
		switch mode {
		case nsv1.HandoffMode_HANDOFF_MODE_OWNER:
			// The copies this node may hand over: its own (owned, or fenced
			// for this puller, or taken back) and its backup copy. The one
			// with the newest ownership epoch, then the most writes, wins:
			// an owned copy the table moved away long ago is stale next to
			// a backup copy that followed the later owner.
			usePS := ps != nil && (ps.status == psOwned ||
				ps.status == psFenced && ps.svcs != nil && (ps.movedTo.id == from.ID || takeFenced))
			useRS := rs != nil && rs.svcs != nil
			if usePS && useRS && (rs.epoch > ps.epoch || rs.epoch == ps.epoch && rs.lsn > ps.lsn) {
				usePS = false
			}
			switch {
			case usePS:
				if ps.status == psOwned && ps.epoch > epoch {
					stale(ps.epoch)
					return
				}
				data, err = n.encodePartition(ps.epoch, ps.lsn, ps.svcs, &ps.dedup)
				if err != nil {
					return
				}
				ps.status = psFenced
				ps.fence = max(ps.fence, epoch)
				ps.movedTo = moved{id: from.ID, addr: from.Addr}
				ps.since = time.Now()
				found = true
				if useRS {
					rs.fence = max(rs.fence, epoch)
				}
			case useRS:
				if rs.epoch > epoch {
					stale(rs.epoch)
					return
				}
				data, err = n.encodePartition(rs.epoch, rs.lsn, rs.svcs, &rs.dedup)
				rs.fence = max(rs.fence, epoch) // older owners are refused from now on
				found = err == nil
				if ps != nil && ps.status == psOwned {
					// A stale owned copy: never serve or hand it again.
					ps.status = psFenced
					ps.svcs = nil
					ps.movedTo = moved{id: from.ID, addr: from.Addr}
					n.unlog(s, p, ps.epoch)
				}
			case ps != nil && ps.status == psFenced && ps.movedTo.id != from.ID:
				// Handed on to another node: send the puller there.
				redirect = ps.movedTo
			case (ps == nil || ps.status == psIncoming) && n.isFetching(p):
				// Its state may be on its way here (the holder fenced it for
				// this node): the puller must ask again shortly.
				err = fmt.Errorf("%w: partition %d is arriving on node %s; retry", transport.ErrUnavailable, p, n.cfg.NodeID)
			}
		case nsv1.HandoffMode_HANDOFF_MODE_REPLICA:
			if ps != nil && ps.status == psOwned {
				// A backup starts from what this owner serves: never from
				// a copy it would not serve itself (not verified since the
				// lease lapsed, or dormant).
				gen, ok := n.lease.check(time.Now())
				if !ok || ps.dormant || ps.gen != gen {
					err = fmt.Errorf("%w: partition %d is being verified on node %s; retry", transport.ErrUnavailable, p, n.cfg.NodeID)
					return
				}
				data, err = n.encodePartition(ps.epoch, ps.lsn, ps.svcs, &ps.dedup)
				found = err == nil
			}
		default:
			err = fmt.Errorf("%w: handoff mode %v", transport.ErrInvalidArgument, mode)
		}
	})
	if xerr != nil {
		return nil, false, redirect, xerr
	}
	return data, found, redirect, err
}

// release frees a fenced partition's state once its new owner installed it;
// the fence itself stays, so late items are sent on.
func (n *Node) release(p int32, epoch uint64, to string) {
	w := int(p) % n.pool.Size()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.exec(ctx, w, func(s *shard) {
		if ps := s.parts[p]; ps != nil && ps.status == psFenced && ps.movedTo.id == to {
			ps.svcs = nil
			ps.dedup = dedup{}
			n.unlog(s, p, ps.fence)
		}
	})
}

// ownedCount counts the partitions table t gives this node that it still
// serves (owned, not yet handed off).
func (n *Node) ownedCount(t *ring.Table) int {
	total := 0
	self := t.MemberIndex(n.cfg.NodeID)
	for w := 0; w < n.pool.Size(); w++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = n.exec(ctx, w, func(s *shard) {
			for p, ps := range s.parts {
				if ps.status == psOwned && t.OwnerIndex(int(p)) == self {
					total++
				}
			}
		})
		cancel()
	}
	return total
}

// partitionStates counts partitions by state, and the in-sync backup
// copies the table asks of this node, for stats and readiness.
func (n *Node) partitionStates() (owned, incoming, fenced, replicas int) {
	for w := 0; w < n.pool.Size(); w++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = n.exec(ctx, w, func(s *shard) {
			for _, ps := range s.parts {
				switch ps.status {
				case psOwned:
					owned++
				case psIncoming:
					incoming++
				case psFenced:
					fenced++
				}
			}
			for _, rs := range s.replicas {
				if !rs.syncing && rs.orphan.IsZero() {
					replicas++
				}
			}
		})
		cancel()
	}
	return
}

// isFetching reports whether a pull of p is asking a holder right now.
func (n *Node) isFetching(p int32) bool {
	_, ok := n.fetching.Load(p)
	return ok
}

// fetched is a copy a pull received, not installed yet.
type fetched struct {
	from       ring.Member
	data       []byte
	epoch, lsn uint64
	start      time.Time
}

// installFetched installs a fetched copy and acknowledges it to its holder.
func (n *Node) installFetched(k pullKey, t *ring.Table, gen uint64, mode nsv1.HandoffMode, from ring.Member, data []byte, start time.Time, answers []string) (bool, error) {
	err := n.install(k, n.ownershipEpoch(t), gen, data)
	if k.kind == pullOwner {
		n.fetching.Delete(k.p)
	}
	if err != nil {
		n.ackFalse(from, k.p)
		return false, fmt.Errorf("install from %s: %w", from.ID, err)
	}
	n.ack(from, k.p)
	n.noteHandoff(true, int64(len(data)), time.Since(start), nil)
	n.handoffs.Add(1)
	n.handoffBytes.Add(uint64(len(data)))
	n.log.Info("partition installed", "partition", k.p, "mode", mode.String(), "from", from.ID, "bytes", len(data), "took", time.Since(start), "answers", answers)
	return true, nil
}

// ackFalse closes a holder's handoff stream without installing its copy
// (the holder keeps it, fenced).
func (n *Node) ackFalse(m ring.Member, p int32) {
	v, ok := n.pendingAcks.LoadAndDelete(ackKey{m.ID, p})
	if ok {
		st := v.(nsv1.PeerService_HandoffClient)
		_ = st.Send(&nsv1.HandoffRequest{Msg: &nsv1.HandoffRequest_Ack{Ack: &nsv1.HandoffAck{Installed: false}}})
		_ = st.CloseSend()
		_, _ = st.Recv()
	}
	if c, ok := n.pendingCancels.LoadAndDelete(ackKey{m.ID, p}); ok {
		c.(context.CancelFunc)()
	}
}

// holderError is an error the holder itself answered (as opposed to not
// being reachable): it is alive and may hold the state, so the pull retries.
type holderError struct{ error }

func (e *holderError) Unwrap() error { return e.error }

// fromHolder reports whether err is a status an ns node sent (it carries
// the ns ErrorInfo), not a transport failure.
func fromHolder(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == transport.ErrorDomain {
			return true
		}
	}
	return false
}
