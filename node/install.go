package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
)

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
			err = n.installOwned(s, h, p, epoch, gen, d, data != nil, now, t)
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
		if e := n.ownershipEpoch(t); e > 0 && slices.Contains(t.BackupIndexes(int(p)), t.MemberIndex(n.cfg.NodeID)) {
			rs.syncedAt = e
		}
		h.releaseBuffered(rs, p)
		if !rs.syncing {
			rs.source = ""
		}
	})
	if xerr != nil {
		return xerr
	}
	return err
}

// installOwned carries out an owner install on p's worker: the newest of
// the pulled copy d (pulled false: none was found), this node's fallback
// and its backup copy wins (owner.Choose); the partition is owned and its
// parked items run.
func (n *Node) installOwned(s *shard, h *handler, p int32, epoch, gen uint64, d *decodedPartition, pulled bool, now time.Time, t *ring.Table) error {
	ps := s.parts[p]
	if ps != nil && ps.status == owner.Owned {
		return fmt.Errorf("partition %d is already owned here", p)
	}
	if ps == nil || ps.status != owner.Incoming {
		if !pulled {
			return fmt.Errorf("partition %d is no longer incoming here", p)
		}
		// The table moved the partition on while its state was on the
		// way: the holder is fenced, so this node must keep the state
		// (owned but not served) for the next owner to pull.
		ps = &partState{status: owner.Incoming, dormant: true}
		s.parts[p] = ps
	}
	fb, rs := ps.fallback, s.replicas[p]
	c := owner.Copies{Pulled: owner.Version{Epoch: d.epoch, LSN: d.lsn}, HavePulled: pulled}
	if c.HasFallback = fb != nil && fb.svcs != nil; c.HasFallback {
		c.Fallback = owner.Version{Epoch: fb.epoch, LSN: fb.lsn}
	}
	if c.HasReplica = rs != nil && rs.svcs != nil; c.HasReplica {
		c.Replica = owner.Version{Epoch: rs.epoch, LSN: rs.lsn}
	}
	ownCopy := false // the state is this worker's own copy: its history is in the log already
	switch ch := owner.Choose(c); {
	case ch == owner.Fallback && !fb.fromReplica:
		ownCopy = true
		d = &decodedPartition{epoch: fb.epoch, lsn: fb.lsn, svcs: fillSvcs(fb.svcs, len(n.svcList)), dedup: fb.dedup}
		ps.unacked = fb.unacked // its latest write may still be on its way to the backups
	case ch == owner.OwnReplica, ch == owner.Fallback && c.HasReplica:
		// This node's backup copy (the fallback the pull was planned with,
		// or newer than anything found) is taken over whole, as it is now.
		d = &decodedPartition{epoch: rs.epoch, lsn: rs.lsn, svcs: fillSvcs(rs.svcs, len(n.svcList)), dedup: rs.dedup}
		delete(s.replicas, p)
		failBuffered(rs, fmt.Errorf("%w: this node now owns partition %d", transport.ErrNotOwner, p))
	case ch == owner.Fallback:
		// A backup copy planned as the fallback, gone since.
		d = &decodedPartition{epoch: fb.epoch, lsn: fb.lsn, svcs: fillSvcs(fb.svcs, len(n.svcList)), dedup: fb.dedup}
	}
	ps.fallback = nil
	ps.status = owner.Owned
	// The copy serves under the table current now if it names this node the
	// owner: it covers that table (owner.Reply.Covers), not only the one
	// the pull began under (epoch; 0 under a minority table). Found by
	// TestFaultCrash; the script is install-after-a-table-change.
	ps.servedAt = epoch
	if e := n.ownershipEpoch(t); e > 0 && t.Owner(int(p)).ID == n.cfg.NodeID {
		ps.servedAt = max(epoch, e)
	}
	ps.gen = gen
	ps.epoch = max(epoch, d.epoch)
	ps.lsn = d.lsn
	ps.svcs = d.svcs
	ps.dedup = d.dedup
	ps.since = now
	// Durable before it serves: the log's history of p starts here (unless
	// it is this worker's own copy, logged already).
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
	return nil
}
