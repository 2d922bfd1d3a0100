package wal

import (
	"bytes"
	"testing"
)

func TestSnapshotEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    snapMeta
		data []byte
	}{
		{"empty", snapMeta{}, nil},
		{"data", snapMeta{epoch: 3, lsn: 99, pos: position{seg: 7, off: 1234}}, []byte("some state")},
		{"dropped", snapMeta{epoch: 4, dropped: true, pos: position{seg: 1 << 40, off: 1 << 33}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			head, tail := encodeSnapshot(42, tc.m, tc.data)
			b := append(append(append([]byte(nil), head...), tc.data...), tail...)
			p, m, data, err := decodeSnapshot(b)
			if err != nil || p != 42 || m != tc.m || !bytes.Equal(data, tc.data) {
				t.Fatalf("decode: %d %+v %q %v", p, m, data, err)
			}
			for i := range b {
				c := bytes.Clone(b)
				c[i] ^= 0x40
				if _, _, _, err := decodeSnapshot(c); err == nil {
					t.Fatalf("flip of byte %d not detected", i)
				}
			}
			if _, _, _, err := decodeSnapshot(b[:len(b)-1]); err == nil {
				t.Fatal("short file not detected")
			}
		})
	}
}

func TestParseName(t *testing.T) {
	if seq, ok, _, _ := parseName(segName(0xabc)); !ok || seq != 0xabc {
		t.Fatalf("segment name: %d %v", seq, ok)
	}
	if _, _, p, ok := parseName(snapName(77)); !ok || p != 77 {
		t.Fatalf("snapshot name: %d %v", p, ok)
	}
	for _, n := range []string{"LOCK", "x.wal", snapName(1) + tmpSuffix, "0000000g00000000.wal"} {
		if _, a, _, b := parseName(n); a || b {
			t.Fatalf("%q parsed", n)
		}
	}
}
