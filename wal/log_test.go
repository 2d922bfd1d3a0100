package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Mode
		ok   bool
	}{
		{"always", ModeAlways, true},
		{"Batch", ModeBatch, true},
		{" never ", ModeNever, true},
		{"", 0, false},
		{"fsync", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			m, err := ParseMode(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("ParseMode(%q) error %v", tc.in, err)
			}
			if !tc.ok {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
				}
				return
			}
			if m != tc.want {
				t.Fatalf("ParseMode(%q) = %v, want %v", tc.in, m, tc.want)
			}
			if back, _ := ParseMode(m.String()); back != m {
				t.Fatalf("String %q does not parse back", m.String())
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default with dir", func() Config { c := DefaultConfig(); c.Dir = "x"; return c }(), true},
		{"zero segment size is the default", Config{Dir: "x"}, true},
		{"no dir", DefaultConfig(), false},
		{"bad mode", Config{Dir: "x", Mode: 7}, false},
		{"tiny segments", Config{Dir: "x", SegmentBytes: 100}, false},
		{"negative segments", Config{Dir: "x", SegmentBytes: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.validate()
			if tc.ok != (err == nil) {
				t.Fatalf("validate: %v", err)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			if err == nil && tc.cfg.SegmentBytes == 0 {
				t.Fatal("SegmentBytes left at 0")
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, mode := range []Mode{ModeAlways, ModeBatch, ModeNever} {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := Config{Dir: t.TempDir(), Mode: mode, SegmentBytes: 4096}
			l, rec := openRecover(t, cfg)
			if len(rec.records) != 0 || len(rec.snaps) != 0 {
				t.Fatalf("empty log delivered %+v", rec)
			}
			var want []Record
			for i := range 200 {
				r := testRecord(i, uint32(i%3), i%50)
				want = append(want, r)
				mustAppend(t, l, r)
				if i%16 == 15 {
					if err := l.Sync(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if st := l.Stats(); st.Segments < 3 || st.Appends != 200 {
				t.Fatalf("stats %+v: want several segments and 200 appends", st)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			l, rec = openRecover(t, cfg)
			defer l.Close()
			sameRecords(t, rec.records, want)
			if rec.info.TruncatedBytes != 0 || rec.info.Replayed != 200 {
				t.Fatalf("info %+v", rec.info)
			}
		})
	}
}

func TestLifecycleErrors(t *testing.T) {
	cfg := Config{Dir: t.TempDir()}
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(testRecord(0, 0, 1)); !errors.Is(err, ErrNotRecovered) {
		t.Fatalf("Append before Recover: %v", err)
	}
	if err := l.SaveSnapshot(0, 1, 1, nil); !errors.Is(err, ErrNotRecovered) {
		t.Fatalf("SaveSnapshot before Recover: %v", err)
	}
	if _, err := Open(cfg); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open of one directory: %v", err)
	}
	if _, err := l.Recover(nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Recover(nil, nil); !errors.Is(err, ErrRecovered) {
		t.Fatalf("second Recover: %v", err)
	}
	if err := l.Append(Record{Payload: make([]byte, MaxPayload+1)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized Append: %v", err)
	}
	if l.Err() != nil {
		t.Fatalf("ErrTooLarge failed the log: %v", l.Err())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(testRecord(0, 0, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	l2, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = l2.Close()
}

func TestOpenRemovesTemporaries(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, snapName(3)+tmpSuffix)
	if err := os.WriteFile(tmp, []byte("half a snapshot"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, rec := openRecover(t, Config{Dir: dir})
	defer l.Close()
	if len(rec.snaps) != 0 {
		t.Fatalf("a temporary file was delivered as a snapshot")
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temporary snapshot still there: %v", err)
	}
}

// TestSnapshotsCoverAndCompact: records before a partition's snapshot are
// not replayed; segments covered by snapshots of all their partitions are
// deleted; Pinned names the partitions that keep the oldest one.
func TestSnapshotsCoverAndCompact(t *testing.T) {
	fs := newMemFS()
	cfg := Config{Dir: "/d", SegmentBytes: 1024, fs: fs}
	l, _ := openRecover(t, cfg)
	var all []Record
	for i := range 100 {
		r := testRecord(i, uint32(i%2), 40)
		all = append(all, r)
		mustAppend(t, l, r)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	segs := l.Stats().Segments
	if segs < 5 {
		t.Fatalf("only %d segments", segs)
	}
	if got := fmt.Sprint(l.Pinned()); got != "[0 1]" && got != "[1 0]" {
		t.Fatalf("Pinned = %s, want partitions 0 and 1", got)
	}
	// Snapshot partition 0 only: nothing can go, partition 1 pins all.
	if err := l.SaveSnapshot(0, 7, 99, []byte("state of 0")); err != nil {
		t.Fatal(err)
	}
	if got := l.Stats().Segments; got != segs {
		t.Fatalf("segments %d -> %d though partition 1 has no snapshot", segs, got)
	}
	if got := fmt.Sprint(l.Pinned()); got != "[1]" {
		t.Fatalf("Pinned = %s, want [1]", got)
	}
	var after []Record
	for i := 100; i < 110; i++ {
		r := testRecord(i, uint32(i%2), 40)
		after = append(after, r)
		mustAppend(t, l, r)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l, rec := openRecover(t, cfg)
	if s, ok := rec.snaps[0]; !ok || string(s.data) != "state of 0" || s.epoch != 7 || s.lsn != 99 {
		t.Fatalf("snapshot of 0: %+v", rec.snaps)
	}
	var want []Record
	for _, r := range append(all, after...) {
		if r.Partition == 1 || r.LSN > 100 {
			want = append(want, r)
		}
	}
	sameRecords(t, rec.records, want)
	if rec.info.Skipped != 50 {
		t.Fatalf("skipped %d, want the 50 records of partition 0 before its snapshot", rec.info.Skipped)
	}

	// Snapshot both: every sealed segment goes.
	for p := range uint32(2) {
		if err := l.SaveSnapshot(p, 8, 200, []byte{byte(p)}); err != nil {
			t.Fatal(err)
		}
	}
	if st := l.Stats(); st.Segments != 1 || st.SegmentsRemoved == 0 {
		t.Fatalf("after snapshotting every partition: %+v", st)
	}
	if l.Pinned() != nil {
		t.Fatalf("Pinned = %v with one segment", l.Pinned())
	}
	mustAppend(t, l, testRecord(500, 1, 3))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, rec = openRecover(t, cfg)
	defer l.Close()
	sameRecords(t, rec.records, []Record{testRecord(500, 1, 3)})
	if len(rec.snaps) != 2 {
		t.Fatalf("snapshots %+v", rec.snaps)
	}
}

// TestDrop: a dropped partition gets no snapshot and none of its earlier
// records; records appended after the drop (a new history) are replayed.
func TestDrop(t *testing.T) {
	cfg := Config{Dir: "/d", SegmentBytes: 1024, fs: newMemFS()}
	l, _ := openRecover(t, cfg)
	mustAppend(t, l, testRecord(0, 5, 10), testRecord(1, 6, 10))
	if err := l.SaveSnapshot(5, 1, 1, []byte("five")); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, testRecord(2, 5, 10))
	if err := l.Drop(5, 2); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, testRecord(3, 5, 10))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, rec := openRecover(t, cfg)
	defer l.Close()
	if len(rec.snaps) != 0 || rec.info.Dropped != 1 {
		t.Fatalf("snapshots %+v, info %+v", rec.snaps, rec.info)
	}
	sameRecords(t, rec.records, []Record{testRecord(1, 6, 10), testRecord(3, 5, 10)})
}

// TestPositionsNotLSNs: a partition whose history restarts at a lower LSN
// (installed from elsewhere) never gets its older records replayed.
func TestPositionsNotLSNs(t *testing.T) {
	cfg := Config{Dir: "/d", fs: newMemFS()}
	l, _ := openRecover(t, cfg)
	old := []Record{{Partition: 1, Epoch: 3, LSN: 10}, {Partition: 1, Epoch: 3, LSN: 11}}
	mustAppend(t, l, old...)
	if err := l.SaveSnapshot(1, 9, 0, []byte("fresh")); err != nil { // started empty at epoch 9
		t.Fatal(err)
	}
	fresh := []Record{{Partition: 1, Epoch: 9, LSN: 1}}
	mustAppend(t, l, fresh...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, rec := openRecover(t, cfg)
	defer l.Close()
	sameRecords(t, rec.records, fresh)
}

// TestCallbackErrorStopsRecover: an error from a callback comes back as is.
func TestCallbackErrorStopsRecover(t *testing.T) {
	cfg := Config{Dir: "/d", fs: newMemFS()}
	l, _ := openRecover(t, cfg)
	mustAppend(t, l, testRecord(0, 0, 1), testRecord(1, 0, 1))
	if err := l.SaveSnapshot(2, 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name   string
		snap   SnapshotFunc
		replay ReplayFunc
	}{
		{"snapshot", func(uint32, []byte, uint64, uint64) error { return boom }, nil},
		{"replay", nil, func(Record) error { return boom }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if _, err := l.Recover(tc.snap, tc.replay); !errors.Is(err, boom) {
				t.Fatalf("Recover: %v", err)
			}
			if err := l.Append(testRecord(2, 0, 1)); !errors.Is(err, ErrNotRecovered) {
				t.Fatalf("Append after a failed Recover: %v", err)
			}
		})
	}
}

// TestHolds: a partition is held while a snapshot or records of it would
// be recovered, and not after a Drop or before anything was written.
func TestHolds(t *testing.T) {
	l, err := Open(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Recover(nil, nil); err != nil {
		t.Fatal(err)
	}
	check := func(when string, p uint32, want bool) {
		t.Helper()
		if got := l.Holds(p); got != want {
			t.Fatalf("%s: Holds(%d) = %v, want %v", when, p, got, want)
		}
	}
	check("new log", 1, false)
	if err := l.Append(Record{Partition: 1, LSN: 1, Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	check("after a record", 1, true)
	check("another partition", 2, false)
	if err := l.Drop(1, 3); err != nil {
		t.Fatal(err)
	}
	check("after Drop", 1, false)
	if err := l.Append(Record{Partition: 1, LSN: 1, Payload: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	check("a record after Drop", 1, true)
	if err := l.SaveSnapshot(2, 1, 0, nil); err != nil {
		t.Fatal(err)
	}
	check("after a snapshot", 2, true)
}
