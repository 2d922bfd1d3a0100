package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/wal"
	"google.golang.org/protobuf/proto"
)

// openData opens the data directory: it checks the state file belongs to
// this node, recovers every worker's log (also those of a previous run with
// more workers) and decides which copy of each partition the node keeps. It
// runs in New, before anything is served.
func (n *Node) openData() (err error) {
	cfg := n.cfg
	d := &durable{
		dir: cfg.DataDir, mode: cfg.Fsync, segBytes: cfg.WALSegmentBytes,
		recovered: map[int32]*replicaState{}, logs: map[int]*wal.Log{},
		stats: make([]atomic.Pointer[wal.Stats], n.pool.Size()),
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return fmt.Errorf("node: --data-dir: %w", err)
	}
	defer func() {
		if err != nil {
			for _, l := range d.logs {
				_ = l.Close()
			}
		}
	}()
	if err := d.readState(cfg.NodeID); err != nil {
		return err
	}
	start := time.Now()
	found, total, err := n.recoverLogs(d)
	if err != nil {
		return err
	}
	if err := n.settleCopies(d, found); err != nil {
		return err
	}
	d.took = time.Since(start)
	d.saved = d.prev
	if len(d.prev.Members) > 1 {
		d.missing = map[string]bool{}
		for _, id := range d.prev.Members {
			if id != cfg.NodeID {
				d.missing[id] = true
			}
		}
		d.recovering.Store(true)
		d.recoverUntil = time.Now().Add(cfg.RecoveryWait)
	}
	n.dur = d
	var maxEpoch uint64
	for _, rs := range d.recovered {
		maxEpoch = max(maxEpoch, rs.epoch)
	}
	if e := max(maxEpoch, d.prev.Epoch); e > 0 {
		n.startEpoch = e + 1 // above every epoch the directory holds
	}
	n.log.Info("data directory recovered", "dir", d.dir, "fsync", d.mode.String(), "partitions", len(d.recovered),
		"segments", total.Segments, "bytes", total.Bytes, "replayed", total.Replayed, "snapshots", total.Snapshots,
		"epoch", n.startEpoch, "previous_members", d.prev.Members, "took", d.took)
	return nil
}

// readState reads the node state file of the data directory, if any.
func (d *durable) readState(nodeID string) error {
	b, err := os.ReadFile(filepath.Join(d.dir, stateFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &d.prev); err != nil {
			return fmt.Errorf("node: --data-dir %s: %s is unreadable (%v); restore it or start from an empty directory", d.dir, stateFile, err)
		}
		if d.prev.NodeID != nodeID {
			return fmt.Errorf("%w: --data-dir %s holds the data of node %q, not %q: give each node its own directory", ErrInvalidConfig, d.dir, d.prev.NodeID, nodeID)
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return fmt.Errorf("node: --data-dir: %w", err)
	}
	return nil
}

// copyAt is a partition's copy recovered from the log of worker log.
type copyAt struct {
	log int
	rs  *replicaState
}

// recoverLogs replays every worker's log of the data directory (and opens
// one for every worker of this run) and returns the copies found, by
// partition.
func (n *Node) recoverLogs(d *durable) (map[int32][]copyAt, wal.RecoveryInfo, error) {
	var total wal.RecoveryInfo // summed over the logs, for the log line
	dirs, err := workerDirs(d.dir)
	if err != nil {
		return nil, total, err
	}
	found := map[int32][]copyAt{}
	for _, w := range dirs {
		l, err := d.openLog(w)
		if err != nil {
			return nil, total, err
		}
		d.logs[w] = l
		parts, info, err := n.replayLog(l)
		if err != nil {
			return nil, total, fmt.Errorf("node: recover %s: %w (the log is damaged before its tail: restore the directory from a copy, or remove it to start this node empty)", l.Dir(), err)
		}
		if info.TruncatedBytes > 0 {
			n.log.Warn("write-ahead log ended in a torn or corrupt record; cut it off (it was never acknowledged)",
				"dir", l.Dir(), "segment", info.TruncatedSegment, "offset", info.TruncatedAt, "bytes", info.TruncatedBytes)
		}
		total.Snapshots += info.Snapshots
		total.Segments += info.Segments
		total.Bytes += info.Bytes
		total.Replayed += info.Replayed
		for p, rs := range parts {
			found[p] = append(found[p], copyAt{w, rs})
		}
	}
	// Every worker gets a log, also new ones.
	for w := 0; w < n.pool.Size(); w++ {
		if d.logs[w] != nil {
			continue
		}
		l, err := d.openLog(w)
		if err != nil {
			return nil, total, err
		}
		if _, err := l.Recover(nil, nil); err != nil {
			return nil, total, fmt.Errorf("node: recover %s: %w", l.Dir(), err)
		}
		d.logs[w] = l
	}
	return found, total, nil
}

// replayLog rebuilds the partitions one log holds: its snapshots, then its
// records in order.
func (n *Node) replayLog(l *wal.Log) (map[int32]*replicaState, wal.RecoveryInfo, error) {
	cfg := n.cfg
	h := &handler{n: n}
	parts := map[int32]*replicaState{}
	info, err := l.Recover(func(p uint32, data []byte, epoch, lsn uint64) error {
		if int(p) >= cfg.Ring.Partitions {
			return fmt.Errorf("partition %d out of range (--partitions %d)", p, cfg.Ring.Partitions)
		}
		dp, err := n.decodePartition(int(p), data)
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		parts[int32(p)] = &replicaState{epoch: epoch, lsn: lsn, svcs: dp.svcs, dedup: dp.dedup}
		return nil
	}, func(r wal.Record) error {
		if int(r.Partition) >= cfg.Ring.Partitions {
			return fmt.Errorf("record of partition %d out of range (--partitions %d)", r.Partition, cfg.Ring.Partitions)
		}
		var op nsv1.ReplicaOp
		if err := proto.Unmarshal(r.Payload, &op); err != nil {
			return fmt.Errorf("record of partition %d at lsn %d: %w", r.Partition, r.LSN, err)
		}
		p := int32(r.Partition)
		rs := parts[p]
		if rs == nil {
			rs = &replicaState{svcs: make([]Partition, len(n.svcList))}
			parts[p] = rs
		}
		h.applyReplicaOp(rs, &op, p)
		return nil
	})
	return parts, info, err
}

// settleCopies keeps one copy per partition, in the log of its worker now:
// a partition in another worker's log (the worker count changed) moves,
// and a second copy (a crash while it moved) loses to the newer one. Logs
// of workers this run does not have are removed, empty.
func (n *Node) settleCopies(d *durable, found map[int32][]copyAt) error {
	W := n.pool.Size()
	for p, copies := range found {
		best := copies[0]
		for _, c := range copies[1:] {
			if (owner.Version{Epoch: c.rs.epoch, LSN: c.rs.lsn}).Newer(owner.Version{Epoch: best.rs.epoch, LSN: best.rs.lsn}) {
				best = c
			}
		}
		home := int(p) % W
		if best.log != home {
			if err := n.snapshotTo(d.logs[home], p, best.rs.epoch, best.rs.lsn, best.rs.svcs, &best.rs.dedup); err != nil {
				return fmt.Errorf("node: move partition %d to worker %d's log: %w", p, home, err)
			}
		}
		for _, c := range copies {
			if c.log != home {
				if err := d.logs[c.log].Drop(uint32(p), c.rs.epoch); err != nil {
					return fmt.Errorf("node: drop partition %d from %s: %w", p, d.logs[c.log].Dir(), err)
				}
			}
		}
		d.recovered[p] = best.rs
	}
	for w, l := range d.logs {
		if w < W {
			continue
		}
		dir := l.Dir()
		_ = l.Close()
		delete(d.logs, w)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("node: remove %s (its partitions moved to the other workers' logs): %w", dir, err)
		}
	}
	return nil
}
