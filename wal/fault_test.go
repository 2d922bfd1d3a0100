package wal

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

// TestFsyncErrorFailsClosed injects one fsync error on a segment: the write
// is not acknowledged, the log fails with an error naming the cause, never
// fsyncs again (a retried fsync could lie) and refuses every later write;
// what was synced before survives, and a reopened log appends again.
func TestFsyncErrorFailsClosed(t *testing.T) {
	for _, mode := range []Mode{ModeAlways, ModeBatch} {
		t.Run(mode.String(), func(t *testing.T) {
			fs := newMemFS()
			cfg := Config{Dir: "/d", Mode: mode, SegmentBytes: 1024, fs: fs}
			l, _ := openRecover(t, cfg)
			var synced []Record
			for i := range 20 {
				r := testRecord(i, uint32(i%2), 30)
				synced = append(synced, r)
				mustAppend(t, l, r)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			failed, syncsAfter := false, 0
			fs.fault = func(op, name string) error {
				if op != "sync" || !strings.HasSuffix(name, segSuffix) {
					return nil
				}
				if failed {
					syncsAfter++
					return nil
				}
				failed = true
				return syscall.EIO
			}
			err := l.Append(testRecord(20, 0, 30))
			if mode == ModeBatch {
				if err != nil {
					t.Fatalf("buffered Append: %v", err)
				}
				err = l.Sync()
			}
			if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "sync") {
				t.Fatalf("write with a failed fsync returned %v; want ErrFailed wrapping EIO and naming the sync", err)
			}
			if l.Err() != err {
				t.Fatalf("Err() = %v, want %v", l.Err(), err)
			}
			for i, op := range []func() error{
				func() error { return l.Append(testRecord(21, 0, 1)) },
				l.Sync,
				func() error { return l.SaveSnapshot(0, 1, 1, nil) },
				func() error { return l.Drop(1, 1) },
			} {
				if got := op(); got != err {
					t.Fatalf("call %d after the failure returned %v, want the sticky error", i, got)
				}
			}
			if got := l.Close(); got != err {
				t.Fatalf("Close: %v", got)
			}
			if syncsAfter != 0 {
				t.Fatalf("%d fsyncs after the failed one", syncsAfter)
			}
			fs.fault = nil
			crashed := fs.crash(nil)
			l, rec := openRecover(t, Config{Dir: "/d", Mode: mode, SegmentBytes: 1024, fs: crashed})
			defer l.Close()
			sameRecords(t, rec.records, synced)
			mustAppend(t, l, testRecord(30, 0, 1))
			if err := l.Sync(); err != nil {
				t.Fatalf("Sync after reopening: %v", err)
			}
		})
	}
}

// TestDiskFullInMemory runs out of space mid-batch: the batch is not
// acknowledged, the log fails with ENOSPC, synced records survive even with
// the half-written frame on disk, and once there is room a reopened log
// appends again.
func TestDiskFullInMemory(t *testing.T) {
	fs := newMemFS()
	fs.capacity = 8 << 10
	cfg := Config{Dir: "/d", SegmentBytes: 2048, fs: fs}
	l, _ := openRecover(t, cfg)
	var synced, pending []Record
	var err error
	for i := 0; err == nil; i++ {
		r := testRecord(i, uint32(i%3), 100)
		if err = l.Append(r); err != nil {
			break
		}
		pending = append(pending, r)
		if i%4 == 3 {
			if err = l.Sync(); err == nil {
				synced, pending = append(synced, pending...), nil
			}
		}
		if i > 1000 {
			t.Fatal("never ran out of space")
		}
	}
	if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("out of space: %v", err)
	}
	if l.Err() == nil || l.Sync() != l.Err() || l.Append(testRecord(0, 0, 0)) != l.Err() {
		t.Fatal("the log is not fail-closed")
	}
	_ = l.Close()
	// Reboot with whatever made it to the disk, half frame included.
	crashed := fs.crash(func(string, int) (int, []byte) { return 0, nil })
	for p, f := range fs.files {
		if c, ok := crashed.files[p]; ok {
			c.data = append([]byte(nil), f.data...)
		}
	}
	crashed.capacity = 64 << 10
	l, rec := openRecover(t, Config{Dir: "/d", SegmentBytes: 2048, fs: crashed})
	defer l.Close()
	if len(rec.records) < len(synced) {
		t.Fatalf("recovered %d records, %d were synced", len(rec.records), len(synced))
	}
	sameRecords(t, rec.records[:len(synced)], synced)
	sameRecords(t, rec.records[len(synced):], pending[:len(rec.records)-len(synced)])
	mustAppend(t, l, testRecord(9999, 0, 100))
	if err := l.Sync(); err != nil {
		t.Fatalf("Sync once there is room: %v", err)
	}
}

// TestSnapshotFailureKeepsLog: a snapshot that fails at any step returns an
// error, leaves the log healthy and the previous snapshot in place.
func TestSnapshotFailureKeepsLog(t *testing.T) {
	for _, op := range []string{"create", "write", "sync", "rename", "syncdir"} {
		t.Run(op, func(t *testing.T) {
			fs := newMemFS()
			cfg := Config{Dir: "/d", fs: fs}
			l, _ := openRecover(t, cfg)
			mustAppend(t, l, testRecord(0, 1, 5))
			if err := l.SaveSnapshot(1, 1, 1, []byte("old")); err != nil {
				t.Fatal(err)
			}
			fs.fault = func(o, name string) error {
				if o == op && (strings.Contains(name, snapSuffix) || o == "syncdir") {
					return syscall.ENOSPC
				}
				return nil
			}
			if err := l.SaveSnapshot(1, 2, 2, []byte("new")); err == nil || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("SaveSnapshot with a failing %s: %v", op, err)
			}
			if l.Err() != nil {
				t.Fatalf("a failed snapshot failed the log: %v", l.Err())
			}
			fs.fault = nil
			mustAppend(t, l, testRecord(1, 1, 5))
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, rec := openRecover(t, cfg)
			defer l.Close()
			s := rec.snaps[1]
			switch string(s.data) {
			case "old":
				sameRecords(t, rec.records, []Record{testRecord(1, 1, 5)})
			case "new": // renamed, only the directory fsync failed
				if op != "syncdir" {
					t.Fatalf("new snapshot in place after a failing %s", op)
				}
			default:
				t.Fatalf("snapshot %q", s.data)
			}
		})
	}
}

// TestSegmentCreateFailure: a segment that cannot be created fails the log.
func TestSegmentCreateFailure(t *testing.T) {
	fs := newMemFS()
	l, _ := openRecover(t, Config{Dir: "/d", SegmentBytes: 1024, fs: fs})
	fs.fault = func(op, name string) error {
		if op == "create" && strings.HasSuffix(name, segSuffix) {
			return syscall.EDQUOT
		}
		return nil
	}
	var err error
	for i := 0; err == nil && i < 100; i++ {
		err = l.Append(testRecord(i, 0, 100))
	}
	if !errors.Is(err, ErrFailed) || !errors.Is(err, syscall.EDQUOT) {
		t.Fatalf("rotation into an uncreatable segment: %v", err)
	}
	_ = l.Close()
}

// TestRecoverTruncateFailure: a torn tail that cannot be cut durably stops
// Recover.
func TestRecoverTruncateFailure(t *testing.T) {
	fs := newMemFS()
	cfg := Config{Dir: "/d", fs: fs}
	writeLog(t, cfg, 5)
	f := fs.files["/d/"+segName(1)]
	f.data = f.data[:len(f.data)-3]
	fs.fault = func(op, name string) error {
		if op == "sync" {
			return syscall.EIO
		}
		return nil
	}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Recover(nil, nil); !errors.Is(err, syscall.EIO) {
		t.Fatalf("Recover: %v", err)
	}
}
