package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// writeLog appends n records (partitions 0-2, payloads of 0-60 bytes) with a
// Sync every 4 and closes the log. It returns the records.
func writeLog(t *testing.T, cfg Config, n int) []Record {
	t.Helper()
	l, _ := openRecover(t, cfg)
	var want []Record
	for i := range n {
		r := testRecord(i, uint32(i%3), (i*13)%61)
		want = append(want, r)
		mustAppend(t, l, r)
		if i%4 == 3 {
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

// TestTornTailEveryOffset cuts the last segment at every byte offset of its
// last record, on the real file system: recovery keeps every record before
// it, none after, truncates the file there, and appends again.
func TestTornTailEveryOffset(t *testing.T) {
	src := t.TempDir()
	want := writeLog(t, Config{Dir: src}, 20)
	seg := segName(1)
	data, err := os.ReadFile(filepath.Join(src, seg))
	if err != nil {
		t.Fatal(err)
	}
	lastLen := frameLen(len(want[19].Payload))
	start := len(data) - lastLen
	base := t.TempDir()
	for cut := start; cut <= len(data); cut++ {
		dir := filepath.Join(base, fmt.Sprint(cut))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, seg), data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := Config{Dir: dir}
		l, rec := openRecover(t, cfg)
		keep := want[:19]
		wantCut := int64(cut - start)
		if cut == len(data) {
			keep, wantCut = want, 0
		}
		sameRecords(t, rec.records, keep)
		if rec.info.TruncatedBytes != wantCut {
			t.Fatalf("cut %d: truncated %d bytes, want %d", cut, rec.info.TruncatedBytes, wantCut)
		}
		if st, err := os.Stat(filepath.Join(dir, seg)); err != nil || st.Size() != int64(start+lastLen*int(boolInt(cut == len(data)))) {
			t.Fatalf("cut %d: segment after recovery: %v, %v", cut, st.Size(), err)
		}
		extra := testRecord(99, 1, 5)
		mustAppend(t, l, extra)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, rec = openRecover(t, cfg)
		sameRecords(t, rec.records, append(append([]Record(nil), keep...), extra))
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// TestTornHeader: a last segment whose header never made it to disk is
// removed; the segments before it are intact.
func TestTornHeader(t *testing.T) {
	for cut := range segHeaderLen {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			fs := newMemFS()
			cfg := Config{Dir: "/d", SegmentBytes: 1024, fs: fs}
			want := writeLog(t, cfg, 30)
			// Simulate a crash right after the next segment was created.
			next := fmt.Sprintf("/d/%s", segName(99))
			fs.files[next] = &memFile{data: appendSegHeader(nil, 99)[:cut]}
			l, rec := openRecover(t, cfg)
			defer l.Close()
			sameRecords(t, rec.records, want)
			if _, ok := fs.files[next]; ok {
				t.Fatal("torn segment still there")
			}
			if got := l.head().seq; got != 100 {
				t.Fatalf("new segment %d, want 100 (numbers are never reused)", got)
			}
		})
	}
}

// TestBitFlipLastRecord flips every bit of the last record in turn: the
// record is never replayed, the ones before are.
func TestBitFlipLastRecord(t *testing.T) {
	fs := newMemFS()
	cfg := Config{Dir: "/d", fs: fs}
	want := writeLog(t, cfg, 10)
	path := "/d/" + segName(1)
	data := fs.files[path].data
	start := len(data) - frameLen(len(want[9].Payload))
	for i := start; i < len(data); i++ {
		for bit := range 8 {
			c := fs.crash(nil)
			c.files[path].data[i] ^= 1 << bit
			l, rec := openRecover(t, Config{Dir: "/d", fs: c})
			if len(rec.records) != 9 {
				t.Fatalf("byte %d bit %d: recovered %d records, want 9", i, bit, len(rec.records))
			}
			sameRecords(t, rec.records, want[:9])
			if rec.info.TruncatedAt != int64(start) {
				t.Fatalf("byte %d bit %d: truncated at %d, want %d", i, bit, rec.info.TruncatedAt, start)
			}
			_ = l.Close()
		}
	}
}

// TestBitFlipSealedSegment: corruption in a segment that is not the last is
// ErrCorrupt, never silently skipped.
func TestBitFlipSealedSegment(t *testing.T) {
	fs := newMemFS()
	cfg := Config{Dir: "/d", SegmentBytes: 1024, fs: fs}
	writeLog(t, cfg, 60)
	path := "/d/" + segName(1)
	for _, off := range []int{5, segHeaderLen + 2, segHeaderLen + 12, len(fs.files[path].data) - 1} {
		t.Run(fmt.Sprint(off), func(t *testing.T) {
			c := fs.crash(nil)
			c.files[path].data[off] ^= 0x10
			l, err := Open(Config{Dir: "/d", fs: c})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if _, err := l.Recover(nil, nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Recover: %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestCorruptSnapshot: a snapshot that fails its checksum is ErrCorrupt.
func TestCorruptSnapshot(t *testing.T) {
	fs := newMemFS()
	cfg := Config{Dir: "/d", fs: fs}
	l, _ := openRecover(t, cfg)
	if err := l.SaveSnapshot(4, 1, 1, []byte("state")); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	fs.files["/d/"+snapName(4)].data[snapHeaderLen] ^= 1
	l, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Recover(nil, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Recover: %v, want ErrCorrupt", err)
	}
}

// FuzzRecoverLastSegment: any bytes as the last segment recover without a
// panic or an error, and replay only records that verify.
func FuzzRecoverLastSegment(f *testing.F) {
	fs := newMemFS()
	want := writeLogF(f, Config{Dir: "/d", fs: fs}, 5)
	good := fs.files["/d/"+segName(1)].data
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(append(append([]byte(nil), good...), 1, 2, 3, 4, 5, 6, 7, 8, 9))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := newMemFS()
		c.files["/d/"+segName(1)] = &memFile{data: data}
		l, rec := openRecover(t, Config{Dir: "/d", fs: c})
		defer l.Close()
		for i, r := range rec.records {
			if i < len(want) && len(data) >= len(good) && string(data[:len(good)]) == string(good) {
				if err := diffRecord(r, want[i]); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func writeLogF(f *testing.F, cfg Config, n int) []Record {
	l, err := Open(cfg)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := l.Recover(nil, nil); err != nil {
		f.Fatal(err)
	}
	var want []Record
	for i := range n {
		r := testRecord(i, uint32(i%3), i*5)
		want = append(want, r)
		if err := l.Append(r); err != nil {
			f.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	return want
}
