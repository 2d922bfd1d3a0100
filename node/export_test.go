package node

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// Test hooks for the scenario tests of issue 13 (resume_test.go).

// BlockWorkersForTest stalls every worker of n until release is called, as
// if the process were paused: its sockets still accept, nothing runs. It
// returns once every worker is stalled.
func BlockWorkersForTest(n *Node) (release func()) {
	gate := make(chan struct{})
	var in sync.WaitGroup
	for w := 0; w < n.pool.Size(); w++ {
		in.Add(1)
		go func() {
			_ = n.pool.Exec(context.Background(), w, func(*shard) {
				in.Done()
				<-gate
			})
		}()
	}
	in.Wait()
	var once sync.Once
	return func() { once.Do(func() { close(gate) }) }
}

// ReplicaSnapshotForTest encodes n's backup copy of the partition of key
// (nil if it has none).
func ReplicaSnapshotForTest(n *Node, key []byte) []byte {
	p := int32(n.Table().PartitionOf(key))
	var out []byte
	_ = n.pool.Exec(context.Background(), int(p)%n.pool.Size(), func(s *shard) {
		if rs := s.replicas[p]; rs != nil && rs.svcs != nil {
			out, _ = n.encodePartition(rs.epoch, rs.lsn, rs.svcs, &rs.dedup)
		}
	})
	return out
}

// RestoreReplicaForTest replaces n's backup copy of the partition of key
// with data (from ReplicaSnapshotForTest): an older copy, as a backup that
// missed writes would hold.
func RestoreReplicaForTest(n *Node, key []byte, data []byte) error {
	p := int32(n.Table().PartitionOf(key))
	d, err := n.decodePartition(int(p), data)
	if err != nil {
		return err
	}
	return n.pool.Exec(context.Background(), int(p)%n.pool.Size(), func(s *shard) {
		s.replicas[p] = &replicaState{epoch: d.epoch, lsn: d.lsn, svcs: d.svcs, dedup: d.dedup}
	})
}

// RepullForTest makes n pull the partition of key again, as a backup's
// refusal of one of its writes does (replicate.go), and waits until n
// serves it again; false if it did not within 10s.
func RepullForTest(n *Node, key []byte) bool {
	p := int32(n.Table().PartitionOf(key))
	w := int(p) % n.pool.Size()
	var before *partState
	_ = n.pool.Exec(context.Background(), w, func(s *shard) { before = s.parts[p] })
	if before == nil {
		return false
	}
	n.requestRepull(p, before.epoch, time.Now().UnixNano())
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		again := false
		_ = n.pool.Exec(context.Background(), w, func(s *shard) {
			ps := s.parts[p]
			again = ps != before && ps != nil && ps.status == owner.Owned
		})
		if again {
			return true
		}
	}
	return false
}

// DispatchForTest is the node's dispatch entry point, for node_test's
// benchmarks.
func (n *Node) DispatchForTest(ctx context.Context, items []*nsv1.Item, forwarded bool) []*nsv1.Result {
	return n.dispatch(ctx, items, forwarded)
}

// MemoryAccountForTest returns n's memory usage (what --max-memory counts)
// and, counted afresh on the workers, what the copies n holds account for:
// the bytes of every KV store and request-id dedup table reachable from its
// partitions (owned, incoming with a fallback, fenced) and backup copies,
// each counted once, and how many dedup entries they hold. It collects
// garbage first, so that the charges of dropped copies have been given back
// (a cleanup runs soon after, not during, the collection: callers poll).
func MemoryAccountForTest(n *Node) (used, counted int64, entries int) {
	runtime.GC()
	stores := map[*kvPartition]bool{}
	tables := map[*dedupTable]bool{}
	add := func(svcs []Partition, d dedup) {
		for _, p := range svcs {
			if kp, ok := p.(*kvPartition); ok && !stores[kp] {
				stores[kp] = true
				counted += int64(kp.Bytes())
			}
		}
		if d.t != nil && !tables[d.t] {
			tables[d.t] = true
			counted += d.bytes()
			entries += d.len()
		}
	}
	for w := 0; w < n.pool.Size(); w++ {
		// Run on the worker: the copies are its alone.
		_ = n.exec(context.Background(), w, func(s *shard) {
			for _, ps := range s.parts {
				for q := ps; q != nil; q = q.fallback {
					add(q.svcs, q.dedup)
				}
			}
			for _, rs := range s.replicas {
				add(rs.svcs, rs.dedup)
			}
		})
	}
	return n.mem.Used(), counted, entries
}

// FetchTwiceForTest makes puller fetch the partition of key from holder
// twice over, in replica mode, as two overlapping pulls of one partition
// do (an owner pull and a replica pull across a table change), then has
// each acknowledge its own copy from its own goroutine. It returns each
// ack's outcome: nil once the holder read it and closed that stream.
func FetchTwiceForTest(puller, holder *Node, key []byte) ([2]error, error) {
	var acks [2]error
	p := int32(puller.Table().PartitionOf(key))
	h, ok := puller.Table().Member(holder.ID())
	if !ok {
		return acks, fmt.Errorf("holder %s not in the puller's table", holder.ID())
	}
	var held [2]*heldStream
	for i := range held {
		var meta fetchMeta
		_, found, _, hs, err := puller.fetch(h, p, fetchReq{epoch: puller.Table().Epoch(), mode: nsv1.HandoffMode_HANDOFF_MODE_REPLICA}, &meta)
		if err != nil || !found {
			return acks, fmt.Errorf("fetch %d: found=%v err=%v", i, found, err)
		}
		held[i] = hs
	}
	var wg sync.WaitGroup
	for i, hs := range held {
		wg.Go(func() { acks[i] = hs.ack(true) })
	}
	wg.Wait()
	return acks, nil
}
