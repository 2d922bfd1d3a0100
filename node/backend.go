package node

import (
	"context"
	"sort"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"

	"github.com/nothingshared/ns/cluster"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
)

// backend is the node as the gRPC services see it: the data path
// (transport.Dispatcher), the cluster service (transport.Cluster) and the
// peer service (transport.Peer).
type backend Node

var (
	_ transport.Dispatcher = (*backend)(nil)
	_ transport.Cluster    = (*backend)(nil)
	_ transport.Peer       = (*backend)(nil)
)

func (b *backend) n() *Node { return (*Node)(b) }

func (b *backend) NodeID() string { return b.cfg.NodeID }

func (b *backend) Dispatch(ctx context.Context, items []*nsv1.Item, forwarded bool) []*nsv1.Result {
	res := b.n().Dispatch(ctx, items, forwarded)
	b.n().countResults(res, forwarded)
	return res
}

func (b *backend) Table() *ring.Table { return b.table.Load() }

func (b *backend) Replicate(ctx context.Context, req *nsv1.ReplicateRequest) []*nsv1.Result {
	return b.n().Replicate(ctx, req)
}

func (b *backend) HotKeys(ctx context.Context, limit int) ([]*nsv1.HotKey, error) {
	ks, err := b.n().HotKeys(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*nsv1.HotKey, len(ks))
	for i, k := range ks {
		out[i] = &nsv1.HotKey{Key: k.Key, Count: k.Count, Error: k.Error, Truncated: k.Truncated,
			Worker: uint32(k.Worker), Partition: int32(k.Partition)}
	}
	return out, nil
}

func (b *backend) Handoff(stream nsv1.PeerService_HandoffServer) error { return b.n().Handoff(stream) }

func (b *backend) WatchTable() (<-chan struct{}, func()) { return b.n().watch() }

func (b *backend) Leave() error {
	b.n().Leave()
	return nil
}

func memberState(s cluster.State) nsv1.MemberState {
	switch s {
	case cluster.StateAlive:
		return nsv1.MemberState_MEMBER_STATE_ALIVE
	case cluster.StateSuspect:
		return nsv1.MemberState_MEMBER_STATE_SUSPECT
	case cluster.StateDead:
		return nsv1.MemberState_MEMBER_STATE_DEAD
	case cluster.StateLeft:
		return nsv1.MemberState_MEMBER_STATE_LEFT
	}
	return nsv1.MemberState_MEMBER_STATE_UNSPECIFIED
}

func (b *backend) Members() []*nsv1.Member {
	t := b.table.Load()
	ms := b.members.Members()
	out := make([]*nsv1.Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, &nsv1.Member{
			Id:               m.ID,
			GossipAddr:       m.GossipAddr,
			GrpcAddr:         m.Meta.GRPCAddr,
			State:            memberState(m.State),
			Zone:             m.Meta.Zone,
			Workers:          uint32(m.Meta.Workers),
			Version:          m.Meta.Version,
			PartitionsOwned:  uint32(len(t.Owned(m.ID))),
			PartitionsBackup: uint32(len(t.BackedUp(m.ID))),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out
}

func (b *backend) Stats() *nsv1.StatsResponse {
	n := b.n()
	t := n.table.Load()
	owned := t.Owned(n.cfg.NodeID)
	perWorker := make([]uint32, n.pool.Size())
	for _, p := range owned {
		perWorker[p%len(perWorker)]++
	}
	_, incoming, _, replicas := n.partitionStates()
	resp := &nsv1.StatsResponse{
		NodeId:             n.cfg.NodeID,
		TableEpoch:         t.Epoch(),
		PartitionsIncoming: uint32(incoming),
		Replicas:           uint32(replicas),
		Handoffs:           n.handoffs.Load(),
		HandoffBytes:       n.handoffBytes.Load(),
		Quorum:             n.quorum.Load(),
		PartitionsOwned:    uint32(len(owned)),
		Forwarded:          n.forwarded.Load(),
		Keys:               n.countKeys(),
		Version:            n.cfg.Version,
	}
	if !n.started.IsZero() {
		resp.UptimeSeconds = time.Since(n.started).Seconds()
	}
	for _, s := range n.pool.Stats() {
		resp.Workers = append(resp.Workers, &nsv1.WorkerStats{
			Id:          uint32(s.Worker),
			Enqueued:    s.Enqueued,
			Processed:   s.Processed,
			Dropped:     s.Dropped,
			Panics:      s.Panics,
			Restarts:    s.Restarts,
			QueueDepth:  uint64(s.QueueDepth),
			Batches:     s.Batches,
			P50Us:       float64(s.Latency.P50) / 1e3,
			P99Us:       float64(s.Latency.P99) / 1e3,
			P999Us:      float64(s.Latency.P999) / 1e3,
			Partitions:  perWorker[s.Worker],
			CircuitOpen: s.CircuitOpen,
		})
	}
	return resp
}

// countKeys asks every worker for its key count through the priority lane.
func (n *Node) countKeys() uint64 {
	var total uint64
	for w := 0; w < n.pool.Size(); w++ {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		var c uint64
		if err := n.exec(ctx, w, func(s *shard) {
			for _, ps := range s.parts {
				if ps.status != owner.Owned {
					continue
				}
				for _, p := range ps.svcs {
					if sz, ok := p.(Sizer); ok {
						c += uint64(sz.Len())
					}
				}
			}
		}); err == nil {
			total += c
		}
		cancel()
	}
	return total
}
