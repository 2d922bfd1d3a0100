package node

import (
	"context"
	"slices"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"
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
	if !o.verifyOnly {
		n.hist.add(told)
		n.hist.add(t)
	}
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
// table t (told is the table before; see planOpts). The decisions are
// owner.PlanOwned, owner.PlanAway and owner.Resync; plan carries them out.
func (n *Node) plan(s *shard, told, t *ring.Table, o planOpts) planResult {
	var pr planResult
	now := time.Now()
	self := t.MemberIndex(n.cfg.NodeID)
	tt := n.planTables(told, t, o)
	P, W := t.Partitions(), n.pool.Size()
	for pi := s.worker; pi < P; pi += W {
		p := int32(pi)
		if t.OwnerIndex(pi) == self && self >= 0 {
			n.planOwned(s, &pr, p, told, t, tt, o, now)
			continue
		}
		if o.verifyOnly {
			continue
		}
		n.planAway(s, &pr, p, told, t, tt, o.quorum, self, now)
	}
	return pr
}

// planTables is what a plan knows of the change from told to t.
func (n *Node) planTables(told, t *ring.Table, o planOpts) owner.Tables {
	var toldEpoch uint64
	if told != nil {
		toldEpoch = told.Epoch()
	}
	raise := o.quorum
	if told != nil {
		for _, m := range told.Members() {
			if t.MemberIndex(m.ID) < 0 {
				raise = false
				break
			}
		}
	}
	return owner.Tables{
		Continuous: owner.ContinuousTables(toldEpoch, t.Epoch(), o.gap),
		Raise:      raise,
		VerifyOnly: o.verifyOnly,
	}
}

// planOwned carries out owner.PlanOwned for a partition t gives this node.
func (n *Node) planOwned(s *shard, pr *planResult, p int32, told, t *ring.Table, tt owner.Tables, o planOpts, now time.Time) {
	gen := o.gen
	pi := int(p)
	ps, rs := s.parts[p], s.replicas[p]
	h := owner.Held{
		WasOwner: told != nil && told.Owner(pi).ID == n.cfg.NodeID,
		Replica:  rs != nil && rs.svcs != nil,
	}
	if ps != nil {
		h.Status, h.Dormant, h.Verified, h.HasData = ps.status, ps.dormant, ps.gen == gen, ps.svcs != nil
	}
	if !tt.VerifyOnly && (h.Status == owner.None || h.Status == owner.Fenced) {
		h.NoOtherHolder = len(n.pullCandidates(pi, told, t)) == 0 && len(n.awaitingPeers(t)) == 0
	}
	switch owner.PlanOwned(tt, h) {
	case owner.Keep:
		// Backups fenced by a puller at this epoch keep accepting this
		// owner's writes.
		if tt.Raise {
			ps.epoch = max(ps.epoch, t.Epoch())
		}
		if o.quorum {
			ps.servedAt = t.Epoch()
		}
	case owner.Reverify:
		s.parts[p] = &partState{status: owner.Incoming, epoch: t.Epoch(), since: now, fallback: ps}
		pr.pulls = append(pr.pulls, p)
	case owner.ContinuePull:
		pr.pulls = append(pr.pulls, p)
	case owner.StartEmpty:
		nps := &partState{status: owner.Owned, epoch: t.Epoch(), svcs: make([]Partition, len(n.svcList)), since: now, gen: gen, servedAt: t.Epoch()}
		s.parts[p] = nps
		n.persist(s, p, nps)
		pr.empty++
	case owner.StartPull:
		nps := &partState{status: owner.Incoming, epoch: t.Epoch(), since: now}
		if ps != nil {
			nps.parked = ps.parked
			if ps.status == owner.Fenced && ps.svcs != nil {
				nps.fallback = ps
			}
		}
		if nps.fallback == nil && h.Replica {
			// This node's backup copy, should nothing newer be found.
			nps.fallback = &partState{epoch: rs.epoch, lsn: rs.lsn, svcs: rs.svcs, dedup: rs.dedup, fromReplica: true}
		}
		s.parts[p] = nps
		pr.pulls = append(pr.pulls, p)
	}
	if rs != nil && s.parts[p] != nil && s.parts[p].status != owner.Owned {
		rs.orphan = now
	}
}

// planAway carries out owner.PlanAway and owner.Resync for a partition t
// gives another node.
func (n *Node) planAway(s *shard, pr *planResult, p int32, told, t *ring.Table, tt owner.Tables, quorum bool, self int, now time.Time) {
	pi := int(p)
	ps, rs := s.parts[p], s.replicas[p]
	if ps != nil {
		switch owner.PlanAway(ps.status) {
		case owner.MarkDormant:
			ps.dormant = true
		case owner.Abandon:
			for _, pk := range ps.parked {
				pk.env.results[pk.env.pos[pk.j]] = transport.ResultError(movedError(t, pi))
				pk.env.call.finish()
			}
			if fb := ps.fallback; fb != nil {
				fb.dormant = true
				if fb.status != owner.Fenced {
					fb.status = owner.Owned
				}
				s.parts[p] = fb
			} else {
				delete(s.parts, p)
			}
		}
	}
	if !slices.Contains(t.BackupIndexes(pi), self) {
		if rs != nil && rs.orphan.IsZero() {
			rs.orphan = now
		}
		return
	}
	b := owner.Backup{Exists: rs != nil, OwnerChanged: told == nil || told.Owner(pi).ID != t.Owner(pi).ID}
	if rs != nil {
		b.Syncing, b.Orphaned = rs.syncing, !rs.orphan.IsZero()
	} else {
		rs = &replicaState{}
		s.replicas[p] = rs
	}
	rs.syncing = owner.Resync(tt, b)
	rs.orphan = time.Time{}
	if !rs.syncing && quorum {
		rs.syncedAt = t.Epoch()
	}
	if rs.syncing {
		pr.syncs = append(pr.syncs, p)
	}
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
