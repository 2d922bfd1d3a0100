package wal

import (
	"bytes"
	"fmt"
	"testing"
)

// recovered is what Recover delivered.
type recovered struct {
	snaps   map[uint32]snapshotSeen
	records []Record
	info    RecoveryInfo
}

type snapshotSeen struct {
	data       []byte
	epoch, lsn uint64
}

// openRecover opens cfg and recovers it, collecting what is delivered.
func openRecover(t testing.TB, cfg Config) (*Log, recovered) {
	t.Helper()
	l, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	rec, err := recoverAll(l)
	if err != nil {
		_ = l.Close()
		t.Fatalf("Recover: %v", err)
	}
	return l, rec
}

func recoverAll(l *Log) (recovered, error) {
	rec := recovered{snaps: map[uint32]snapshotSeen{}}
	info, err := l.Recover(func(p uint32, data []byte, epoch, lsn uint64) error {
		rec.snaps[p] = snapshotSeen{data: data, epoch: epoch, lsn: lsn}
		return nil
	}, func(r Record) error {
		r.Payload = bytes.Clone(r.Payload)
		rec.records = append(rec.records, r)
		return nil
	})
	rec.info = info
	return rec, err
}

// testRecord is record i of a test, for partition p, with a payload of n
// bytes derived from i.
func testRecord(i int, p uint32, n int) Record {
	payload := make([]byte, n)
	for j := range payload {
		payload[j] = byte(i*7 + j)
	}
	return Record{Partition: p, Epoch: uint64(i/10 + 1), LSN: uint64(i + 1), RequestID: uint64(1000 + i), Payload: payload}
}

func sameRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("recovered %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if err := diffRecord(got[i], want[i]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
}

func diffRecord(got, want Record) error {
	if got.Partition != want.Partition || got.Epoch != want.Epoch || got.LSN != want.LSN ||
		got.RequestID != want.RequestID || !bytes.Equal(got.Payload, want.Payload) {
		return fmt.Errorf("got %+v, want %+v", got, want)
	}
	return nil
}

func mustAppend(t testing.TB, l *Log, rs ...Record) {
	t.Helper()
	for _, r := range rs {
		if err := l.Append(r); err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
}
