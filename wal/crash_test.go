package wal

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// crashModel is what the test appended, and what must survive a crash.
type crashModel struct {
	mode    Mode
	state   map[uint32][]uint64 // per partition, the ids of its records in order
	floor   map[uint32]int      // how many of them must survive a crash
	records map[uint64]Record   // every record ever appended, by id (RequestID)
	nextID  uint64
}

func encodeIDs(ids []uint64) []byte {
	b := make([]byte, 0, 8*len(ids))
	for _, id := range ids {
		b = binary.LittleEndian.AppendUint64(b, id)
	}
	return b
}

func decodeIDs(b []byte) []uint64 {
	var out []uint64
	for len(b) >= 8 {
		out = append(out, binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	return out
}

// check compares what Recover delivered with the model: each partition's
// state is a prefix of what was appended, at least as long as its floor;
// every replayed record is exactly one that was appended, in append order.
// It then makes the model what was recovered.
func (m *crashModel) check(t *rapid.T, rec recovered) {
	got := map[uint32][]uint64{}
	for p, s := range rec.snaps {
		got[p] = decodeIDs(s.data)
	}
	var last uint64
	for _, r := range rec.records {
		want, ok := m.records[r.RequestID]
		if !ok {
			t.Fatalf("replayed a record never appended: %+v", r)
		}
		if err := diffRecord(r, want); err != nil {
			t.Fatalf("replayed garbage: %v", err)
		}
		if r.RequestID <= last {
			t.Fatalf("replay out of order: id %d after %d", r.RequestID, last)
		}
		last = r.RequestID
		got[r.Partition] = append(got[r.Partition], r.RequestID)
	}
	parts := map[uint32]bool{}
	for p := range got {
		parts[p] = true
	}
	for p := range m.state {
		parts[p] = true
	}
	for p := range parts {
		g, w := got[p], m.state[p]
		if len(g) > len(w) || !slices.Equal(g, w[:len(g)]) {
			t.Fatalf("partition %d: recovered %v, not a prefix of appended %v", p, g, w)
		}
		if len(g) < m.floor[p] {
			t.Fatalf("partition %d (%v): recovered %d records %v, but %d were durable: %v", p, m.mode, len(g), g, m.floor[p], w)
		}
		m.state[p] = g
		m.floor[p] = len(g)
	}
}

// TestCrashProperty runs random appends, syncs, snapshots and drops, and
// crashes at random points (losing unsynced bytes, keeping a random part of
// them, adding torn garbage): whatever a Sync, an Append in ModeAlways, or a
// snapshot made durable is recovered, and nothing else but appended records
// in order.
func TestCrashProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		mode := rapid.SampledFrom([]Mode{ModeAlways, ModeBatch, ModeNever}).Draw(rt, "mode")
		fs := newMemFS()
		cfg := Config{Dir: "/d", Mode: mode, SegmentBytes: 1024, fs: fs}
		m := &crashModel{mode: mode, state: map[uint32][]uint64{}, floor: map[uint32]int{}, records: map[uint64]Record{}, nextID: 1}
		open := func() *Log {
			l, err := Open(cfg)
			if err != nil {
				rt.Fatalf("Open: %v", err)
			}
			rec, err := recoverAll(l)
			if err != nil {
				rt.Fatalf("Recover: %v (files %s)", err, cfg.fs.(*memFS).names())
			}
			m.check(rt, rec)
			return l
		}
		crash := func(l *Log) *Log {
			_ = l // dropped without Close, as in a crash
			cfg.fs = cfg.fs.(*memFS).crash(func(name string, unsynced int) (int, []byte) {
				n := rapid.IntRange(0, unsynced).Draw(rt, "kept of "+name)
				return n, rapid.SliceOfN(rapid.Byte(), 0, 12).Draw(rt, "garbage")
			})
			return open()
		}
		l := open()
		steps := rapid.IntRange(1, 120).Draw(rt, "steps")
		for range steps {
			p := rapid.Uint32Range(0, 3).Draw(rt, "partition")
			switch op := rapid.IntRange(0, 11).Draw(rt, "op"); {
			case op <= 5:
				id := m.nextID
				m.nextID++
				n := rapid.IntRange(0, 300).Draw(rt, "payload")
				r := testRecord(int(id), p, n)
				r.RequestID = id
				r.LSN = uint64(len(m.state[p]) + 1)
				m.records[id] = r
				if err := l.Append(r); err != nil {
					rt.Fatalf("Append: %v", err)
				}
				m.state[p] = append(m.state[p], id)
				if mode == ModeAlways {
					m.floor[p] = len(m.state[p])
				}
			case op <= 7:
				if err := l.Sync(); err != nil {
					rt.Fatalf("Sync: %v", err)
				}
				if mode != ModeNever {
					for q, s := range m.state {
						m.floor[q] = len(s)
					}
				}
			case op == 8:
				if err := l.SaveSnapshot(p, 1, uint64(len(m.state[p])), encodeIDs(m.state[p])); err != nil {
					rt.Fatalf("SaveSnapshot: %v", err)
				}
				m.floor[p] = len(m.state[p])
			case op == 9:
				if err := l.Drop(p, 2); err != nil {
					rt.Fatalf("Drop: %v", err)
				}
				m.state[p], m.floor[p] = nil, 0
			default:
				l = crash(l)
			}
		}
		l = crash(l)
		if got, want := l.Stats().Segments, 1+len(l.Pinned()); got > 64 {
			rt.Fatalf("%d segments (pinned %d)", got, want)
		}
		// Snapshot every partition: everything but the active segment goes.
		for p, s := range m.state {
			if err := l.SaveSnapshot(p, 1, uint64(len(s)), encodeIDs(s)); err != nil {
				rt.Fatalf("SaveSnapshot: %v", err)
			}
		}
		if st := l.Stats(); st.Segments != 1 {
			rt.Fatalf("after snapshotting every partition %d segments remain: %s", st.Segments, fmt.Sprint(cfg.fs.(*memFS).names()))
		}
		if err := l.Close(); err != nil {
			rt.Fatalf("Close: %v", err)
		}
	})
}
