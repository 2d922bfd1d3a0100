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
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// Valid reports whether o is one of the defined operations.
func (o Op) Valid() bool { return o >= OpGet && o <= OpCompareAndSwap }

// Request is one operation on one key. Fields an operation does not use are
// ignored by Store.Apply and not encoded by AppendBinary (see the package
// documentation for which operation uses which field).
type Request struct {
	// Op is the operation.
	Op Op
	// Key is the key the operation acts on. Any byte string, the empty one
	// included; limits on size are the caller's (node/) business.
	Key []byte
	// Value is the value to store (put, cas).
	Value []byte
	// Expected is the value the key must hold for a cas to swap. Ignored when
	// ExpectAbsent is set.
	Expected []byte
	// ExpectAbsent makes a cas swap only when the key is absent or expired.
	ExpectAbsent bool
	// Delta is added to the counter (incr); it may be negative.
	Delta int64
	// TTL is the time to live of the written value (put, cas); zero means the
	// value does not expire. Negative is an error (ErrInvalidTTL).
	TTL time.Duration
	// RequestID, when non-zero, identifies a client request so that a retried
	// write can be recognised. It is carried by the codec for every op; the
	// Store does not act on it yet.
	RequestID uint64
}

// Response is the result of one Request. Fields an operation does not set are
// zero.
type Response struct {
	// Found reports, for get, that the key is present (always true when Apply
	// returns no error); for delete, that the key existed before the call; for
	// cas, that the key is present after the call.
	Found bool
	// Value is, for get, the key's value; for cas, the value the key holds
	// after the call (the new value when swapped, the current one otherwise;
	// nil when absent).
	Value []byte
	// Counter is, for incr, the counter's value after the increment.
	Counter int64
	// Swapped reports, for cas, that the new value was written.
	Swapped bool
	// TTL is, for get, the key's remaining time to live; zero means the key
	// does not expire.
	TTL time.Duration
}
