package node

import (
	"context"
	"fmt"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"
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
			ps := s.parts[p]
			if ps != nil && ps.status == owner.Owned {
				err = fmt.Errorf("partition %d is already owned here", p)
				return
			}
			if ps == nil || ps.status != owner.Incoming {
				if data == nil {
					err = fmt.Errorf("partition %d is no longer incoming here", p)
					return
				}
				// The table moved the partition on while its state was on
				// the way: the holder is fenced, so this node must keep the
				// state (owned but not served) for the next owner to pull.
				ps = &partState{status: owner.Incoming, dormant: true}
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
			ps.status = owner.Owned
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
