package wal

import (
	"fmt"
	"io"
)

// SaveSnapshot durably stores data as partition's state at (epoch, lsn),
// replacing its previous snapshot: written to a temporary file, fsynced,
// renamed into place, and the directory fsynced. Recover then delivers data
// and replays only the partition's records appended after this call. The
// call then deletes the oldest segments whose every record is covered by a
// snapshot.
//
// data must reflect every record of the partition appended before the call
// (the worker snapshots its own state, so it does). Records still buffered
// need no Sync first: the snapshot holds their effect.
//
// Call it periodically (see Pinned), and also when the partition's state is
// installed from elsewhere (a handoff, a promotion, an empty start), so that
// records of an older history of the partition are never replayed on top of
// it. An error leaves the previous snapshot and every segment in place and
// does not fail the log.
func (l *Log) SaveSnapshot(partition uint32, epoch, lsn uint64, data []byte) error {
	return l.saveSnapshot(partition, snapMeta{epoch: epoch, lsn: lsn}, data)
}

// Drop records durably that this log no longer holds partition (it was
// handed to another worker or node): Recover delivers no snapshot for it and
// replays none of its records appended before the call, and segments are no
// longer kept for them.
func (l *Log) Drop(partition uint32, epoch uint64) error {
	return l.saveSnapshot(partition, snapMeta{epoch: epoch, dropped: true}, nil)
}

func (l *Log) saveSnapshot(p uint32, m snapMeta, data []byte) error {
	if err := l.usable(); err != nil {
		return err
	}
	m.pos = l.end()
	name := snapName(p)
	tmp := name + tmpSuffix
	head, tail := encodeSnapshot(p, m, data)
	fail := func(op string, err error) error {
		_ = l.fs.Remove(l.path(tmp))
		return fmt.Errorf("wal: snapshot of partition %d: %s %s: %w", p, op, tmp, err)
	}
	f, err := l.fs.Create(l.path(tmp))
	if err != nil {
		return fail("create", err)
	}
	for _, b := range [][]byte{head, data, tail} {
		var n int
		if n, err = f.Write(b); err == nil && n != len(b) {
			err = io.ErrShortWrite
		}
		if err != nil {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return fail("write", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fail("fsync", err)
	}
	if err := f.Close(); err != nil {
		return fail("close", err)
	}
	if err := l.fs.Rename(l.path(tmp), l.path(name)); err != nil {
		return fail("rename", err)
	}
	if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
		// The rename may or may not be durable; either snapshot is valid
		// for the segments still on disk, which stay: keep the old one's
		// position in memory so none is deleted on the new one's account.
		return fmt.Errorf("wal: snapshot of partition %d: fsync directory: %w", p, err)
	}
	l.snaps[p] = m
	l.stats.Snapshots++
	l.compact()
	return nil
}

// covered says every record in sg is older than its partition's snapshot.
func (l *Log) covered(sg *segment) bool {
	for p, end := range sg.last {
		m, ok := l.snaps[p]
		if !ok || m.pos.less(position{seg: sg.seq, off: end}) {
			return false
		}
	}
	return true
}

// compact deletes the oldest sealed segments as long as snapshots cover
// them. A deletion need not be durable: a segment that comes back after a
// crash is still covered, and Recover skips it.
func (l *Log) compact() {
	for len(l.segs) > 1 && l.covered(l.segs[0]) {
		name := segName(l.segs[0].seq)
		if err := l.fs.Remove(l.path(name)); err != nil {
			l.stats.CompactErr = fmt.Errorf("wal: remove covered %s: %w", name, err)
			return
		}
		l.segs[0] = nil
		l.segs = l.segs[1:]
		l.stats.SegmentsRemoved++
	}
	l.stats.CompactErr = nil
}

// Pinned returns the partitions whose records keep the oldest segment on
// disk: snapshotting them lets it (and maybe more) be deleted. Nil when only
// the active segment is left.
func (l *Log) Pinned() []uint32 {
	if len(l.segs) < 2 {
		return nil
	}
	sg := l.segs[0]
	var out []uint32
	for p, end := range sg.last {
		if m, ok := l.snaps[p]; !ok || m.pos.less(position{seg: sg.seq, off: end}) {
			out = append(out, p)
		}
	}
	return out
}

// Holds reports whether Recover would deliver anything for partition: a
// snapshot that is not a Drop, or records appended after its latest
// snapshot. A partition the log does not hold needs no snapshot to start
// empty: no older history of it can be replayed.
func (l *Log) Holds(partition uint32) bool {
	m, snap := l.snaps[partition]
	if snap && !m.dropped {
		return true
	}
	for _, sg := range l.segs {
		if end, ok := sg.last[partition]; ok && (!snap || m.pos.less(position{seg: sg.seq, off: end})) {
			return true
		}
	}
	return false
}
