package wal

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"time"
)

// SnapshotFunc receives a partition's latest snapshot during Recover. data
// is the caller's to keep.
type SnapshotFunc func(partition uint32, data []byte, epoch, lsn uint64) error

// ReplayFunc receives, during Recover, a record that no snapshot covers.
// r.Payload is valid only during the call: copy it to keep it.
type ReplayFunc func(r Record) error

// RecoveryInfo says what Recover found, for the node's logs.
type RecoveryInfo struct {
	// Snapshots is the number of snapshots delivered; Dropped the number of
	// partitions whose latest snapshot is a Drop tombstone.
	Snapshots, Dropped int
	// Segments is the number of segment files read; Bytes their size.
	Segments int
	Bytes    int64
	// Replayed records were delivered; Skipped ones were covered by a
	// snapshot.
	Replayed, Skipped int
	// TruncatedBytes were cut from the end of the last segment
	// (TruncatedSegment) from offset TruncatedAt: a torn write or a bad
	// checksum in the unsynced tail. Zero when the log ended cleanly.
	TruncatedBytes   int64
	TruncatedSegment uint64
	TruncatedAt      int64
	// Duration is the time Recover took.
	Duration time.Duration
}

// Recover reads the log back, once, before the first Append: it delivers
// each partition's latest snapshot to snap (in partition order; a partition
// dropped with Drop gets none), then every record written after its
// partition's snapshot to replay, in log order. Every frame's checksum is
// verified. A torn or corrupt tail of the last segment is truncated (it held
// only records that were never acknowledged, see doc.go) and reported in the
// result; a bad frame in an older segment is ErrCorrupt. An error from snap
// or replay stops Recover and is returned as is. Either callback may be nil.
//
// Recover then starts a new segment: appends never go to a file that was
// read back.
func (l *Log) Recover(snap SnapshotFunc, replay ReplayFunc) (RecoveryInfo, error) {
	var info RecoveryInfo
	if l.err != nil {
		return info, l.err // an earlier Recover failed to start a segment
	}
	switch l.state {
	case stateReady:
		return info, ErrRecovered
	case stateClosed:
		return info, ErrClosed
	}
	start := time.Now()
	if err := l.loadSnapshots(snap, &info); err != nil {
		return info, err
	}
	var rd *bufio.Reader
	var scratch []byte
	for i := 0; i < len(l.segs); i++ {
		sg := l.segs[i]
		last := i == len(l.segs)-1
		removed, err := l.scanSegment(sg, last, replay, &rd, &scratch, &info)
		if err != nil {
			return info, err
		}
		if removed {
			l.segs = l.segs[:i]
		}
	}
	next := l.maxSeq + 1
	for _, m := range l.snaps {
		next = max(next, m.pos.seg+1)
	}
	if err := l.newSegment(next); err != nil {
		return info, err
	}
	l.state = stateReady
	l.compact()
	info.Duration = time.Since(start)
	return info, nil
}

func (l *Log) loadSnapshots(snap SnapshotFunc, info *RecoveryInfo) error {
	names, err := l.fs.ReadDir(l.cfg.Dir)
	if err != nil {
		return fmt.Errorf("wal: list %s: %w", l.cfg.Dir, err)
	}
	type loaded struct {
		p    uint32
		m    snapMeta
		data []byte
	}
	var all []loaded
	for _, name := range names {
		_, _, p, ok := parseName(name)
		if !ok {
			continue
		}
		b, err := l.readFile(name)
		if err != nil {
			return err
		}
		fp, m, data, err := decodeSnapshot(b)
		if err != nil {
			return corruptf("snapshot %s: %v", name, err)
		}
		if fp != p {
			return corruptf("snapshot %s holds partition %d", name, fp)
		}
		l.snaps[p] = m
		all = append(all, loaded{p, m, data})
	}
	slices.SortFunc(all, func(a, b loaded) int {
		if a.p < b.p {
			return -1
		}
		return 1
	})
	for _, s := range all {
		if s.m.dropped {
			info.Dropped++
			continue
		}
		info.Snapshots++
		if snap != nil {
			if err := snap(s.p, s.data, s.m.epoch, s.m.lsn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Log) readFile(name string) ([]byte, error) {
	f, err := l.fs.Open(l.path(name))
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, fmt.Errorf("wal: stat %s: %w", name, err)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("wal: read %s: %w", name, err)
	}
	return b, nil
}

// scanSegment verifies one segment, records which partitions it holds and
// replays what no snapshot covers. A torn tail of the last segment is
// truncated; removed says the last segment was removed altogether (its
// header never made it to disk).
func (l *Log) scanSegment(sg *segment, last bool, replay ReplayFunc, rdp **bufio.Reader, scratch *[]byte, info *RecoveryInfo) (removed bool, err error) {
	name := segName(sg.seq)
	f, err := l.fs.Open(l.path(name))
	if err != nil {
		return false, fmt.Errorf("wal: open %s: %w", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return false, fmt.Errorf("wal: stat %s: %w", name, err)
	}
	info.Segments++
	info.Bytes += size
	if *rdp == nil {
		*rdp = bufio.NewReaderSize(f, 1<<20)
	} else {
		(*rdp).Reset(f)
	}
	rd := *rdp
	var hdr [segHeaderLen]byte
	off := int64(0)
	torn := func(why string) (bool, error) {
		if !last {
			return false, corruptf("segment %s: %s at offset %d of %d (only the last segment may have a torn tail)", name, why, off, size)
		}
		info.TruncatedBytes = size - off
		info.TruncatedSegment = sg.seq
		info.TruncatedAt = off
		_ = f.Close()
		if off < segHeaderLen {
			if err := l.fs.Remove(l.path(name)); err != nil {
				return false, fmt.Errorf("wal: remove torn %s: %w", name, err)
			}
			if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
				return false, fmt.Errorf("wal: fsync directory after removing %s: %w", name, err)
			}
			return true, nil
		}
		if err := l.truncate(name, off); err != nil {
			return false, err
		}
		sg.size = off
		return false, nil
	}
	if size < segHeaderLen {
		return torn("short header")
	}
	if _, err := io.ReadFull(rd, hdr[:]); err != nil {
		return false, fmt.Errorf("wal: read %s: %w", name, err)
	}
	if err := checkSegHeader(hdr[:], sg.seq); err != nil {
		return torn(err.Error())
	}
	off = segHeaderLen
	var fh [frameHeaderLen]byte
	for off < size {
		if size-off < frameHeaderLen {
			return torn("short frame header")
		}
		if _, err := io.ReadFull(rd, fh[:]); err != nil {
			return false, fmt.Errorf("wal: read %s: %w", name, err)
		}
		n, crc, ok := frameHeader(fh[:])
		if !ok {
			return torn("bad frame length")
		}
		if int64(n) > size-off-frameHeaderLen {
			return torn("frame past the end")
		}
		if cap(*scratch) < n {
			*scratch = make([]byte, n)
		}
		body := (*scratch)[:n]
		if _, err := io.ReadFull(rd, body); err != nil {
			return false, fmt.Errorf("wal: read %s: %w", name, err)
		}
		r, ok := decodeBody(fh[:], body, crc)
		if !ok {
			return torn("checksum mismatch")
		}
		at := position{seg: sg.seq, off: off}
		off += int64(frameHeaderLen + n)
		sg.last[r.Partition] = off
		if m, ok := l.snaps[r.Partition]; ok && at.less(m.pos) {
			info.Skipped++
			continue
		}
		info.Replayed++
		if replay != nil {
			if err := replay(r); err != nil {
				return false, err
			}
		}
	}
	sg.size = off
	return false, nil
}

// truncate cuts a segment's torn tail and makes the cut durable.
func (l *Log) truncate(name string, off int64) error {
	f, err := l.fs.OpenRW(l.path(name))
	if err != nil {
		return fmt.Errorf("wal: open %s to truncate: %w", name, err)
	}
	err = f.Truncate(off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("wal: truncate %s at %d: %w", name, off, err)
	}
	return nil
}
