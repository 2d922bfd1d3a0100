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
			usePS := ps != nil && (ps.status == owner.Owned ||
				ps.status == owner.Fenced && ps.svcs != nil && (ps.movedTo.id == from.ID || takeFenced))
			useRS := rs != nil && rs.svcs != nil
			if usePS && useRS && (rs.epoch > ps.epoch || rs.epoch == ps.epoch && rs.lsn > ps.lsn) {
				usePS = false
			}
			switch {
			case usePS:
				if ps.status == owner.Owned && ps.epoch > epoch {
					stale(ps.epoch)
					return
				}
				data, err = n.encodePartition(ps.epoch, ps.lsn, ps.svcs, &ps.dedup)
				if err != nil {
					return
				}
				ps.status = owner.Fenced
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
				if ps != nil && ps.status == owner.Owned {
					// A stale owned copy: never serve or hand it again.
					ps.status = owner.Fenced
					ps.svcs = nil
					ps.movedTo = moved{id: from.ID, addr: from.Addr}
					n.unlog(s, p, ps.epoch)
				}
			case ps != nil && ps.status == owner.Fenced && ps.movedTo.id != from.ID:
				// Handed on to another node: send the puller there.
				redirect = ps.movedTo
			case (ps == nil || ps.status == owner.Incoming) && n.isFetching(p):
				// Its state may be on its way here (the holder fenced it for
				// this node): the puller must ask again shortly.
				err = fmt.Errorf("%w: partition %d is arriving on node %s; retry", transport.ErrUnavailable, p, n.cfg.NodeID)
			}
		case nsv1.HandoffMode_HANDOFF_MODE_REPLICA:
			if ps != nil && ps.status == owner.Owned {
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
		if ps := s.parts[p]; ps != nil && ps.status == owner.Fenced && ps.movedTo.id == to {
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

// isFetching reports whether a pull of p is asking a holder right now.
func (n *Node) isFetching(p int32) bool {
	_, ok := n.fetching.Load(p)
	return ok
}
