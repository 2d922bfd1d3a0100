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
			case o.verifyOnly && (ps == nil || ps.status != owner.Owned || ps.dormant || ps.gen == o.gen):
				// Replan after the lease came back: only owned copies not
				// verified since are looked at; the rest waits for tables.
				if ps != nil && ps.status == owner.Incoming {
					pr.pulls = append(pr.pulls, p)
				}
			case ps != nil && ps.status == owner.Owned && !ps.dormant && continuous && oldOwner == n.cfg.NodeID && ps.gen == o.gen:
				// Still ours, confirmed by the next table: the ownership
				// takes its epoch (backups fenced by a puller at this epoch
				// keep accepting this owner's writes), if raise allows.
				if raise {
					ps.epoch = max(ps.epoch, t.Epoch())
				}
			case ps != nil && ps.status == owner.Owned:
				// Ours again after a gap (another node may have owned it and
				// taken writes meanwhile): pull what others hold, keep the
				// newest of theirs and this copy.
				nps := &partState{status: owner.Incoming, epoch: t.Epoch(), since: now, fallback: ps}
				s.parts[p] = nps
				pr.pulls = append(pr.pulls, p)
			case ps != nil && ps.status == owner.Incoming:
				pr.pulls = append(pr.pulls, p)
			case len(n.pullCandidates(pi, told, t)) == 0 && len(n.awaitingPeers(t)) == 0:
				// Nobody else could hold it: a new partition.
				nps := &partState{status: owner.Owned, epoch: t.Epoch(), svcs: make([]Partition, len(n.svcList)), since: now, gen: o.gen}
				s.parts[p] = nps
				n.persist(s, p, nps)
				pr.empty++
			default:
				nps := &partState{status: owner.Incoming, epoch: t.Epoch(), since: now}
				if ps != nil {
					nps.parked = ps.parked
					if ps.status == owner.Fenced && ps.svcs != nil {
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
			if rs != nil && s.parts[p].status != owner.Owned {
				rs.orphan = now
			}
			continue
		}
		if o.verifyOnly {
			continue
		}
		if ps != nil && ps.status == owner.Owned {
			// Not ours in this table: whoever owns it now pulls it from
			// here; if it comes back without that, it must be verified.
			ps.dormant = true
		}
		if ps != nil && ps.status == owner.Incoming {
			// No longer ours before its state arrived: its parked items go
			// where the table now says; a copy it had stays, dormant.
			for _, pk := range ps.parked {
				pk.env.results[pk.env.pos[pk.j]] = transport.ResultError(movedError(t, pi))
				pk.env.call.finish()
			}
			if fb := ps.fallback; fb != nil {
				fb.dormant = true
				if fb.status == owner.Fenced {
					s.parts[p] = fb
				} else {
					fb.status = owner.Owned
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
