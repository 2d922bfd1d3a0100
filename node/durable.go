package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"

	"google.golang.org/protobuf/proto"

	"github.com/nothingshared/ns/cluster"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
	"github.com/nothingshared/ns/wal"
)

// Durability (see docs/durability.md). With a data directory each worker
// owns a write-ahead log (package wal) in <data-dir>/w<worker>: it appends
// every write it applies to an owned partition (the ReplicaOp it also sends
// to backups), syncs once per batch before it releases the batch's results,
// snapshots a partition whenever its state is installed from elsewhere (a
// handoff, a promotion, an empty start) and now and then to let old
// segments go, and drops it when it hands it away. Backup copies are not
// logged: every acknowledged write is in its owner's log.
//
// <data-dir>/node.json keeps what a restarted node needs to rejoin safely:
// its id, the newest table epoch it saw (its first tables number above it,
// so recovered copies compare correctly with new ones) and the last agreed
// members. At start the node recovers every worker's log, then holds its
// partitions as copies to verify (dormant): each goes to its owner through
// the usual pull, where the newest copy in the cluster wins. Until every
// member of the previous run is back (or RecoveryWait passed), no partition
// starts empty and no pull settles for the copies it found: the missing
// member may hold newer ones.

// stateFile is the node's persisted cluster state in the data directory.
const stateFile = "node.json"

// nodeState is the content of stateFile.
type nodeState struct {
	NodeID  string   `json:"node_id"`
	Epoch   uint64   `json:"epoch"`
	Members []string `json:"members"` // the last agreed members, sorted
}

// durable is a node's data directory. Nil without one.
type durable struct {
	dir      string
	mode     wal.Mode
	segBytes int64

	// Set by open, read-only after New.
	prev      nodeState                   // the state file as the previous run left it
	recovered map[int32]*replicaState     // partition -> its state from the logs; Start hands it to the workers, then drops it
	logs      map[int]*wal.Log            // worker -> its log, handed to it by Start
	took      time.Duration               // recovery time
	stats     []atomic.Pointer[wal.Stats] // worker -> its log's counters, published by tick

	stateMu sync.Mutex // guards saved
	saved   nodeState  // last written

	// recovering is set while members of the previous run are missing.
	recovering   atomic.Bool
	missingMu    sync.Mutex
	missing      map[string]bool // the other agreed members of the previous run; read-only after New
	recoverUntil time.Time
	completeAt   uint64 // epoch of the first view with every one of them (guarded by missingMu)

	failed  atomic.Int32 // workers whose log has failed
	failMu  sync.Mutex
	lastErr error // the latest failure, for /readyz
}

// walError is the error a write gets when its worker's log has failed.
func walError(err error) error {
	return fmt.Errorf("%w: this node's write-ahead log failed (%v); it acknowledges no write until the log recovers (see /readyz)", transport.ErrUnavailable, err)
}

func (d *durable) openLog(w int) (*wal.Log, error) {
	l, err := wal.Open(wal.Config{Dir: filepath.Join(d.dir, "w"+strconv.Itoa(w)), Mode: d.mode, SegmentBytes: d.segBytes})
	if err != nil {
		if errors.Is(err, wal.ErrLocked) {
			return nil, fmt.Errorf("node: --data-dir %s is in use by another node process: %w", d.dir, err)
		}
		return nil, fmt.Errorf("node: open write-ahead log: %w", err)
	}
	return l, nil
}

// workerDirs lists the w<N> directories in dir, in order.
func workerDirs(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("node: --data-dir: %w", err)
	}
	var out []int
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, "w") {
			continue
		}
		w, err := strconv.Atoi(name[1:])
		if err != nil || w < 0 || strconv.Itoa(w) != name[1:] {
			continue
		}
		out = append(out, w)
	}
	sort.Ints(out)
	return out, nil
}

// installRecovered runs on worker w when the node starts: it takes its log
// and holds the partitions recovered for it as dormant copies (the plan
// verifies each before it is served).
func (n *Node) installRecovered(s *shard) {
	d := n.dur
	s.log = d.logs[s.worker]
	now := time.Now()
	for p, rs := range d.recovered {
		if int(p)%n.pool.Size() != s.worker {
			continue
		}
		s.parts[p] = &partState{status: owner.Owned, dormant: true, epoch: rs.epoch, lsn: rs.lsn,
			svcs: fillSvcs(rs.svcs, len(n.svcList)), dedup: rs.dedup, since: now}
	}
	s.lastSnap = now
	n.publishWALStats(s)
}

// logWrite appends one applied write to the worker's log.
func (h *handler) logWrite(s *shard, op *nsv1.ReplicaOp) error {
	var err error
	s.scratch, err = proto.MarshalOptions{}.MarshalAppend(s.scratch[:0], op)
	if err != nil {
		return err
	}
	err = s.log.Append(wal.Record{Partition: op.GetPartition(), Epoch: op.GetEpoch(), LSN: op.GetLsn(),
		RequestID: op.GetItem().GetRequestId(), Payload: s.scratch})
	if err != nil && !errors.Is(err, wal.ErrTooLarge) {
		h.n.walFailed(s, err)
	}
	return err
}

// syncLog is the group commit of a batch.
func (h *handler) syncLog(s *shard) error {
	err := s.log.Sync()
	if err != nil {
		h.n.walFailed(s, err)
	}
	return err
}

// walFailed records that worker s's log failed: the worker refuses writes
// until tick reopens the log.
func (n *Node) walFailed(s *shard, err error) {
	if s.logFail {
		return
	}
	s.logFail = true
	n.dur.failed.Add(1)
	n.dur.failMu.Lock()
	n.dur.lastErr = err
	n.dur.failMu.Unlock()
	n.log.Error("write-ahead log failed: this worker acknowledges no write until it recovers", "worker", s.worker, "dir", s.log.Dir(), "err", err)
}

// persist makes partition p's current state the start of its history in the
// worker's log (an install, a promotion, an empty start). Failing it fails
// the log: the state cannot be served durably.
func (n *Node) persist(s *shard, p int32, ps *partState) {
	if s.log == nil || s.log.Err() != nil {
		return
	}
	if ps.lsn == 0 && !s.log.Holds(uint32(p)) && emptyState(ps.svcs) {
		// An empty start with no older history in the log: nothing to
		// cut off, nothing to save (it would cost a file per partition).
		return
	}
	if err := n.snapshotTo(s.log, p, ps.epoch, ps.lsn, ps.svcs, &ps.dedup); err != nil {
		// The log itself still works, but this state is not in it: refuse
		// writes (fail closed) until tick reopens the log and snapshots
		// every partition.
		n.walFailed(s, fmt.Errorf("snapshot of partition %d: %w", p, err))
	}
}

// snapshotTo saves a partition's state as its snapshot in log l.
func (n *Node) snapshotTo(l *wal.Log, p int32, epoch, lsn uint64, svcs []Partition, d *dedup) error {
	data, err := n.encodePartition(epoch, lsn, svcs, d)
	if err != nil {
		return err
	}
	return l.SaveSnapshot(uint32(p), epoch, lsn, data)
}

// emptyState reports whether no service has state in the partition yet.
func emptyState(svcs []Partition) bool {
	for _, st := range svcs {
		if st != nil {
			return false
		}
	}
	return true
}

// unlog records that worker s no longer holds partition p's state (handed
// away or found stale), so a restart does not bring it back.
func (n *Node) unlog(s *shard, p int32, epoch uint64) {
	if s.log == nil || s.log.Err() != nil {
		return
	}
	if err := s.log.Drop(uint32(p), epoch); err != nil {
		n.rlog.Warn("cannot record a partition's handoff in the write-ahead log; a restart may recover a stale copy (the newer copy wins)", "partition", p, "err", err)
	}
}

// snapshotInterval bounds how often tick snapshots the partitions that keep
// old log segments. A variable for tests.
var snapshotInterval = 5 * time.Second

// walTick is the worker's log housekeeping, from tick: snapshot the
// partitions pinning old segments, reopen a failed log, publish counters.
func (n *Node) walTick(s *shard, now time.Time) {
	if s.log == nil {
		return
	}
	if s.logFail {
		n.reopenLog(s)
	} else if now.Sub(s.lastSnap) >= snapshotInterval {
		s.lastSnap = now
		for _, p := range s.log.Pinned() {
			ps := s.parts[int32(p)]
			if ps != nil && ps.status == owner.Incoming {
				continue // its copy here may be the fallback of the pull under way
			}
			if ps == nil || ps.svcs == nil {
				// Handed away without a Drop (it failed): record it now.
				n.unlog(s, int32(p), 0)
				continue
			}
			if err := n.snapshotTo(s.log, int32(p), ps.epoch, ps.lsn, ps.svcs, &ps.dedup); err != nil {
				n.rlog.Warn("periodic partition snapshot failed; old log segments stay", "partition", p, "err", err)
				break
			}
		}
	}
	n.publishWALStats(s)
}

// reopenLog tries to bring a failed log back (the disk has room again, the
// device answers): close it, open and recover it (which cuts what the
// failure left half-written), then snapshot every partition the worker
// holds, since their state in memory may include writes the failed log
// lost (never acknowledged, but visible). Only then are writes accepted
// again.
func (n *Node) reopenLog(s *shard) {
	now := time.Now()
	if now.Sub(s.lastSnap) < time.Second {
		return
	}
	s.lastSnap = now
	_ = s.log.Close()
	d := n.dur
	l, err := d.openLog(s.worker)
	if err == nil {
		_, err = l.Recover(nil, nil)
	}
	if err == nil {
		for p, ps := range s.parts {
			if ps.svcs == nil || ps.status == owner.Incoming {
				continue
			}
			if err = n.snapshotTo(l, p, ps.epoch, ps.lsn, ps.svcs, &ps.dedup); err != nil {
				break
			}
		}
	}
	if err != nil {
		if l != nil {
			_ = l.Close()
		}
		// The old log stays in place, closed: writes stay refused.
		n.rlog.Warn("write-ahead log still failing; retrying", "worker", s.worker, "err", err)
		return
	}
	s.log = l
	s.logFail = false
	d.failed.Add(-1)
	n.log.Info("write-ahead log recovered: acknowledging writes again", "worker", s.worker, "dir", l.Dir())
}

func (n *Node) publishWALStats(s *shard) {
	st := s.log.Stats()
	if s.logFail && st.Err == nil {
		st.Err = n.walErr()
	}
	n.dur.stats[s.worker].Store(&st)
}

// walErr returns the latest log failure while any worker's log is failed.
func (n *Node) walErr() error {
	if n.dur == nil || n.dur.failed.Load() == 0 {
		return nil
	}
	n.dur.failMu.Lock()
	defer n.dur.failMu.Unlock()
	return n.dur.lastErr
}

// saveState writes the state file when the epoch or the agreed members
// changed: temporary file, fsync, rename, directory fsync.
func (n *Node) saveState(epoch uint64, agreed []string) {
	d := n.dur
	if d == nil {
		return
	}
	slices.Sort(agreed)
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	if epoch <= d.saved.Epoch && slices.Equal(agreed, d.saved.Members) {
		return
	}
	st := nodeState{NodeID: n.cfg.NodeID, Epoch: max(epoch, d.saved.Epoch), Members: agreed}
	if err := writeFileSync(filepath.Join(d.dir, stateFile), st); err != nil {
		n.rlog.Warn("cannot save the node state file; a restart may wait less for its peers", "err", err)
		return
	}
	d.saved = st
}

func writeFileSync(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// noteMembers tells recovery which members a view at epoch has: recovery
// is complete from the first view holding every member of the previous run.
func (n *Node) noteMembers(members []cluster.Member, epoch uint64) {
	d := n.dur
	if d == nil || !d.recovering.Load() {
		return
	}
	d.missingMu.Lock()
	defer d.missingMu.Unlock()
	seen := map[string]bool{}
	for _, m := range members {
		seen[m.ID] = true
	}
	for id := range d.missing {
		if !seen[id] {
			return
		}
	}
	d.completeAt = epoch
	d.recovering.Store(false)
	n.log.Info("every member of the previous run is back; recovery complete", "epoch", epoch)
}

// awaitingPeers reports the members of the previous run that table t lacks,
// while they matter: after a restart from the data directory, until a table
// held them all (tables from then on follow the usual rules) or until
// RecoveryWait passed (then the node gives up waiting, and says so once).
// A pull under such a table must not settle for the copies it found, and a
// partition must not start empty: a missing member may hold newer copies.
func (n *Node) awaitingPeers(t *ring.Table) []string {
	d := n.dur
	if d == nil || len(d.missing) == 0 {
		return nil
	}
	d.missingMu.Lock()
	defer d.missingMu.Unlock()
	if !d.recovering.Load() && t.Epoch() >= d.completeAt {
		return nil
	}
	if time.Now().After(d.recoverUntil) {
		if d.recovering.CompareAndSwap(true, false) {
			n.log.Warn("members of the previous run did not come back within the recovery wait; serving without their copies",
				"missing", slices.Sorted(maps.Keys(d.missing)), "recovery_wait", n.cfg.RecoveryWait)
		}
		d.completeAt = 0
		return nil
	}
	var out []string
	for id := range d.missing {
		if t.MemberIndex(id) < 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// closeLogs closes the logs no worker took (the node never started); the
// workers close theirs when they stop (handler.Shutdown).
func (n *Node) closeLogs() {
	if n.dur == nil {
		return
	}
	for _, l := range n.dur.logs {
		_ = l.Close() // a second Close only returns wal.ErrClosed
	}
}
