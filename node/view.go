package node

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/nothingshared/ns/cluster"
	"github.com/nothingshared/ns/ring"
)

// Views and tables: the cluster layer hands a member view to onView; the
// view loop turns it into a partition table, tracks quorum and minority
// tables, and rebalances (plan.go).

// tableFailure records a view that could not become a partition table.
type tableFailure struct {
	epoch   uint64 // the view's epoch
	members int    // members in the view
	err     error  // from ring.New
}

// String says which view has no table and why, for Ready and the status page.
func (f *tableFailure) String() string {
	return fmt.Sprintf("membership epoch %d (%d members) has no partition table, the previous one is kept: %v", f.epoch, f.members, f.err)
}

// onView is the cluster's callback; it must not block: it hands the view to
// viewLoop, replacing any view not yet taken.
func (n *Node) onView(v cluster.View) {
	for {
		select {
		case n.viewCh <- v:
			return
		default:
		}
		select {
		case <-n.viewCh:
		default:
		}
	}
}

func (n *Node) viewLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case v := <-n.viewCh:
			n.applyView(v)
		case <-n.replanCh:
			n.replan()
		}
	}
}

// applyView builds the table for a view, publishes it, and rebalances the
// partitions that moved.
func (n *Node) applyView(v cluster.View) {
	if !n.formed.Load() {
		// A view of this node alone, before it ever saw its cluster, says
		// nothing about who holds what: wait for a real one, or for the
		// join timeout (then this node starts a new cluster).
		alone := len(v.Members) <= 1
		if alone && len(n.cfg.Cluster.Join) > 0 && time.Since(n.started) < n.cfg.JoinTimeout {
			n.retryViewAfter(n.cfg.JoinTimeout - time.Since(n.started))
			return
		}
		if err := n.members.Refused(); alone && len(n.cfg.Cluster.Join) > 0 && err != nil {
			// The seeds answered but place partitions differently: a
			// cluster of this node alone would own every partition next
			// to theirs. Wait (not ready, Ready says why) for an operator.
			n.log.Error("refused by the cluster's members; not starting a cluster alone", "err", err)
			n.retryViewAfter(n.cfg.JoinTimeout)
			return
		}
		if alone && len(n.cfg.Cluster.Join) > 0 {
			n.log.Warn("no seed answered within the join timeout; starting a new cluster", "seeds", n.cfg.Cluster.Join, "timeout", n.cfg.JoinTimeout)
		}
		n.formed.Store(true)
	}
	n.updateQuorum(v)
	members := make([]ring.Member, 0, len(v.Members))
	for _, m := range v.Members {
		members = append(members, ring.Member{ID: m.ID, Addr: m.Meta.GRPCAddr, Zone: m.Meta.Zone})
	}
	old := n.table.Load()
	t, err := ring.New(n.cfg.Ring, v.Epoch, members)
	if err != nil {
		// Every node sees the same members and fails alike (more members
		// than partitions, say): all keep their last table, which still
		// agrees. Ready and the metrics say why until a view builds.
		n.tableErr.Store(&tableFailure{epoch: v.Epoch, members: len(members), err: err})
		n.obs().tableFailures.Add(1)
		n.log.Error("cannot build partition table; keeping the previous one", "epoch", v.Epoch, "members", len(members), "kept_epoch", old.Epoch(), "err", err)
		return
	}
	n.tableErr.Store(nil)
	if old != nil && old.Epoch() == t.Epoch() && old.Hash() == t.Hash() {
		return
	}
	quorum := n.quorum.Load()
	n.noteMinority(t, !quorum) // before any pull can see t
	n.table.Store(t)
	moves := ring.Diff(old, t)
	n.log.Info("partition table changed", "epoch", t.Epoch(), "hash", fmt.Sprintf("%016x", t.Hash()),
		"members", len(members), "moved", len(moves), "owned", len(t.Owned(n.cfg.NodeID)))
	// The minority side of a network partition numbers tables of its own,
	// which the majority never sees: the epochs of the two sides are
	// unrelated, and one number may name different tables. The minority
	// acknowledges no write; it still plans its tables (it serves reads from
	// what it holds), but no copy it owns takes the epoch of such a table,
	// so none outranks the majority's copies when the sides meet again; and
	// the first table planned with quorum again verifies every partition
	// this node owns (plan).
	gap := n.planGap
	n.planGap = !quorum
	if !quorum && !gap {
		n.log.Warn("minority side: partitions taken over or kept keep the epochs of their data until quorum returns", "epoch", t.Epoch())
	}
	n.rebalance(old, t, quorum, gap)
	n.notifyWatchers()
}

// requestReplan asks viewLoop to verify, under the current table, every
// owned partition not verified since the lease last lapsed. It never blocks.
func (n *Node) requestReplan() {
	select {
	case n.replanCh <- struct{}{}:
	default:
	}
}

// replan verifies, under the current table, every owned partition this node
// has not verified since its serving lease last lapsed (lease.go).
func (n *Node) replan() {
	t := n.table.Load()
	if t.Epoch() == 0 {
		return
	}
	n.rebalanceWith(t, t, planOpts{quorum: n.quorum.Load(), verifyOnly: true})
}

// noteMinority records whether table t was built on the minority side, and
// forgets minority tables too old for any pull to still use. Tables, not
// epoch numbers: the majority may number another table with the same epoch.
func (n *Node) noteMinority(t *ring.Table, minority bool) {
	n.minorityMu.Lock()
	defer n.minorityMu.Unlock()
	if minority {
		n.minority[t] = true
		return
	}
	for old := range n.minority {
		if old.Epoch()+64 < t.Epoch() {
			delete(n.minority, old)
		}
	}
}

// ownershipEpoch is the epoch a partition taken over under table t is owned
// at: t's, unless t was built on the minority side; then 0, and the copy
// keeps the epoch of its data (the minority's epochs must never outrank the
// majority's; see applyView).
func (n *Node) ownershipEpoch(t *ring.Table) uint64 {
	n.minorityMu.Lock()
	defer n.minorityMu.Unlock()
	if n.minority[t] {
		return 0
	}
	return t.Epoch()
}

// updateQuorum tracks the last agreed member set and whether this node sees
// at least half of it. Members that left gracefully leave the set; members
// that failed stay in it, so the side of a network partition with fewer than
// half of them stops acknowledging writes.
//
// Only the view loop calls it (applyView), so the state file is written in
// view order; it is written after quorumMu is released: the lease keeper
// takes quorumMu on every tick and must not wait for an fsync
// (node/locksordering.txt).
func (n *Node) updateQuorum(v cluster.View) {
	members := n.members.Members() // before quorumMu: cluster/ has locks of its own
	n.quorumMu.Lock()
	for _, m := range v.Members {
		n.agreed[m.ID] = true
	}
	var forget []string
	for _, m := range members {
		if m.State == cluster.StateLeft && n.agreed[m.ID] {
			delete(n.agreed, m.ID)
			forget = append(forget, m.ID)
		}
	}
	agreed := slices.Collect(maps.Keys(n.agreed))
	n.quorumMu.Unlock()
	for _, id := range forget {
		n.lease.forget(id)
	}
	ok := n.cfg.DisableQuorum || 2*len(v.Members) >= len(agreed)
	if n.dur != nil {
		n.noteMembers(v.Members, v.Epoch)
		n.saveState(v.Epoch, agreed)
	}
	if n.quorum.Swap(ok) != ok {
		if ok {
			n.log.Info("quorum regained: acknowledging writes again", "live", len(v.Members), "agreed", len(agreed))
		} else {
			n.log.Warn("minority side: fewer than half of the agreed members are live; refusing writes", "live", len(v.Members), "agreed", len(agreed))
		}
	}
}
