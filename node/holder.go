package node

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"

	"github.com/nothingshared/ns/node/internal/owner"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// handoffChunk is the size of one Handoff chunk.
const handoffChunk = 256 << 10

// serveHandoff is the holder's side of a pull: it snapshots (and in owner mode
// fences) the partition on its worker, streams it in checksummed chunks,
// and releases it when the puller acknowledges the install.
func (n *Node) serveHandoff(stream nsv1.PeerService_HandoffServer) error {
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
	data, found, movedTo, covers, err := n.snapshotFor(p, start, from)
	if err != nil {
		return transport.ToStatus(err).Err()
	}
	hist := holdingsToProto(n.hist.holdings(int(p)))
	if !found {
		return stream.Send(&nsv1.HandoffResponse{Found: false, MovedToId: movedTo.id, MovedToAddr: movedTo.addr, History: hist})
	}
	for seq, off := uint64(0), 0; ; seq++ {
		end := min(off+handoffChunk, len(data))
		chunk := data[off:end]
		last := end == len(data)
		resp := &nsv1.HandoffResponse{Found: true, Seq: seq, Data: chunk, Crc32C: crc32.Checksum(chunk, castagnoli), Last: last}
		if seq == 0 {
			resp.History, resp.Covers = hist, covers
		}
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
		n.release(p, from.ID)
	}
	n.noteHandoff(false, int64(len(data)), time.Since(began), nil)
	return nil
}

// snapshotFor takes the snapshot a puller asked for, on the partition's
// worker.
// covers is what the copy covers (owner.Reply.Covers).
func (n *Node) snapshotFor(p int32, start *nsv1.HandoffStart, from ring.Member) (data []byte, found bool, redirect moved, covers uint64, err error) {
	epoch, mode, takeFenced := start.GetEpoch(), start.GetMode(), start.GetTakeFenced()
	w := int(p) % n.pool.Size()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	xerr := n.exec(ctx, w, func(s *shard) {
		switch mode {
		case nsv1.HandoffMode_HANDOFF_MODE_OWNER:
			data, found, redirect, covers, err = n.handOwned(s, p, owner.Ask{From: from.ID, Epoch: epoch, TakeFenced: takeFenced}, from)
		case nsv1.HandoffMode_HANDOFF_MODE_REPLICA:
			data, found, err = n.handReplica(s, p, start.GetFence())
		default:
			err = fmt.Errorf("%w: handoff mode %v", transport.ErrInvalidArgument, mode)
		}
	})
	if xerr != nil {
		return nil, false, redirect, 0, xerr
	}
	return data, found, redirect, covers, err
}

// handOwned carries out owner.Hand on p's worker: a puller that will own
// the partition asks for the newest copy here, fenced in the same step.
func (n *Node) handOwned(s *shard, p int32, a owner.Ask, from ring.Member) (data []byte, found bool, redirect moved, covers uint64, err error) {
	ps, rs := s.parts[p], s.replicas[p]
	cur := n.table.Load()
	h := owner.Holder{
		TableOwnsHere: cur.Owner(int(p)).ID == n.cfg.NodeID && cur.Epoch() >= a.Epoch,
		Replica:       rs != nil && rs.svcs != nil,
		Fetching:      ps != nil && ps.fetching,
	}
	if ps != nil {
		h.Status, h.Owned, h.HasData, h.MovedTo = ps.status, owner.Version{Epoch: ps.epoch, LSN: ps.lsn}, ps.svcs != nil, ps.movedTo.id
	}
	if rs != nil {
		h.ReplicaVer = owner.Version{Epoch: rs.epoch, LSN: rs.lsn}
	}
	stale := func(have uint64) error {
		return fmt.Errorf("%w: partition %d is at epoch %d here, newer than the puller's %d", transport.ErrNotOwner, p, have, a.Epoch)
	}
	switch owner.Hand(h, a) {
	case owner.RefuseOwner:
		// The puller's table is stale (or names the same epoch for
		// another member set while gossip converges).
		err = fmt.Errorf("%w: node %s owns partition %d at table epoch %d (puller at %d); retry once tables agree", transport.ErrUnavailable, n.cfg.NodeID, p, cur.Epoch(), a.Epoch)
	case owner.RefuseStale:
		if h.Status == owner.Owned && !h.ReplicaVer.Newer(h.Owned) {
			err = stale(ps.epoch)
		} else {
			err = stale(rs.epoch)
		}
	case owner.HandOwned:
		if data, err = n.encodePartition(ps.epoch, ps.lsn, ps.svcs, &ps.dedup); err != nil {
			return
		}
		ps.status = owner.Fenced
		ps.fence = max(ps.fence, a.Epoch)
		ps.movedTo = moved{id: from.ID, addr: from.Addr}
		ps.since = time.Now()
		found, covers = true, ps.servedAt
		if h.Replica {
			rs.fence = max(rs.fence, a.Epoch)
		}
	case owner.HandReplica:
		data, err = n.encodePartition(rs.epoch, rs.lsn, rs.svcs, &rs.dedup)
		rs.fence = max(rs.fence, a.Epoch) // older owners are refused from now on
		found, covers = err == nil, rs.syncedAt
		if ps != nil && ps.status == owner.Owned {
			// A stale owned copy: never serve or hand it again.
			ps.status = owner.Fenced
			ps.svcs = nil
			ps.movedTo = moved{id: from.ID, addr: from.Addr}
			n.unlog(s, p, ps.epoch)
		}
	case owner.Redirect:
		redirect = ps.movedTo
	case owner.Arriving:
		err = fmt.Errorf("%w: partition %d is arriving on node %s; retry", transport.ErrUnavailable, p, n.cfg.NodeID)
	}
	return
}

// handReplica snapshots an owned partition for a backup. A backup starts
// from what this owner serves: never from a copy it would not serve itself
// (not verified since the lease lapsed, or dormant). A backup whose copy is
// fenced above this owner's epoch (fence) would refuse the snapshot: some
// other node owned the partition at a newer epoch meanwhile, so this copy
// is pulled again (as when a backup refuses a write), and the backup
// retries. Without it, an owned partition nobody wrote to kept a backup
// refusing its snapshots for good (make soak, seed 1796678799204286712).
func (n *Node) handReplica(s *shard, p int32, fence uint64) (data []byte, found bool, err error) {
	ps := s.parts[p]
	if ps == nil || ps.status != owner.Owned {
		return nil, false, nil
	}
	if fence > ps.epoch {
		n.requestRepull(p, ps.epoch, time.Now().UnixNano())
		return nil, false, fmt.Errorf("%w: partition %d is at epoch %d on node %s, below the backup's fence %d: verifying its ownership; retry", transport.ErrUnavailable, p, ps.epoch, n.cfg.NodeID, fence)
	}
	gen, ok := n.lease.check(time.Now())
	if !ok || ps.dormant || ps.gen != gen {
		return nil, false, fmt.Errorf("%w: partition %d is being verified on node %s; retry", transport.ErrUnavailable, p, n.cfg.NodeID)
	}
	data, err = n.encodePartition(ps.epoch, ps.lsn, ps.svcs, &ps.dedup)
	return data, err == nil, err
}

// release frees a fenced partition's state once its new owner installed it;
// the fence itself stays, so late items are sent on.
func (n *Node) release(p int32, to string) {
	w := int(p) % n.pool.Size()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.exec(ctx, w, func(s *shard) {
		if ps := s.parts[p]; ps != nil && ps.status == owner.Fenced && ps.movedTo.id == to {
			ps.svcs = nil
			ps.dedup = dedup{} // its charge returns when the table is freed (dedup.go)
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
				if ps.status == owner.Owned && t.OwnerIndex(int(p)) == self {
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
				case owner.Owned:
					owned++
				case owner.Incoming:
					incoming++
				case owner.Fenced:
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
