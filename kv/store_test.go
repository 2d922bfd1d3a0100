package kv

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"
)

// t0 is the fake clock's origin in every test.
var t0 = time.Unix(1_700_000_000, 0)

// step is one request at t0+at and what it must return.
type step struct {
	at   time.Duration
	req  Request
	want Response
	err  error
}

func get(k string) Request { return Request{Op: OpGet, Key: []byte(k)} }
func put(k, v string, ttl time.Duration) Request {
	return Request{Op: OpPut, Key: []byte(k), Value: []byte(v), TTL: ttl}
}
func del(k string) Request           { return Request{Op: OpDelete, Key: []byte(k)} }
func incr(k string, d int64) Request { return Request{Op: OpIncr, Key: []byte(k), Delta: d} }
func found(v string) Response        { return Response{Found: true, Value: []byte(v)} }
func foundTTL(v string, ttl time.Duration) Response {
	return Response{Found: true, Value: []byte(v), TTL: ttl}
}
func cas(k, expected, v string, ttl time.Duration) Request {
	return Request{Op: OpCompareAndSwap, Key: []byte(k), Expected: []byte(expected), Value: []byte(v), TTL: ttl}
}
func casAbsent(k, v string, ttl time.Duration) Request {
	return Request{Op: OpCompareAndSwap, Key: []byte(k), ExpectAbsent: true, Value: []byte(v), TTL: ttl}
}

const (
	maxStr = "9223372036854775807"
	minStr = "-9223372036854775808"
)

func TestApply(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"get absent", []step{
			{req: get("k"), err: ErrNotFound},
		}},
		{"put get", []step{
			{req: put("k", "v", 0)},
			{req: get("k"), want: found("v")},
			{req: get("other"), err: ErrNotFound},
		}},
		{"empty key and value", []step{
			{req: put("", "", 0)},
			{req: get(""), want: Response{Found: true}},
		}},
		{"put overwrites value and clears ttl", []step{
			{req: put("k", "a", time.Second)},
			{req: put("k", "b", 0)},
			{at: time.Hour, req: get("k"), want: found("b")},
		}},
		{"put replaces ttl", []step{
			{req: put("k", "a", time.Second)},
			{req: put("k", "b", time.Minute)},
			{at: time.Second, req: get("k"), want: foundTTL("b", time.Minute-time.Second)},
			{at: time.Minute, req: get("k"), err: ErrNotFound},
		}},
		{"ttl expires exactly at deadline", []step{
			{req: put("k", "v", 10*time.Nanosecond)},
			{req: get("k"), want: foundTTL("v", 10)},
			{at: 9, req: get("k"), want: foundTTL("v", 1)},
			{at: 10, req: get("k"), err: ErrNotFound},
		}},
		{"one nanosecond ttl", []step{
			{req: put("k", "v", 1)},
			{req: get("k"), want: foundTTL("v", 1)},
			{at: 1, req: get("k"), err: ErrNotFound},
		}},
		{"huge ttl saturates", []step{
			{req: put("k", "v", math.MaxInt64)},
			{at: 1000 * time.Hour, req: get("k"), want: foundTTL("v", time.Duration(math.MaxInt64-t0.UnixNano())-1000*time.Hour)},
		}},
		{"negative ttl", []step{
			{req: put("k", "v", -1), err: ErrInvalidTTL},
			{req: get("k"), err: ErrNotFound},
			{req: cas("k", "", "v", -time.Second), err: ErrInvalidTTL},
			{req: Request{Op: OpCompareAndSwap, Key: []byte("k"), ExpectAbsent: true, Value: []byte("v"), TTL: -1}, err: ErrInvalidTTL},
			{req: get("k"), err: ErrNotFound},
		}},
		{"delete", []step{
			{req: del("k"), want: Response{Found: false}},
			{req: put("k", "v", 0)},
			{req: del("k"), want: Response{Found: true}},
			{req: get("k"), err: ErrNotFound},
			{req: del("k"), want: Response{Found: false}},
		}},
		{"delete expired", []step{
			{req: put("k", "v", 5)},
			{at: 4, req: del("other")},
			{at: 5, req: del("k"), want: Response{Found: false}},
		}},
		{"incr absent counts from zero", []step{
			{req: incr("c", 5), want: Response{Counter: 5}},
			{req: get("c"), want: found("5")},
			{req: incr("c", -7), want: Response{Counter: -2}},
			{req: get("c"), want: found("-2")},
			{req: incr("z", 0), want: Response{Counter: 0}},
			{req: get("z"), want: found("0")},
		}},
		{"incr on put decimal", []step{
			{req: put("c", "41", 0)},
			{req: incr("c", 1), want: Response{Counter: 42}},
			{req: put("c", "-1", 0)},
			{req: incr("c", 1), want: Response{Counter: 0}},
			{req: get("c"), want: found("0")},
		}},
		{"incr not integer", []step{
			{req: put("c", "abc", 0)},
			{req: incr("c", 1), err: ErrNotInteger},
			{req: get("c"), want: found("abc")},
			{req: put("c", "", 0)},
			{req: incr("c", 1), err: ErrNotInteger},
			{req: put("c", "007", 0)},
			{req: incr("c", 1), err: ErrNotInteger},
			{req: put("c", "+1", 0)},
			{req: incr("c", 1), err: ErrNotInteger},
			{req: put("c", "-0", 0)},
			{req: incr("c", 1), err: ErrNotInteger},
			{req: put("c", " 1", 0)},
			{req: incr("c", 1), err: ErrNotInteger},
			{req: put("c", "9223372036854775808", 0)},
			{req: incr("c", 0), err: ErrNotInteger},
		}},
		{"incr overflow", []step{
			{req: put("c", maxStr, 0)},
			{req: incr("c", 0), want: Response{Counter: math.MaxInt64}},
			{req: incr("c", 1), err: ErrOverflow},
			{req: get("c"), want: found(maxStr)},
			{req: incr("c", math.MinInt64), want: Response{Counter: -1}},
			{req: incr("c", math.MinInt64), err: ErrOverflow},
			{req: incr("c", -math.MaxInt64), want: Response{Counter: math.MinInt64}},
			{req: get("c"), want: found(minStr)},
			{req: incr("c", -1), err: ErrOverflow},
			{req: incr("c", math.MaxInt64), want: Response{Counter: -1}},
		}},
		{"incr keeps ttl", []step{
			{req: put("c", "1", 10)},
			{at: 3, req: incr("c", 1), want: Response{Counter: 2}},
			{at: 4, req: get("c"), want: foundTTL("2", 6)},
			{at: 10, req: get("c"), err: ErrNotFound},
		}},
		{"incr expired starts over without ttl", []step{
			{req: put("c", "100", 10)},
			{at: 10, req: incr("c", 1), want: Response{Counter: 1}},
			{at: time.Hour, req: get("c"), want: found("1")},
		}},
		{"cas expected", []step{
			{req: cas("k", "a", "b", 0), want: Response{}},
			{req: get("k"), err: ErrNotFound},
			{req: put("k", "a", 0)},
			{req: cas("k", "x", "b", 0), want: found("a")},
			{req: cas("k", "a", "b", 0), want: Response{Found: true, Swapped: true, Value: []byte("b")}},
			{req: get("k"), want: found("b")},
		}},
		{"cas empty expected matches empty value only", []step{
			{req: cas("k", "", "v", 0), want: Response{}},
			{req: put("k", "", 0)},
			{req: cas("k", "", "v", 0), want: Response{Found: true, Swapped: true, Value: []byte("v")}},
			{req: cas("k", "", "w", 0), want: found("v")},
		}},
		{"cas expect absent", []step{
			{req: casAbsent("k", "v", 0), want: Response{Found: true, Swapped: true, Value: []byte("v")}},
			{req: casAbsent("k", "w", 0), want: found("v")},
			{req: get("k"), want: found("v")},
		}},
		{"cas expect absent ignores expected", []step{
			{req: Request{Op: OpCompareAndSwap, Key: []byte("k"), ExpectAbsent: true, Expected: []byte("zz"), Value: []byte("v")},
				want: Response{Found: true, Swapped: true, Value: []byte("v")}},
		}},
		{"cas expect absent on expired", []step{
			{req: put("k", "old", 5)},
			{at: 4, req: casAbsent("k", "new", 0), want: found("old")},
			{at: 5, req: casAbsent("k", "new", 0), want: Response{Found: true, Swapped: true, Value: []byte("new")}},
			{at: time.Hour, req: get("k"), want: found("new")},
		}},
		{"cas expected on expired", []step{
			{req: put("k", "a", 5)},
			{at: 5, req: cas("k", "a", "b", 0), want: Response{}},
		}},
		{"cas sets and clears ttl", []step{
			{req: put("k", "a", 0)},
			{req: cas("k", "a", "b", 10), want: Response{Found: true, Swapped: true, Value: []byte("b")}},
			{at: 2, req: get("k"), want: foundTTL("b", 8)},
			{at: 2, req: cas("k", "b", "c", 0), want: Response{Found: true, Swapped: true, Value: []byte("c")}},
			{at: time.Hour, req: get("k"), want: found("c")},
		}},
		{"failed cas keeps ttl", []step{
			{req: put("k", "a", 10)},
			{req: cas("k", "x", "b", 0), want: found("a")},
			{at: 10, req: get("k"), err: ErrNotFound},
		}},
		{"unknown op", []step{
			{req: Request{Op: 0, Key: []byte("k")}, err: ErrUnknownOp},
			{req: Request{Op: 99, Key: []byte("k")}, err: ErrUnknownOp},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore()
			for i, st := range tt.steps {
				got, err := s.Apply(t0.Add(st.at), &st.req)
				if !errors.Is(err, st.err) || (st.err == nil && err != nil) {
					t.Fatalf("step %d %v %q: err = %v, want %v", i, st.req.Op, st.req.Key, err, st.err)
				}
				if !responseEqual(got, st.want) {
					t.Fatalf("step %d %v %q: got %+v, want %+v", i, st.req.Op, st.req.Key, got, st.want)
				}
				checkInvariants(t, s)
			}
		})
	}
}

// responseEqual compares responses treating nil and empty values alike.
func responseEqual(a, b Response) bool {
	return a.Found == b.Found && a.Swapped == b.Swapped && a.Counter == b.Counter &&
		a.TTL == b.TTL && bytes.Equal(a.Value, b.Value)
}

// fataler is the part of testing.TB and *rapid.T the helpers use.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// checkInvariants verifies the store's internal structure: every page's
// records and live bytes, the index (every live record found under its key,
// nothing else in it), heap positions and order, the key count and the byte
// count.
func checkInvariants(t fataler, s *Store) {
	t.Helper()
	held := len(s.spare) + (len(s.table)+len(s.old))*slotBytes + cap(s.heap)*heapEntrySz
	live, withDeadline := 0, 0
	for p := 1; p < len(s.pages); p++ {
		pg := &s.pages[p]
		if pg.data == nil {
			if pg.used != 0 || pg.live != 0 {
				t.Fatalf("free page %d: used %d live %d", p, pg.used, pg.live)
			}
			continue
		}
		held += len(pg.data)
		pageLive := 0
		off := 0
		for off < pg.used {
			r := pg.data[off:]
			size := le32(r, hSize)
			n := size &^ deadBit
			if n < recHeader || n%8 != 0 || off+n > pg.used || recSize(le32(r, hKlen), le32(r, hVlen)) > n {
				t.Fatalf("page %d offset %d: bad record size %d (klen %d vlen %d used %d)", p, off, size, le32(r, hKlen), le32(r, hVlen), pg.used)
			}
			if size&deadBit == 0 {
				pageLive += n
				live++
				loc := uint32(p)<<offBits | uint32(off>>3)
				key := recKey(r)
				if _, got, ok := s.lookup(hashKey(key), key); !ok || got != loc {
					t.Fatalf("key %q at %#x: index says %#x, %v", key, loc, got, ok)
				}
				h := le32(r, hHeap)
				if recDeadline(r) == 0 {
					if h != 0 {
						t.Fatalf("key %q without deadline has heap position %d", key, h-1)
					}
				} else {
					withDeadline++
					if h < 1 || h > len(s.heap) || s.heap[h-1] != loc {
						t.Fatalf("key %q: bad heap position %d", key, h-1)
					}
				}
			}
			off += n
		}
		if off != pg.used || pageLive != pg.live {
			t.Fatalf("page %d: walked to %d of %d, live %d, recorded %d", p, off, pg.used, pageLive, pg.live)
		}
		if pg.live == 0 && uint32(p) != s.active && uint32(p) != s.victim {
			t.Fatalf("page %d holds nothing live and was not freed", p)
		}
	}
	slots := 0
	for _, sl := range s.table {
		if sl != 0 {
			slots++
		}
	}
	for i, sl := range s.old {
		if (i-s.mstart)&(len(s.old)-1) < s.migrated && sl != 0 {
			t.Fatalf("old index slot %d, migrated, holds %#x", i, sl)
		}
		if sl != 0 && sl != tombstone {
			slots++
		}
	}
	if s.old != nil && s.migrated >= len(s.old) {
		t.Fatalf("old index kept after migration")
	}
	if live != s.count || slots != s.count {
		t.Fatalf("count %d, live records %d, index entries %d", s.count, live, slots)
	}
	if s.count*maxLoadDen > len(s.table)*maxLoadNum {
		t.Fatalf("index of %d slots holds %d keys", len(s.table), s.count)
	}
	if withDeadline != len(s.heap) {
		t.Fatalf("heap has %d items, %d records have deadlines", len(s.heap), withDeadline)
	}
	for h := 1; h < len(s.heap); h++ {
		if s.heapDeadline(h) < s.heapDeadline((h-1)/2) {
			t.Fatalf("heap order violated at %d", h)
		}
	}
	if held != s.Bytes() {
		t.Fatalf("Bytes() = %d, recomputed %d", s.Bytes(), held)
	}
	if lim := s.acct.limit; lim != nil && lim.Used() < int64(held) {
		t.Fatalf("limit used %d < store's %d", lim.Used(), held)
	}
}

func TestApplyCopiesBuffers(t *testing.T) {
	s := NewStore()
	key := []byte("key")
	val := []byte("value")
	if _, err := s.Apply(t0, &Request{Op: OpPut, Key: key, Value: val}); err != nil {
		t.Fatal(err)
	}
	copy(key, "XXX")
	copy(val, "XXXXX")
	resp, err := s.Apply(t0, &Request{Op: OpGet, Key: []byte("key")})
	if err != nil || string(resp.Value) != "value" {
		t.Fatalf("get after caller reused buffers = %q, %v", resp.Value, err)
	}
	copy(resp.Value, "YYYYY")
	resp, _ = s.Apply(t0, &Request{Op: OpGet, Key: []byte("key")})
	if string(resp.Value) != "value" {
		t.Fatalf("get after caller modified returned value = %q", resp.Value)
	}
	cas := Request{Op: OpCompareAndSwap, Key: []byte("key"), Expected: []byte("value"), Value: []byte("other")}
	resp, _ = s.Apply(t0, &cas)
	copy(resp.Value, "ZZZZZ")
	copy(cas.Value, "WWWWW")
	resp, _ = s.Apply(t0, &Request{Op: OpGet, Key: []byte("key")})
	if string(resp.Value) != "other" {
		t.Fatalf("get after cas = %q", resp.Value)
	}
}

func TestValueReuse(t *testing.T) {
	s := NewStore()
	for i := range 100 {
		v := bytes.Repeat([]byte{'x'}, 100-i)
		if _, err := s.Apply(t0, &Request{Op: OpPut, Key: []byte("k"), Value: v}); err != nil {
			t.Fatal(err)
		}
		checkInvariants(t, s)
		resp, err := s.Apply(t0, &Request{Op: OpGet, Key: []byte("k")})
		if err != nil || !bytes.Equal(resp.Value, v) {
			t.Fatalf("round %d: got %q, %v", i, resp.Value, err)
		}
	}
	_, loc, _ := s.lookup(hashKey([]byte("k")), []byte("k"))
	if c := recCap(s.rec(loc)); c > 2*1+32+7 {
		t.Fatalf("1-byte value keeps a %d-byte record", c)
	}
}

func TestExpireSome(t *testing.T) {
	s := NewStore()
	apply := func(at time.Duration, r Request) {
		t.Helper()
		if _, err := s.Apply(t0.Add(at), &r); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := s.NextDeadline(); ok {
		t.Fatal("empty store has a next deadline")
	}
	for i := range 10 {
		apply(0, put("k"+strconv.Itoa(i), "v", time.Duration(10-i)*time.Second)) // k9 expires first
	}
	apply(0, put("forever", "v", 0))
	apply(0, put("k0", "v", 0)) // k0 loses its TTL
	checkInvariants(t, s)
	if d, ok := s.NextDeadline(); !ok || !d.Equal(t0.Add(time.Second)) {
		t.Fatalf("NextDeadline = %v, %v; want %v", d, ok, t0.Add(time.Second))
	}
	if n := s.ExpireSome(t0.Add(time.Second-1), 100); n != 0 {
		t.Fatalf("expired %d keys before the first deadline", n)
	}
	// At 5s: k9..k5 (deadlines 1..5s) are due; remove them 2 at a time.
	now := t0.Add(5 * time.Second)
	for _, want := range []int{2, 2, 1, 0} {
		if n := s.ExpireSome(now, 2); n != want {
			t.Fatalf("ExpireSome = %d, want %d", n, want)
		}
		checkInvariants(t, s)
	}
	if s.Len() != 6 {
		t.Fatalf("Len = %d, want 6", s.Len())
	}
	if n := s.ExpireSome(now, 0); n != 0 {
		t.Fatalf("ExpireSome(max 0) = %d", n)
	}
	if d, _ := s.NextDeadline(); !d.Equal(t0.Add(6 * time.Second)) {
		t.Fatalf("NextDeadline = %v", d)
	}
	if n := s.ExpireSome(t0.Add(time.Hour), math.MaxInt); n != 4 {
		t.Fatalf("final sweep removed %d, want 4", n)
	}
	var keys []string
	s.Range(func(k, v []byte, d time.Time) bool {
		keys = append(keys, string(k))
		if !d.IsZero() {
			t.Errorf("key %q left with deadline %v", k, d)
		}
		return true
	})
	if len(keys) != 2 {
		t.Fatalf("left %q, want k0 and forever", keys)
	}
	checkInvariants(t, s)
}

func TestBytesAndLen(t *testing.T) {
	s := NewStore()
	for i := range 2000 {
		k := strconv.Itoa(i)
		if _, err := s.Apply(t0, &Request{Op: OpPut, Key: []byte(k), Value: []byte(k + k), TTL: time.Duration(i%3) * time.Second}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 2000 || s.Bytes() < 2000*recHeader {
		t.Fatalf("Len %d Bytes %d", s.Len(), s.Bytes())
	}
	for i := range 2000 {
		if _, err := s.Apply(t0, &Request{Op: OpDelete, Key: []byte(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
		if i%97 == 0 {
			checkInvariants(t, s)
		}
	}
	// What is left: the active page, the index and the heap's array.
	if s.Len() != 0 || s.Bytes() > defaultMaxPage+len(s.table)*slotBytes+cap(s.heap)*heapEntrySz || len(s.heap) != 0 {
		t.Fatalf("after deleting all: Len %d Bytes %d heap %d", s.Len(), s.Bytes(), len(s.heap))
	}
	s.Reset()
	if s.Len() != 0 || s.Bytes() != 0 {
		t.Fatalf("Reset left %d keys, %d bytes", s.Len(), s.Bytes())
	}
	checkInvariants(t, s)
}

func TestRangeStops(t *testing.T) {
	s := NewStore()
	for i := range 10 {
		s.Apply(t0, &Request{Op: OpPut, Key: []byte{byte(i)}})
	}
	n := 0
	s.Range(func(k, v []byte, d time.Time) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("Range called fn %d times after it returned false", n)
	}
}

func TestHandle(t *testing.T) {
	s := NewStore()
	enc := func(r Request) []byte {
		t.Helper()
		b, err := r.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := s.Handle(t0, enc(put("k", "v", time.Second))); err != nil {
		t.Fatal(err)
	}
	out, err := s.Handle(t0.Add(time.Millisecond), enc(get("k")))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := DecodeResponse(out)
	if err != nil || !responseEqual(resp, foundTTL("v", time.Second-time.Millisecond)) {
		t.Fatalf("decoded %+v, %v", resp, err)
	}
	if _, err := s.Handle(t0, enc(get("absent"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get absent: %v", err)
	}
	if _, err := s.Handle(t0, []byte{9, 9}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("garbage: %v", err)
	}
	dst := []byte("prefix")
	got, err := s.HandleAppend(dst, t0, enc(incr("k", 1)))
	if !errors.Is(err, ErrNotInteger) || string(got) != "prefix" {
		t.Fatalf("HandleAppend error case = %q, %v", got, err)
	}
	got, err = s.HandleAppend(dst, t0, enc(incr("n", -3)))
	if err != nil || string(got[:6]) != "prefix" {
		t.Fatalf("HandleAppend = %q, %v", got, err)
	}
	if resp, err := DecodeResponse(got[6:]); err != nil || resp.Counter != -3 {
		t.Fatalf("decoded %+v, %v", resp, err)
	}
}

func TestHandleAllocs(t *testing.T) {
	s := NewStore()
	s.Apply(t0, &Request{Op: OpPut, Key: []byte("key"), Value: []byte("value")})
	s.Apply(t0, &Request{Op: OpIncr, Key: []byte("n")})
	reqs := map[string]Request{
		"get":  get("key"),
		"put":  put("key", "other", 0),
		"incr": incr("n", 1),
		"cas":  cas("key", "other", "other", 0),
	}
	for name, r := range reqs {
		payload, _ := r.AppendBinary(nil)
		dst := make([]byte, 0, 64)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := s.HandleAppend(dst[:0], t0, payload); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("HandleAppend %s on an existing key: %v allocs, want 0", name, allocs)
		}
	}
}

func TestParseCounter(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"-1", -1, true}, {"42", 42, true},
		{maxStr, math.MaxInt64, true}, {minStr, math.MinInt64, true},
		{"", 0, false}, {"-", 0, false}, {"-0", 0, false}, {"00", 0, false}, {"01", 0, false},
		{"+1", 0, false}, {" 1", 0, false}, {"1 ", 0, false}, {"1a", 0, false}, {"0x1", 0, false},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false},
		{"18446744073709551616", 0, false}, {"99999999999999999999", 0, false},
		{"-99999999999999999999", 0, false}, {"123456789012345678901", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseCounter([]byte(tt.in))
			if got != tt.want || ok != tt.ok {
				t.Fatalf("parseCounter(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzParseCounter checks parseCounter against strconv: it accepts exactly
// the strings that FormatInt produces.
func FuzzParseCounter(f *testing.F) {
	for _, s := range []string{"0", "-1", maxStr, minStr, "007", "-0", "+5", "18446744073709551615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseCounter([]byte(s))
		v, err := strconv.ParseInt(s, 10, 64)
		want := err == nil && strconv.FormatInt(v, 10) == s
		if ok != want || (ok && got != v) {
			t.Fatalf("parseCounter(%q) = %d, %v; strconv says %d, %v", s, got, ok, v, want)
		}
	})
}
