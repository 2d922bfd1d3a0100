package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// model is the naive reference: a map with explicit deadlines, expired
// entries kept until the model itself notices them.
type model struct {
	m map[string]modelEntry
}

type modelEntry struct {
	value    []byte
	deadline int64 // 0 = none
}

func (m *model) live(k string, now int64) (modelEntry, bool) {
	e, ok := m.m[k]
	if !ok || (e.deadline != 0 && now >= e.deadline) {
		return modelEntry{}, false
	}
	return e, true
}

func (m *model) apply(now int64, r Request) (Response, error) {
	k := string(r.Key)
	e, ok := m.live(k, now)
	deadline := int64(0)
	if r.TTL > 0 {
		deadline = now + int64(r.TTL)
	}
	switch r.Op {
	case OpGet:
		if !ok {
			return Response{}, ErrNotFound
		}
		resp := Response{Found: true, Value: e.value}
		if e.deadline != 0 {
			resp.TTL = time.Duration(e.deadline - now)
		}
		return resp, nil
	case OpPut:
		if r.TTL < 0 {
			return Response{}, ErrInvalidTTL
		}
		m.m[k] = modelEntry{bytes.Clone(r.Value), deadline}
		return Response{}, nil
	case OpDelete:
		delete(m.m, k)
		return Response{Found: ok}, nil
	case OpIncr:
		var n int64
		if ok {
			v, err := strconv.ParseInt(string(e.value), 10, 64)
			if err != nil || strconv.FormatInt(v, 10) != string(e.value) {
				return Response{}, ErrNotInteger
			}
			if (r.Delta > 0 && v > math.MaxInt64-r.Delta) || (r.Delta < 0 && v < math.MinInt64-r.Delta) {
				return Response{}, ErrOverflow
			}
			n = v + r.Delta
		} else {
			n = r.Delta
			e = modelEntry{}
		}
		m.m[k] = modelEntry{[]byte(strconv.FormatInt(n, 10)), e.deadline}
		return Response{Counter: n}, nil
	case OpCompareAndSwap:
		if r.TTL < 0 {
			return Response{}, ErrInvalidTTL
		}
		if (r.ExpectAbsent && !ok) || (!r.ExpectAbsent && ok && bytes.Equal(e.value, r.Expected)) {
			m.m[k] = modelEntry{bytes.Clone(r.Value), deadline}
			return Response{Found: true, Swapped: true, Value: r.Value}, nil
		}
		if !ok {
			return Response{}, nil
		}
		return Response{Found: true, Value: e.value}, nil
	case OpAppend:
		v := append(bytes.Clone(e.value), r.Value...)
		if r.Delta > 0 && int64(len(v)) > r.Delta {
			return Response{}, ErrValueTooLarge
		}
		m.m[k] = modelEntry{v, e.deadline}
		return Response{Counter: int64(len(v))}, nil
	case OpGetDel:
		if !ok {
			return Response{}, ErrNotFound
		}
		delete(m.m, k)
		return Response{Found: true, Value: e.value}, nil
	case OpMSetNX:
		var pairs [][2][]byte
		for b := r.Value; len(b) > 0; {
			pk, pv, rest, ok := nextPair(b)
			if !ok {
				return Response{}, ErrCorrupt
			}
			pairs, b = append(pairs, [2][]byte{pk, pv}), rest
		}
		if len(pairs) == 0 {
			return Response{}, ErrCorrupt
		}
		for _, p := range pairs {
			if _, ok := m.live(string(p[0]), now); ok {
				return Response{Found: true}, nil
			}
		}
		for _, p := range pairs {
			m.m[string(p[0])] = modelEntry{bytes.Clone(p[1]), 0}
		}
		return Response{Found: true, Swapped: true}, nil
	case OpScan:
		count := int(r.Delta)
		if count <= 0 {
			count = defaultScanCount
		}
		var pos []uint64
		for k := range m.m {
			if _, ok := m.live(k, now); ok && scanPos([]byte(k)) >= r.Cursor {
				pos = append(pos, scanPos([]byte(k)))
			}
		}
		sort.Slice(pos, func(i, j int) bool { return pos[i] < pos[j] })
		last, next := uint64(1<<ScanBits-1), int64(0)
		if len(pos) >= count {
			last = pos[count-1]
			if last < 1<<ScanBits-1 {
				next = int64(last + 1)
			}
		}
		var keys []string
		for k := range m.m {
			if _, ok := m.live(k, now); ok && scanPos([]byte(k)) >= r.Cursor && scanPos([]byte(k)) <= last {
				keys = append(keys, k)
			}
		}
		return Response{Value: encodeKeys(keys), Counter: next}, nil
	case OpFlush:
		clear(m.m)
		return Response{}, nil
	}
	return Response{}, ErrUnknownOp
}

// encodeKeys encodes keys, sorted, as a scan response's Value.
func encodeKeys(keys []string) []byte {
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		b = appendBytes(b, []byte(k))
	}
	return b
}

// sortScan sorts the keys of a scan response, whose order is the store's.
func sortScan(r Response) Response {
	var keys []string
	if err := ScanKeys(r.Value, func(k []byte) { keys = append(keys, string(k)) }); err != nil {
		panic(err)
	}
	r.Value = encodeKeys(keys)
	return r
}

// liveContents renders the keys of s that are live at now, sorted.
func liveContents(s *Store, now time.Time) string {
	var lines []string
	s.Range(func(k, v []byte, d time.Time) bool {
		if d.IsZero() || now.Before(d) {
			lines = append(lines, fmt.Sprintf("%q=%q@%d", k, v, unixOrZero(d)))
		}
		return true
	})
	sort.Strings(lines)
	return fmt.Sprint(lines)
}

func unixOrZero(d time.Time) int64 {
	if d.IsZero() {
		return 0
	}
	return d.UnixNano()
}

func (m *model) liveContents(now int64) string {
	var lines []string
	for k := range m.m {
		if e, ok := m.live(k, now); ok {
			lines = append(lines, fmt.Sprintf("%q=%q@%d", k, e.value, e.deadline))
		}
	}
	sort.Strings(lines)
	return fmt.Sprint(lines)
}

var (
	modelKeys   = []string{"", "a", "b", "c", "counter"}
	modelValues = []string{"", "0", "1", "-1", "42", maxStr, minStr, "007", "x", "hello"}
	modelTTLs   = []time.Duration{0, 0, 1, 3, 10, time.Second, -1}
	modelDeltas = []int64{0, 1, -1, 7, math.MaxInt64, math.MinInt64}
	modelSteps  = []time.Duration{0, 1, 2, 3, 10, time.Second}
)

// drawStore returns a store with the default page sizes or tiny ones (so
// that pages fill, records get pages of their own, and compaction runs
// after a few writes), writing snapshots in format v1 or v2.
func drawStore(t *rapid.T) *Store {
	pages := rapid.SampledFrom([][2]int{{64, 128}, {64, 256}, {defaultMinPage, defaultMaxPage}}).Draw(t, "pages")
	version := rapid.SampledFrom([]int{snapV1, snapV2}).Draw(t, "snapshot version")
	return newStore(Config{SnapshotVersion: version}, pages[0], pages[1])
}

func genModelRequest() *rapid.Generator[Request] {
	return rapid.Custom(func(t *rapid.T) Request {
		bs := func(label string, from []string) []byte {
			return []byte(rapid.SampledFrom(from).Draw(t, label))
		}
		r := Request{
			Op:           Op(rapid.IntRange(0, 11).Draw(t, "op")),
			Key:          bs("key", modelKeys),
			Value:        bs("value", modelValues),
			Expected:     bs("expected", modelValues),
			ExpectAbsent: rapid.Bool().Draw(t, "absent"),
			Delta:        rapid.SampledFrom(modelDeltas).Draw(t, "delta"),
			TTL:          rapid.SampledFrom(modelTTLs).Draw(t, "ttl"),
		}
		switch r.Op {
		case OpAppend:
			r.Delta = rapid.SampledFrom([]int64{0, 1, 3, 8}).Draw(t, "max")
		case OpMSetNX:
			r.Value = nil
			for range rapid.IntRange(1, 3).Draw(t, "pairs") {
				r.Value = AppendPair(r.Value, bs("pair key", modelKeys), bs("pair value", modelValues))
			}
		case OpScan:
			r.Delta = rapid.SampledFrom([]int64{0, 1, 2, 3}).Draw(t, "count")
			r.Cursor = scanPos(bs("cursor key", modelKeys)) + rapid.Uint64Range(0, 1).Draw(t, "after")
		}
		return r
	})
}

// TestStoreMatchesModel runs random operation sequences, with a fake clock,
// expiry sweeps and snapshot/restore cycles, against the store and the model.
func TestStoreMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := drawStore(t)
		m := &model{m: map[string]modelEntry{}}
		now := t0
		h := drawStore(t) // driven through Handle
		check := func() {
			checkInvariants(t, s)
			checkInvariants(t, h)
			if got, want := liveContents(h, now), m.liveContents(now.UnixNano()); got != want {
				t.Fatalf("Handle store contents at %v:\nstore %s\nmodel %s", now.Sub(t0), got, want)
			}
			if got, want := liveContents(s, now), m.liveContents(now.UnixNano()); got != want {
				t.Fatalf("contents at %v:\nstore %s\nmodel %s", now.Sub(t0), got, want)
			}
		}
		t.Repeat(map[string]func(*rapid.T){
			"apply": func(t *rapid.T) {
				r := genModelRequest().Draw(t, "req")
				got, err := s.Apply(now, &r)
				want, wantErr := m.apply(now.UnixNano(), r)
				if r.Op == OpScan && err == nil {
					got = sortScan(got)
				}
				if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
					t.Fatalf("%v %q: err %v, model %v", r.Op, r.Key, err, wantErr)
				}
				if !responseEqual(got, want) {
					t.Fatalf("%v %q: got %+v, model %+v", r.Op, r.Key, got, want)
				}
				// The encoded path, on a second store kept in step, must agree.
				if b, encErr := r.AppendBinary(nil); encErr == nil {
					out, err := h.Handle(now, b)
					if !errors.Is(err, wantErr) || (wantErr == nil && err != nil) {
						t.Fatalf("Handle %v %q: err %v, model %v", r.Op, r.Key, err, wantErr)
					}
					if err == nil {
						dec, err := DecodeResponse(out)
						if r.Op == OpScan && err == nil {
							dec = sortScan(dec)
						}
						if err != nil || !responseEqual(dec, want) {
							t.Fatalf("Handle %v %q: got %+v, %v; model %+v", r.Op, r.Key, dec, err, want)
						}
					}
				} else {
					h.Apply(now, &r)
				}
				check()
			},
			"advance": func(t *rapid.T) {
				now = now.Add(rapid.SampledFrom(modelSteps).Draw(t, "step"))
				check()
			},
			"expire": func(t *rapid.T) {
				max := rapid.IntRange(0, 3).Draw(t, "max")
				due := 0
				s.Range(func(k, v []byte, d time.Time) bool {
					if !d.IsZero() && !now.Before(d) {
						due++
					}
					return true
				})
				if n := s.ExpireSome(now, max); n != min(max, due) {
					t.Fatalf("ExpireSome(%d) = %d with %d due", max, n, due)
				}
				h.ExpireSome(now, max)
				check()
			},
			"prefetch": func(t *rapid.T) {
				// Prefetching loads and changes nothing: the contents
				// (expired records included) stay as they were, and the
				// invariants hold. Batches past PrefetchBatch run in parts.
				before := liveContents(s, time.Time{})
				var pf Prefetcher
				for range rapid.IntRange(0, 2*PrefetchBatch+1).Draw(t, "keys") {
					k := []byte(rapid.SampledFrom(modelKeys).Draw(t, "key"))
					pf.Add(s, k)
					pf.Add(h, k)
				}
				pf.Run()
				if after := liveContents(s, time.Time{}); after != before {
					t.Fatalf("prefetch changed contents:\n%s\n%s", before, after)
				}
				check()
			},
			"snapshot": func(t *rapid.T) {
				var buf bytes.Buffer
				if err := s.Snapshot(&buf); err != nil {
					t.Fatal(err)
				}
				before := liveContents(s, time.Time{}) // everything, expired included
				s = drawStore(t)
				s.Apply(now, &Request{Op: OpPut, Key: []byte("junk"), Value: []byte("replaced")})
				if err := s.Restore(&buf); err != nil {
					t.Fatal(err)
				}
				if after := liveContents(s, time.Time{}); after != before {
					t.Fatalf("restore changed contents:\n%s\n%s", before, after)
				}
				check()
			},
		})
	})
}

// TestExpiryProperty drives many keys with random TTLs through puts,
// deletes, TTL removals and bounded sweeps, and checks that sweeps remove
// exactly the due keys, earliest first.
func TestExpiryProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := drawStore(t)
		now := t0
		nkeys := rapid.IntRange(1, 60).Draw(t, "nkeys")
		key := func(t *rapid.T) []byte {
			return []byte(strconv.Itoa(rapid.IntRange(0, nkeys-1).Draw(t, "key")))
		}
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				ttl := time.Duration(rapid.IntRange(0, 50).Draw(t, "ttl"))
				s.Apply(now, &Request{Op: OpPut, Key: key(t), TTL: ttl})
				checkInvariants(t, s)
			},
			"delete": func(t *rapid.T) {
				s.Apply(now, &Request{Op: OpDelete, Key: key(t)})
				checkInvariants(t, s)
			},
			"advance": func(t *rapid.T) {
				now = now.Add(time.Duration(rapid.IntRange(0, 20).Draw(t, "step")))
			},
			"sweep": func(t *rapid.T) {
				var due []int64
				s.Range(func(k, v []byte, d time.Time) bool {
					if !d.IsZero() && !now.Before(d) {
						due = append(due, d.UnixNano())
					}
					return true
				})
				sort.Slice(due, func(i, j int) bool { return due[i] < due[j] })
				max := rapid.IntRange(0, 10).Draw(t, "max")
				n := s.ExpireSome(now, max)
				if n != min(max, len(due)) {
					t.Fatalf("ExpireSome(%d) = %d with %d due", max, n, len(due))
				}
				// What is left that is due must be the latest of the due.
				if next, ok := s.NextDeadline(); ok && n < len(due) && next.UnixNano() != due[n] {
					t.Fatalf("after removing %d, next deadline %d, want %d", n, next.UnixNano(), due[n])
				}
				checkInvariants(t, s)
			},
		})
	})
}
