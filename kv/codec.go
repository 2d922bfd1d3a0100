package kv

import (
	"encoding"
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
	"time"
)

// codecVersion is the first byte of every encoded Request and Response.
const codecVersion = 1

// Request field flags (third byte of an encoded Request). A flag is set if and
// only if its field is non-zero, so every Request has exactly one encoding.
const (
	reqValue        = 1 << 0
	reqExpected     = 1 << 1
	reqExpectAbsent = 1 << 2
	reqDelta        = 1 << 3
	reqTTL          = 1 << 4
	reqRequestID    = 1 << 5
	reqCursor       = 1 << 6
)

// reqAllowed is, per Op, the set of fields that op uses.
var reqAllowed = [...]uint8{
	OpGet:            reqRequestID,
	OpPut:            reqValue | reqTTL | reqRequestID,
	OpDelete:         reqRequestID,
	OpIncr:           reqDelta | reqRequestID,
	OpCompareAndSwap: reqValue | reqExpected | reqExpectAbsent | reqTTL | reqRequestID,
	OpAppend:         reqValue | reqDelta | reqRequestID,
	OpGetDel:         reqRequestID,
	OpMSetNX:         reqValue | reqRequestID,
	OpScan:           reqDelta | reqCursor,
	OpFlush:          reqRequestID,
}

// Response field flags (second byte of an encoded Response).
const (
	respFound   = 1 << 0
	respSwapped = 1 << 1
	respValue   = 1 << 2
	respCounter = 1 << 3
	respTTL     = 1 << 4
	respAll     = respFound | respSwapped | respValue | respCounter | respTTL
)

var (
	_ encoding.BinaryAppender = (*Request)(nil)
	_ encoding.BinaryAppender = (*Response)(nil)
)

// flags returns the fields of r that its Op uses and that are non-zero.
// r.Op must be valid.
func (r *Request) flags() uint8 {
	var f uint8
	if len(r.Value) > 0 {
		f |= reqValue
	}
	if r.ExpectAbsent {
		f |= reqExpectAbsent
	} else if len(r.Expected) > 0 {
		f |= reqExpected
	}
	if r.Delta != 0 {
		f |= reqDelta
	}
	if r.TTL != 0 {
		f |= reqTTL
	}
	if r.RequestID != 0 {
		f |= reqRequestID
	}
	if r.Cursor != 0 {
		f |= reqCursor
	}
	return f & reqAllowed[r.Op]
}

// AppendBinary appends the encoding of r to b and returns the extended
// buffer. Fields r.Op does not use are not encoded, nor is Expected when
// ExpectAbsent is set. It fails with ErrUnknownOp for an invalid Op and with
// ErrInvalidTTL for a negative TTL on put or cas; b is then returned
// unchanged.
func (r *Request) AppendBinary(b []byte) ([]byte, error) {
	if !r.Op.Valid() {
		return b, ErrUnknownOp
	}
	f := r.flags()
	if f&reqTTL != 0 && r.TTL < 0 {
		return b, ErrInvalidTTL
	}
	n := 3 + uvarintLen(uint64(len(r.Key))) + len(r.Key)
	if f&reqValue != 0 {
		n += uvarintLen(uint64(len(r.Value))) + len(r.Value)
	}
	if f&reqExpected != 0 {
		n += uvarintLen(uint64(len(r.Expected))) + len(r.Expected)
	}
	n += 4 * binary.MaxVarintLen64
	b = slices.Grow(b, n)

	b = append(b, codecVersion, byte(r.Op), f)
	b = appendBytes(b, r.Key)
	if f&reqValue != 0 {
		b = appendBytes(b, r.Value)
	}
	if f&reqExpected != 0 {
		b = appendBytes(b, r.Expected)
	}
	if f&reqDelta != 0 {
		b = binary.AppendVarint(b, r.Delta)
	}
	if f&reqTTL != 0 {
		b = binary.AppendUvarint(b, uint64(r.TTL))
	}
	if f&reqRequestID != 0 {
		b = binary.AppendUvarint(b, r.RequestID)
	}
	if f&reqCursor != 0 {
		b = binary.AppendUvarint(b, r.Cursor)
	}
	return b, nil
}

// DecodeRequest decodes a Request encoded by AppendBinary. It is strict: it
// accepts only the one canonical encoding of a Request (known version and op,
// only the fields the op uses, no zero-valued field marked present, minimal
// varints, no trailing bytes) and fails with an error wrapping ErrCorrupt
// otherwise. It never panics and allocates nothing: Key, Value and Expected
// alias b, so they are valid only as long as b is not modified.
func DecodeRequest(b []byte) (Request, error) {
	var r Request
	if len(b) < 3 {
		return r, ErrTruncated
	}
	if b[0] != codecVersion {
		return r, ErrVersion
	}
	r.Op = Op(b[1])
	if !r.Op.Valid() {
		return Request{}, corruptf("%w %d", ErrUnknownOp, b[1])
	}
	f := b[2]
	if f&^reqAllowed[r.Op] != 0 || f&(reqExpected|reqExpectAbsent) == reqExpected|reqExpectAbsent {
		return Request{}, corruptf("invalid flags %#x for %v", f, r.Op)
	}
	d := decoder{b: b[3:]}
	r.Key = d.bytes(false)
	if f&reqValue != 0 {
		r.Value = d.bytes(true)
	}
	if f&reqExpected != 0 {
		r.Expected = d.bytes(true)
	}
	r.ExpectAbsent = f&reqExpectAbsent != 0
	if f&reqDelta != 0 {
		r.Delta = d.varint()
	}
	if f&reqTTL != 0 {
		r.TTL = d.duration()
	}
	if f&reqRequestID != 0 {
		r.RequestID = d.nonZeroUvarint()
	}
	if f&reqCursor != 0 {
		r.Cursor = d.nonZeroUvarint()
	}
	if err := d.finish(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// RequestKey returns the key of an encoded Request without decoding the
// rest (for Prefetcher); false when b does not start like one. The key
// aliases b.
func RequestKey(b []byte) ([]byte, bool) {
	if len(b) < 3 || b[0] != codecVersion {
		return nil, false
	}
	d := decoder{b: b[3:]}
	k := d.bytes(false)
	return k, d.err == nil
}

// AppendBinary appends the encoding of r to b and returns the extended
// buffer. It fails with ErrInvalidTTL for a negative TTL; b is then returned
// unchanged.
func (r *Response) AppendBinary(b []byte) ([]byte, error) {
	if r.TTL < 0 {
		return b, ErrInvalidTTL
	}
	var f uint8
	if r.Found {
		f |= respFound
	}
	if r.Swapped {
		f |= respSwapped
	}
	n := 2
	if len(r.Value) > 0 {
		f |= respValue
		n += uvarintLen(uint64(len(r.Value))) + len(r.Value)
	}
	if r.Counter != 0 {
		f |= respCounter
		n += binary.MaxVarintLen64
	}
	if r.TTL != 0 {
		f |= respTTL
		n += binary.MaxVarintLen64
	}
	b = slices.Grow(b, n)
	b = append(b, codecVersion, f)
	if f&respValue != 0 {
		b = appendBytes(b, r.Value)
	}
	if f&respCounter != 0 {
		b = binary.AppendVarint(b, r.Counter)
	}
	if f&respTTL != 0 {
		b = binary.AppendUvarint(b, uint64(r.TTL))
	}
	return b, nil
}

// DecodeResponse decodes a Response encoded by AppendBinary. Like
// DecodeRequest it accepts only the canonical encoding, never panics,
// allocates nothing, and returns a Value that aliases b.
func DecodeResponse(b []byte) (Response, error) {
	var r Response
	if len(b) < 2 {
		return r, ErrTruncated
	}
	if b[0] != codecVersion {
		return r, ErrVersion
	}
	f := b[1]
	if f&^respAll != 0 {
		return r, corruptf("invalid response flags %#x", f)
	}
	d := decoder{b: b[2:]}
	r.Found = f&respFound != 0
	r.Swapped = f&respSwapped != 0
	if f&respValue != 0 {
		r.Value = d.bytes(true)
	}
	if f&respCounter != 0 {
		r.Counter = d.varint()
	}
	if f&respTTL != 0 {
		r.TTL = d.duration()
	}
	if err := d.finish(); err != nil {
		return Response{}, err
	}
	return r, nil
}

// appendBytes appends a uvarint length and p.
func appendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// uvarintLen is the length of the uvarint encoding of v.
func uvarintLen(v uint64) int {
	return (bits.Len64(v|1) + 6) / 7
}

// decoder reads canonical fields from b. The first error sticks; later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

// uvarint reads a minimal uvarint.
func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	switch {
	case n == 0:
		d.err = ErrTruncated
		return 0
	case n < 0:
		d.err = corruptf("varint overflows 64 bits")
		return 0
	case n > 1 && d.b[n-1] == 0:
		d.err = corruptf("non-minimal varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// nonZeroUvarint reads a uvarint of a field marked present, which must not be
// zero.
func (d *decoder) nonZeroUvarint() uint64 {
	v := d.uvarint()
	if v == 0 && d.err == nil {
		d.err = corruptf("zero value marked present")
	}
	return v
}

// varint reads a non-zero zig-zag varint.
func (d *decoder) varint() int64 {
	u := d.nonZeroUvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// duration reads a positive duration in nanoseconds.
func (d *decoder) duration() time.Duration {
	v := d.nonZeroUvarint()
	if v > math.MaxInt64 && d.err == nil {
		d.err = corruptf("duration out of range")
		return 0
	}
	return time.Duration(v)
}

// bytes reads a length-prefixed byte string aliasing the input. When present
// is set the field was marked present and must not be empty.
func (d *decoder) bytes(present bool) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = ErrTruncated
		return nil
	}
	if n == 0 {
		if present {
			d.err = corruptf("empty value marked present")
		}
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// finish returns the first error, or an error if input is left over.
func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return corruptf("%d trailing bytes", len(d.b))
	}
	return nil
}

// ReadOnly reports whether payload encodes a request that changes nothing
// (a get or a scan). The node replicates only the other requests to
// backups. A payload that is not a valid request counts as a write; applying
// it fails anyway.
func ReadOnly(payload []byte) bool {
	return len(payload) >= 2 && payload[0] == codecVersion && (Op(payload[1]) == OpGet || Op(payload[1]) == OpScan)
}

// OnlyFrees reports whether payload encodes a request that can only remove
// keys (a delete, a getdel or a flush): at its memory limit a node still
// lets such a write run, since it is how room is made. It looks at the
// operation only.
func OnlyFrees(payload []byte) bool {
	if len(payload) < 2 || payload[0] != codecVersion {
		return false
	}
	switch Op(payload[1]) {
	case OpDelete, OpGetDel, OpFlush:
		return true
	}
	return false
}

// ReadOnly implements the node's read classifier; see the function ReadOnly.
func (s *Store) ReadOnly(payload []byte) bool { return ReadOnly(payload) }
