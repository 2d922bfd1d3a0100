package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// allContents renders every key of s, expired ones included, sorted.
func allContents(s *Store) string { return liveContents(s, time.Time{}) }

// snapshotBytes returns s's snapshot.
func snapshotBytes(t fataler, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return buf.Bytes()
}

// sampleStore returns a store with n keys, some with deadlines, some expired
// at t0+1h, values of size up to valueSize.
func sampleStore(t fataler, n, valueSize int) *Store {
	t.Helper()
	s := NewStore()
	for i := range n {
		r := Request{Op: OpPut, Key: []byte("key-" + strconv.Itoa(i)),
			Value: bytes.Repeat([]byte{byte('a' + i%26)}, i%(valueSize+1)),
			TTL:   time.Duration(i%3) * time.Hour}
		if _, err := s.Apply(t0, &r); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	s.Apply(t0, &Request{Op: OpIncr, Key: []byte("counter"), Delta: -12})
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		n, valueSz int
	}{
		{"empty", 0, 0},
		{"small", 50, 20},
		{"many chunks", 3000, 100},
		{"large values", 5, 200 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := sampleStore(t, tt.n, tt.valueSz)
			snap := snapshotBytes(t, src)
			dst := sampleStore(t, 7, 3) // replaced entirely
			if err := dst.Restore(bytes.NewReader(snap)); err != nil {
				t.Fatal(err)
			}
			if got, want := allContents(dst), allContents(src); got != want {
				t.Fatalf("restored contents differ:\n%.500s\n%.500s", got, want)
			}
			checkInvariants(t, dst)
			if dst.Len() != src.Len() || dst.Bytes() > src.Bytes() {
				t.Fatalf("Len %d/%d Bytes %d/%d", dst.Len(), src.Len(), dst.Bytes(), src.Bytes())
			}
			// Deadlines survive as absolute times.
			now := t0.Add(90 * time.Minute)
			if got, want := liveContents(dst, now), liveContents(src, now); got != want {
				t.Fatal("live contents differ after restore")
			}
			if !bytes.Equal(snapshotBytes(t, dst), snap) {
				t.Fatal("snapshot of the restored store differs")
			}
		})
	}
}

func TestSnapshotRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := NewStore()
		now := t0
		for _, r := range rapid.SliceOfN(genModelRequest(), 0, 40).Draw(t, "reqs") {
			src.Apply(now, &r)
			now = now.Add(rapid.SampledFrom(modelSteps).Draw(t, "step"))
		}
		dst := NewStore()
		if err := dst.Restore(bytes.NewReader(snapshotBytes(t, src))); err != nil {
			t.Fatal(err)
		}
		if got, want := allContents(dst), allContents(src); got != want {
			t.Fatalf("restored contents differ:\n%s\n%s", got, want)
		}
		checkInvariants(t, dst)
	})
}

// TestRestoreDamaged truncates the snapshot at every length and flips every
// byte: each must fail with ErrCorrupt and leave the store as it was.
func TestRestoreDamaged(t *testing.T) {
	snap := snapshotBytes(t, sampleStore(t, 40, 10))
	dst := sampleStore(t, 5, 3)
	want := allContents(dst)
	restoreFails := func(data []byte, what string) {
		t.Helper()
		err := dst.Restore(bytes.NewReader(data))
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: Restore = %v, want ErrCorrupt", what, err)
		}
		if got := allContents(dst); got != want {
			t.Fatalf("%s: store changed by failed Restore", what)
		}
	}
	for n := range len(snap) {
		restoreFails(snap[:n], fmt.Sprintf("truncated to %d", n))
		if n == len(snap)-1 {
			if err := dst.Restore(bytes.NewReader(snap[:n])); !errors.Is(err, ErrTruncated) {
				t.Fatalf("truncated end: %v, want ErrTruncated", err)
			}
		}
	}
	for i := range snap {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(snap)
			bad[i] ^= mask
			restoreFails(bad, fmt.Sprintf("byte %d ^ %#x", i, mask))
		}
	}
	// A truncated large, multi-chunk snapshot.
	big := snapshotBytes(t, sampleStore(t, 2000, 100))
	for _, n := range []int{snapHeaderLen, 1000, len(big) / 2, len(big) - 5} {
		restoreFails(big[:n], fmt.Sprintf("big truncated to %d", n))
	}
}

// frame builds one chunk frame with a valid checksum.
func frame(records uint32, payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	b = binary.LittleEndian.AppendUint32(b, records)
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func header(version byte, count uint64) []byte {
	b := append([]byte(snapMagic), version)
	b = binary.LittleEndian.AppendUint64(b, count)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func record(key, value string, deadline int64) []byte {
	b := appendBytes(nil, []byte(key))
	b = appendBytes(b, []byte(value))
	return binary.LittleEndian.AppendUint64(b, uint64(deadline))
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// TestRestoreForged feeds well-checksummed but inconsistent snapshots.
func TestRestoreForged(t *testing.T) {
	end := frame(0, nil)
	tests := []struct {
		name string
		in   []byte
		err  error
	}{
		{"valid", concat(header(1, 2), frame(2, concat(record("a", "1", 0), record("b", "", 5))), end), nil},
		{"bad magic", concat([]byte("NSKX"), header(1, 0)[4:], end), ErrCorrupt},
		{"version", concat(header(3, 0), end), ErrVersion},
		{"too few records", concat(header(1, 2), frame(1, record("a", "1", 0)), end), ErrCorrupt},
		{"too many records", concat(header(1, 1), frame(2, concat(record("a", "1", 0), record("b", "", 5))), end), ErrCorrupt},
		{"count mismatch in chunk", concat(header(1, 2), frame(2, record("a", "1", 0)), end), ErrCorrupt},
		{"leftover in chunk", concat(header(1, 1), frame(1, concat(record("a", "1", 0), []byte{0})), end), ErrCorrupt},
		{"duplicate key", concat(header(1, 2), frame(2, concat(record("a", "1", 0), record("a", "2", 0))), end), ErrCorrupt},
		{"empty chunk with records", concat(header(1, 1), frame(1, nil), end), ErrCorrupt},
		{"records without count", concat(header(1, 0), frame(0, record("a", "", 0))), ErrCorrupt},
		{"no end", concat(header(1, 1), frame(1, record("a", "1", 0))), ErrTruncated},
		{"forged huge chunk", concat(header(1, 1), []byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}, []byte("short")), ErrTruncated},
		{"huge count", concat(header(1, 1<<62), frame(1, record("a", "1", 0)), end), ErrCorrupt},
		{"record value too long", concat(header(1, 1), frame(1, []byte{1, 'a', 100, 'x'}), end), ErrTruncated},
		{"record without deadline", concat(header(1, 1), frame(1, []byte{1, 'a', 0, 0, 0}), end), ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore()
			err := s.Restore(bytes.NewReader(tt.in))
			if tt.err == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := allContents(s); got != `["a"="1"@0 "b"=""@5]` {
					t.Fatalf("restored %s", got)
				}
				return
			}
			if !errors.Is(err, tt.err) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Restore = %v, want %v", err, tt.err)
			}
			if s.Len() != 0 {
				t.Fatal("failed Restore changed the store")
			}
		})
	}
}

func TestRestoreReadsOnlyTheSnapshot(t *testing.T) {
	snap := snapshotBytes(t, sampleStore(t, 100, 10))
	r := bytes.NewReader(concat(snap, []byte("next message")))
	if err := NewStore().Restore(r); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	if string(rest) != "next message" {
		t.Fatalf("Restore consumed too much: %q left", rest)
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

type failingWriter struct{ after int }

var errDisk = errors.New("disk on fire")

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errDisk
	}
	f.after--
	return len(p), nil
}

func TestSnapshotIOErrors(t *testing.T) {
	s := sampleStore(t, 3000, 100) // several chunks
	for after := range 4 {
		if err := s.Snapshot(&failingWriter{after: after}); !errors.Is(err, errDisk) {
			t.Fatalf("write error after %d writes: %v", after, err)
		}
	}
	snap := snapshotBytes(t, s)
	dst := NewStore()
	err := dst.Restore(&failingReader{r: bytes.NewReader(snap[:len(snap)/2]), err: errDisk})
	if !errors.Is(err, errDisk) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("read error: %v", err)
	}
	if dst.Len() != 0 {
		t.Fatal("failed Restore changed the store")
	}
}

// TestSnapshotFormat pins the header layout other code (handoff) may sniff.
func TestSnapshotFormat(t *testing.T) {
	s := NewStore()
	s.Apply(t0, &Request{Op: OpPut, Key: []byte("k"), Value: []byte("v"), TTL: time.Second})
	snap := snapshotBytes(t, s)
	want := concat(header(1, 1), frame(1, record("k", "v", t0.Add(time.Second).UnixNano())), frame(0, nil))
	if !bytes.Equal(snap, want) {
		t.Fatalf("snapshot\n%x\nwant\n%x", snap, want)
	}
	if !strings.HasPrefix(string(snap), "NSKV\x01") {
		t.Fatal("bad prefix")
	}
}
