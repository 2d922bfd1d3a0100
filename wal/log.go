package wal

import (
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"path/filepath"
	"slices"
	"time"
)

// Record is one logged mutation of a partition: the node's replicated op as
// an opaque payload, with the ownership epoch, the partition's LSN and the
// request id it carried, so fencing and idempotency survive a restart.
type Record struct {
	Partition uint32
	Epoch     uint64
	LSN       uint64
	RequestID uint64
	Payload   []byte
}

// flushBytes is how many appended bytes are buffered before they are written
// to the segment file even without a Sync.
const flushBytes = 1 << 20

type lstate uint8

const (
	stateOpen   lstate = iota // opened, Recover not run
	stateReady                // appending
	stateClosed               // closed
)

// segment is a segment file the log knows: sealed ones, then the active one.
type segment struct {
	seq  uint64
	size int64 // bytes in the file (and, for the active one, in the buffer)
	// last is, per partition with records in the segment, the end offset of
	// its last record: the segment may be deleted once every one of these
	// partitions has a snapshot taken at or after that offset.
	last map[uint32]int64
}

// Log is the write-ahead log of one worker: the records of its partitions'
// writes in segment files, and one snapshot file per partition.
//
// A Log is not safe for concurrent use: the worker goroutine that owns the
// partitions is its only user, and the append path takes no lock.
type Log struct {
	cfg   Config
	fs    fileSystem
	lock  io.Closer
	state lstate
	err   error // sticky failure

	segs   []*segment // sorted by seq; after Recover the last one is active
	active file
	buf    []byte // appended, not yet written to active
	dirty  bool   // written to active since its last fsync

	snaps  map[uint32]snapMeta
	maxSeq uint64 // highest segment number seen: numbers are never reused

	stats Stats
}

// Stats is a snapshot of a Log's counters, for metrics.
type Stats struct {
	// Segments and Bytes are the segment files the log holds and their
	// total size, buffered bytes included.
	Segments int
	Bytes    int64
	// Appends, Syncs (fsyncs on the write path), Snapshots and
	// SegmentsRemoved count since Open.
	Appends, Syncs, Snapshots, SegmentsRemoved uint64
	// SyncTime is the total time spent in fsync on the write path.
	SyncTime time.Duration
	// CompactErr is the last failure to remove a covered segment (retried
	// after the next snapshot), or nil.
	CompactErr error
	// Err is the sticky failure, as Err returns it.
	Err error
}

// Open locks cfg.Dir (creating it if needed), removes the temporary files a
// crash may have left, and lists the segments and snapshots. Recover must
// run next, before anything is appended.
func Open(cfg Config) (*Log, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	fs := cfg.fs
	if err := fs.MkdirAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", cfg.Dir, err)
	}
	lock, err := fs.Lock(cfg.Dir)
	if err != nil {
		return nil, err
	}
	l := &Log{cfg: cfg, fs: fs, lock: lock, snaps: map[uint32]snapMeta{}}
	names, err := fs.ReadDir(cfg.Dir)
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("wal: list %s: %w", cfg.Dir, err)
	}
	for _, name := range names {
		if filepath.Ext(name) == tmpSuffix {
			// A snapshot that was being written: never renamed into place,
			// so never relied upon.
			if err := fs.Remove(l.path(name)); err != nil {
				_ = lock.Close()
				return nil, fmt.Errorf("wal: remove %s: %w", name, err)
			}
			continue
		}
		if seq, ok, _, _ := parseName(name); ok {
			l.maxSeq = max(l.maxSeq, seq)
			l.segs = append(l.segs, &segment{seq: seq, last: map[uint32]int64{}})
		}
	}
	slices.SortFunc(l.segs, func(a, b *segment) int {
		if a.seq < b.seq {
			return -1
		}
		return 1
	})
	return l, nil
}

func (l *Log) path(name string) string { return filepath.Join(l.cfg.Dir, name) }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.cfg.Dir }

// Mode returns the log's durability mode.
func (l *Log) Mode() Mode { return l.cfg.Mode }

// Err returns the sticky failure: nil while the log is healthy; once a write
// or an fsync failed, an error wrapping ErrFailed and its cause, returned by
// every later Append, Sync, SaveSnapshot and Drop.
func (l *Log) Err() error { return l.err }

// fail makes err the sticky failure (the first one wins) and returns it.
func (l *Log) fail(op, name string, err error) error {
	if l.err == nil {
		var pe *iofs.PathError
		if errors.As(err, &pe) {
			// The cause already names the operation and the file.
			l.err = fmt.Errorf("%w: %w", ErrFailed, err)
		} else {
			l.err = fmt.Errorf("%w: %s %s: %w", ErrFailed, op, name, err)
		}
	}
	return l.err
}

func (l *Log) usable() error {
	if l.err != nil {
		return l.err
	}
	switch l.state {
	case stateOpen:
		return ErrNotRecovered
	case stateClosed:
		return ErrClosed
	}
	return nil
}

func (l *Log) head() *segment { return l.segs[len(l.segs)-1] }

// end is the position the next record will be written at.
func (l *Log) end() position {
	h := l.head()
	return position{seg: h.seq, off: h.size}
}

// Append adds r to the log. In ModeAlways it returns once r is on disk
// (fsynced); in the other modes r is buffered and Sync makes it durable. The
// log copies r.Payload: the caller may reuse it.
//
// An error other than ErrTooLarge means the record is not durable and the
// log has failed: it is the sticky error Err returns.
func (l *Log) Append(r Record) error {
	if err := l.usable(); err != nil {
		return err
	}
	if len(r.Payload) > MaxPayload {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(r.Payload), MaxPayload)
	}
	n := int64(frameLen(len(r.Payload)))
	h := l.head()
	if h.size+n > l.cfg.SegmentBytes && h.size > segHeaderLen {
		if err := l.rotate(); err != nil {
			return err
		}
		h = l.head()
	}
	l.buf = appendFrame(l.buf, &r)
	h.size += n
	h.last[r.Partition] = h.size
	l.stats.Appends++
	if l.cfg.Mode == ModeAlways {
		return l.sync(true)
	}
	if len(l.buf) >= flushBytes {
		return l.flush()
	}
	return nil
}

// Sync makes every record appended so far durable, as the mode defines it:
// in ModeBatch it writes the buffer and fsyncs the segment once (the group
// commit of a batch); in ModeNever it only writes the buffer; in ModeAlways
// there is nothing left to do. A Sync with nothing new to write costs
// nothing. A non-nil error is the sticky failure: none of the records since
// the last successful Sync may be acknowledged.
func (l *Log) Sync() error {
	if err := l.usable(); err != nil {
		return err
	}
	return l.sync(l.cfg.Mode != ModeNever)
}

// flush writes the buffer to the active segment.
func (l *Log) flush() error {
	if len(l.buf) == 0 {
		return nil
	}
	n, err := l.active.Write(l.buf)
	if err == nil && n != len(l.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return l.fail("write", segName(l.head().seq), err)
	}
	l.buf = l.buf[:0]
	l.dirty = true
	return nil
}

// sync flushes, then fsyncs if fsync is set and something was written.
func (l *Log) sync(fsync bool) error {
	if err := l.flush(); err != nil {
		return err
	}
	if !fsync || !l.dirty {
		return nil
	}
	start := time.Now()
	err := l.active.Sync()
	l.stats.SyncTime += time.Since(start)
	l.stats.Syncs++
	if err != nil {
		// Never retry: after a failed fsync the kernel may have dropped the
		// dirty pages and a second fsync can report success for data that is
		// not on disk.
		return l.fail("fsync", segName(l.head().seq), err)
	}
	l.dirty = false
	return nil
}

// rotate seals the active segment (written and fsynced in every mode, so
// only the last segment can ever have a torn tail) and starts the next one.
func (l *Log) rotate() error {
	if err := l.flush(); err != nil {
		return err
	}
	if l.dirty {
		if err := l.active.Sync(); err != nil {
			return l.fail("fsync", segName(l.head().seq), err)
		}
		l.dirty = false
	}
	if err := l.active.Close(); err != nil {
		return l.fail("close", segName(l.head().seq), err)
	}
	l.active = nil
	if err := l.newSegment(l.head().seq + 1); err != nil {
		return err
	}
	l.compact()
	return nil
}

// newSegment creates segment seq with its header and makes its directory
// entry durable before any record in it can be acknowledged.
func (l *Log) newSegment(seq uint64) error {
	name := segName(seq)
	f, err := l.fs.Create(l.path(name))
	if err != nil {
		return l.fail("create", name, err)
	}
	hdr := appendSegHeader(nil, seq)
	if n, err := f.Write(hdr); err != nil || n != len(hdr) {
		if err == nil {
			err = io.ErrShortWrite
		}
		_ = f.Close()
		return l.fail("write", name, err)
	}
	if err := l.fs.SyncDir(l.cfg.Dir); err != nil {
		_ = f.Close()
		return l.fail("fsync directory of", name, err)
	}
	l.active = f
	l.dirty = true
	l.segs = append(l.segs, &segment{seq: seq, size: segHeaderLen, last: map[uint32]int64{}})
	return nil
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	s := l.stats
	s.Segments = len(l.segs)
	for _, sg := range l.segs {
		s.Bytes += sg.size
	}
	s.Err = l.err
	return s
}

// Close writes and fsyncs what is buffered (unless the log failed: then it
// returns the sticky error), closes the active segment and releases the
// directory. It may be called twice; the second call returns nil.
func (l *Log) Close() error {
	if l.state == stateClosed {
		return nil
	}
	err := l.err
	if l.state == stateReady && l.err == nil {
		err = l.sync(true)
	}
	if l.active != nil {
		if cerr := l.active.Close(); err == nil && cerr != nil && l.err == nil {
			err = fmt.Errorf("wal: close %s: %w", segName(l.head().seq), cerr)
		}
		l.active = nil
	}
	if lerr := l.lock.Close(); err == nil && lerr != nil {
		err = fmt.Errorf("wal: unlock %s: %w", l.cfg.Dir, lerr)
	}
	l.state = stateClosed
	return err
}
