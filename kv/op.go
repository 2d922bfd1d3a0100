package kv

import (
	"strconv"
	"time"
)

// Op is the operation a Request asks for.
type Op uint8

// The operations of the service. Their numeric values are part of the wire
// format and never change.
const (
	// OpGet reads a key: its value and remaining time to live.
	OpGet Op = 1 + iota
	// OpPut writes a key's value and time to live, replacing both.
	OpPut
	// OpDelete removes a key.
	OpDelete
	// OpIncr adds Delta to a decimal counter; an absent key counts as 0.
	OpIncr
	// OpCompareAndSwap writes a key only if it holds Expected (or, with
	// ExpectAbsent, only if it is absent).
	OpCompareAndSwap
	// OpAppend appends Value to a key's value (an absent key counts as
	// empty and is created without expiry; an existing key keeps its TTL).
	// Delta, when positive, is the longest value it may produce.
	OpAppend
	// OpGetDel removes a key and returns the value it held.
	OpGetDel
	// OpMSetNX writes several keys (Value holds the pairs, AppendPair) without
	// expiry, only if none of them is present: all or nothing.
	OpMSetNX
	// OpScan lists up to Delta of a partition's keys from Cursor on (a
	// read; see the package documentation).
	OpScan
	// OpFlush removes every key of a partition.
	OpFlush
)

// String returns the operation's lower-case name, or "Op(N)" for an unknown
// value.
func (o Op) String() string {
	switch o {
	case OpGet:
		return "get"
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpIncr:
		return "incr"
	case OpCompareAndSwap:
		return "cas"
	case OpAppend:
		return "append"
	case OpGetDel:
		return "getdel"
	case OpMSetNX:
		return "msetnx"
	case OpScan:
		return "scan"
	case OpFlush:
		return "flush"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Valid reports whether o is one of the defined operations.
func (o Op) Valid() bool { return o >= OpGet && o <= OpFlush }

// Request is one operation on one key. Fields an operation does not use are
// ignored by Store.Apply and not encoded by AppendBinary (see the package
// documentation for which operation uses which field).
type Request struct {
	// Op is the operation.
	Op Op
	// Key is the key the operation acts on. Any byte string, the empty one
	// included; limits on size are the caller's (node/) business. For
	// msetnx, scan and flush, which act on several keys of one partition, it
	// only routes the request (to the partition) and the Store ignores it.
	Key []byte
	// Value is the value to store (put, cas), the bytes to append (append),
	// or the key/value pairs to write (msetnx, encoded by AppendPair).
	Value []byte
	// Expected is the value the key must hold for a cas to swap. Ignored when
	// ExpectAbsent is set.
	Expected []byte
	// ExpectAbsent makes a cas swap only when the key is absent or expired.
	ExpectAbsent bool
	// Delta is added to the counter (incr); it may be negative. For append,
	// a positive Delta is the longest value the append may produce (longer
	// is ErrValueTooLarge); for scan, the most keys to return (at least 1).
	Delta int64
	// TTL is the time to live of the written value (put, cas); zero means the
	// value does not expire. Negative is an error (ErrInvalidTTL).
	TTL time.Duration
	// Cursor is where a scan starts (0: the beginning); see the package
	// documentation.
	Cursor uint64
	// RequestID, when non-zero, identifies a client request so that a retried
	// write can be recognised. It is carried by the codec for every op; the
	// Store does not act on it yet.
	RequestID uint64
}

// Response is the result of one Request. Fields an operation does not set are
// zero.
type Response struct {
	// Found reports, for get and getdel, that the key is present (always true
	// when Apply returns no error); for delete, that the key existed before
	// the call; for cas, that the key is present after the call; for msetnx,
	// that some key was present.
	Found bool
	// Value is, for get, the key's value; for getdel, the value it held; for
	// cas, the value the key holds after the call (the new value when
	// swapped, the current one otherwise; nil when absent); for scan, the
	// keys found (ScanKeys reads them).
	Value []byte
	// Counter is, for incr, the counter's value after the increment; for
	// append, the value's length after it; for scan, the cursor to continue
	// from (0: the partition has no more keys).
	Counter int64
	// Swapped reports, for cas, that the new value was written; for msetnx,
	// that every pair was written.
	Swapped bool
	// TTL is, for get, the key's remaining time to live; zero means the key
	// does not expire.
	TTL time.Duration
}
