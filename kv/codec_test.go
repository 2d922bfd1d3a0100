package kv

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestOpString(t *testing.T) {
	for op, want := range map[Op]string{OpGet: "get", OpPut: "put", OpDelete: "delete", OpIncr: "incr",
		OpCompareAndSwap: "cas", OpAppend: "append", OpGetDel: "getdel", OpMSetNX: "msetnx", OpScan: "scan", OpFlush: "flush",
		0: "Op(0)", 200: "Op(200)"} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", uint8(op), got, want)
		}
	}
}

func TestRequestEncoding(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want []byte
	}{
		{"get", get("k"), []byte{1, 1, 0, 1, 'k'}},
		{"get empty key", get(""), []byte{1, 1, 0, 0}},
		{"get drops unused fields", Request{Op: OpGet, Key: []byte("k"), Value: []byte("v"), Delta: 3, TTL: 9, ExpectAbsent: true},
			[]byte{1, 1, 0, 1, 'k'}},
		{"put", put("k", "v", 300), []byte{1, 2, reqValue | reqTTL, 1, 'k', 1, 'v', 0xac, 0x02}},
		{"put request id", Request{Op: OpPut, Key: []byte("k"), RequestID: 7}, []byte{1, 2, reqRequestID, 1, 'k', 7}},
		{"delete", del("k"), []byte{1, 3, 0, 1, 'k'}},
		{"incr", incr("k", -1), []byte{1, 4, reqDelta, 1, 'k', 1}},
		{"incr zero", incr("k", 0), []byte{1, 4, 0, 1, 'k'}},
		{"cas", cas("k", "a", "b", 0), []byte{1, 5, reqValue | reqExpected, 1, 'k', 1, 'b', 1, 'a'}},
		{"cas absent drops expected", Request{Op: OpCompareAndSwap, Key: []byte("k"), Expected: []byte("a"), ExpectAbsent: true},
			[]byte{1, 5, reqExpectAbsent, 1, 'k'}},
		{"append", Request{Op: OpAppend, Key: []byte("k"), Value: []byte("v"), Delta: 3}, []byte{1, 6, reqValue | reqDelta, 1, 'k', 1, 'v', 6}},
		{"getdel", Request{Op: OpGetDel, Key: []byte("k"), Value: []byte("v")}, []byte{1, 7, 0, 1, 'k'}},
		{"msetnx", Request{Op: OpMSetNX, Key: []byte("a"), Value: AppendPair(nil, []byte("a"), []byte("1"))},
			[]byte{1, 8, reqValue, 1, 'a', 4, 1, 'a', 1, '1'}},
		{"scan", Request{Op: OpScan, Key: []byte("p"), Delta: 10, Cursor: 300, RequestID: 5}, []byte{1, 9, reqDelta | reqCursor, 1, 'p', 20, 0xac, 0x02}},
		{"flush", Request{Op: OpFlush, Key: []byte("p"), TTL: 3}, []byte{1, 10, 0, 1, 'p'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.req.AppendBinary([]byte{0xff})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[1:], tt.want) || got[0] != 0xff {
				t.Fatalf("AppendBinary = %v, want %v", got[1:], tt.want)
			}
			dec, err := DecodeRequest(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if !requestEqual(dec, normalize(tt.req)) {
				t.Fatalf("decoded %+v, want %+v", dec, normalize(tt.req))
			}
		})
	}
}

func TestRequestEncodeErrors(t *testing.T) {
	for _, r := range []Request{{Op: 0}, {Op: 11}, put("k", "v", -1), cas("k", "", "v", -1)} {
		b, err := r.AppendBinary([]byte("x"))
		want := ErrInvalidTTL
		if !r.Op.Valid() {
			want = ErrUnknownOp
		}
		if !errors.Is(err, want) || string(b) != "x" {
			t.Errorf("AppendBinary(%+v) = %v, %v; want %v and b unchanged", r, b, err, want)
		}
	}
	// A negative TTL on an op that ignores TTL is not encoded, so no error.
	if _, err := (&Request{Op: OpGet, TTL: -1}).AppendBinary(nil); err != nil {
		t.Errorf("get with ignored negative ttl: %v", err)
	}
	if _, err := (&Response{TTL: -1}).AppendBinary(nil); !errors.Is(err, ErrInvalidTTL) {
		t.Errorf("response with negative ttl: %v", err)
	}
}

func TestDecodeRequestRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		err  error
	}{
		{"empty", nil, ErrTruncated},
		{"short", []byte{1, 1}, ErrTruncated},
		{"no key", []byte{1, 1, 0}, ErrTruncated},
		{"version", []byte{2, 1, 0, 0}, ErrVersion},
		{"op zero", []byte{1, 0, 0, 0}, ErrUnknownOp},
		{"op eleven", []byte{1, 11, 0, 0}, ErrUnknownOp},
		{"trailing", []byte{1, 1, 0, 0, 0}, ErrCorrupt},
		{"key too long", []byte{1, 1, 0, 2, 'k'}, ErrTruncated},
		{"key length non-minimal", []byte{1, 1, 0, 0x81, 0, 'k'}, ErrCorrupt},
		{"key length overflow", []byte{1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1}, ErrCorrupt},
		{"key length huge", []byte{1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, ErrTruncated},
		{"flag unused by op", []byte{1, 1, reqValue, 0, 1, 'v'}, ErrCorrupt},
		{"unknown flag", []byte{1, 5, 0x80, 0}, ErrCorrupt},
		{"cursor on cas", []byte{1, 5, reqCursor, 0, 1}, ErrCorrupt},
		{"zero cursor marked present", []byte{1, 9, reqCursor, 0, 0}, ErrCorrupt},
		{"expected and absent", []byte{1, 5, reqExpected | reqExpectAbsent, 0, 1, 'a'}, ErrCorrupt},
		{"empty value marked present", []byte{1, 2, reqValue, 0, 0}, ErrCorrupt},
		{"zero delta marked present", []byte{1, 4, reqDelta, 0, 0}, ErrCorrupt},
		{"zero ttl marked present", []byte{1, 2, reqTTL, 0, 0}, ErrCorrupt},
		{"ttl out of range", []byte{1, 2, reqTTL, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, ErrCorrupt},
		{"zero request id", []byte{1, 3, reqRequestID, 0, 0}, ErrCorrupt},
		{"missing delta", []byte{1, 4, reqDelta, 0}, ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeRequest(tt.in)
			if !errors.Is(err, tt.err) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeRequest(%v) = %+v, %v; want %v", tt.in, r, err, tt.err)
			}
		})
	}
}

func TestDecodeResponseRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		err  error
	}{
		{"empty", nil, ErrTruncated},
		{"version", []byte{0, 0}, ErrVersion},
		{"unknown flag", []byte{1, 0x20}, ErrCorrupt},
		{"trailing", []byte{1, 0, 0}, ErrCorrupt},
		{"value missing", []byte{1, respValue}, ErrTruncated},
		{"empty value", []byte{1, respValue, 0}, ErrCorrupt},
		{"zero counter", []byte{1, respCounter, 0}, ErrCorrupt},
		{"non-minimal counter", []byte{1, respCounter, 0x82, 0}, ErrCorrupt},
		{"zero ttl", []byte{1, respTTL, 0}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeResponse(tt.in)
			if !errors.Is(err, tt.err) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeResponse(%v) = %+v, %v; want %v", tt.in, r, err, tt.err)
			}
		})
	}
}

func TestDecodeAliasesAndDoesNotAllocate(t *testing.T) {
	r := Request{Op: OpCompareAndSwap, Key: []byte("key"), Expected: []byte("old"), Value: []byte("new"), TTL: time.Hour, RequestID: 99}
	b, _ := r.AppendBinary(nil)
	resp := Response{Found: true, Swapped: true, Value: []byte("value"), Counter: -5, TTL: time.Second}
	rb, _ := resp.AppendBinary(nil)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeRequest(b); err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeResponse(rb); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("decoding allocates %v times", allocs)
	}
}

// normalize returns what AppendBinary keeps of r: the fields its op uses.
func normalize(r Request) Request {
	n := Request{Op: r.Op, Key: r.Key, RequestID: r.RequestID}
	switch r.Op {
	case OpPut:
		n.Value, n.TTL = r.Value, r.TTL
	case OpIncr:
		n.Delta = r.Delta
	case OpCompareAndSwap:
		n.Value, n.TTL, n.ExpectAbsent = r.Value, r.TTL, r.ExpectAbsent
		if !r.ExpectAbsent {
			n.Expected = r.Expected
		}
	case OpAppend:
		n.Value, n.Delta = r.Value, r.Delta
	case OpMSetNX:
		n.Value = r.Value
	case OpScan:
		n.Delta, n.Cursor, n.RequestID = r.Delta, r.Cursor, 0
	}
	return n
}

func requestEqual(a, b Request) bool {
	return a.Op == b.Op && bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) &&
		bytes.Equal(a.Expected, b.Expected) && a.ExpectAbsent == b.ExpectAbsent && a.Delta == b.Delta &&
		a.TTL == b.TTL && a.RequestID == b.RequestID && a.Cursor == b.Cursor
}

func genBytes() *rapid.Generator[[]byte] { return rapid.SliceOfN(rapid.Byte(), 0, 300) }

func genInt64() *rapid.Generator[int64] {
	return rapid.OneOf(rapid.Int64(), rapid.SampledFrom([]int64{0, 1, -1, math.MaxInt64, math.MinInt64}))
}

func genRequest() *rapid.Generator[Request] {
	return rapid.Custom(func(t *rapid.T) Request {
		return Request{
			Op:           Op(rapid.IntRange(1, 10).Draw(t, "op")),
			Key:          genBytes().Draw(t, "key"),
			Value:        genBytes().Draw(t, "value"),
			Expected:     genBytes().Draw(t, "expected"),
			ExpectAbsent: rapid.Bool().Draw(t, "absent"),
			Delta:        genInt64().Draw(t, "delta"),
			TTL:          time.Duration(rapid.Int64Range(0, math.MaxInt64).Draw(t, "ttl")),
			RequestID:    rapid.OneOf(rapid.Uint64(), rapid.Just[uint64](0)).Draw(t, "id"),
			Cursor:       rapid.OneOf(rapid.Uint64(), rapid.Just[uint64](0)).Draw(t, "cursor"),
		}
	})
}

func TestRequestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := genRequest().Draw(t, "req")
		b, err := r.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeRequest(b)
		if err != nil {
			t.Fatalf("decode %v: %v", b, err)
		}
		if !requestEqual(got, normalize(r)) {
			t.Fatalf("round trip: got %+v, want %+v", got, normalize(r))
		}
		again, _ := got.AppendBinary(nil)
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %v vs %v", again, b)
		}
	})
}

func TestResponseRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := Response{
			Found:   rapid.Bool().Draw(t, "found"),
			Value:   genBytes().Draw(t, "value"),
			Counter: genInt64().Draw(t, "counter"),
			Swapped: rapid.Bool().Draw(t, "swapped"),
			TTL:     time.Duration(rapid.Int64Range(0, math.MaxInt64).Draw(t, "ttl")),
		}
		b, err := r.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeResponse(b)
		if err != nil {
			t.Fatalf("decode %v: %v", b, err)
		}
		if !responseEqual(got, r) {
			t.Fatalf("round trip: got %+v, want %+v", got, r)
		}
	})
}
