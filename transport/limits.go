package transport

import "fmt"

// Limits bound everything a caller can send. Each limit has a name used in
// error messages and flags (e.g. --max-key-bytes), a default, and is checked
// before any work is queued, so a rejected request changes nothing.
type Limits struct {
	// MaxKeyBytes bounds a key's length. 0 means the default, 1 KiB.
	MaxKeyBytes int
	// MaxValueBytes bounds a payload or value. 0 means the default, 1 MiB.
	MaxValueBytes int
	// MaxBatch bounds the items of one stream frame, forward or KV batch.
	// 0 means the default, 1024.
	MaxBatch int
	// MaxRecvMsgBytes bounds one gRPC message. 0 means the default, which
	// fits a full batch of maximal values: MaxBatch*(MaxKeyBytes+MaxValueBytes)
	// capped at 64 MiB, and at least 4 MiB.
	MaxRecvMsgBytes int
	// MaxStreamInFlight bounds the frames one stream may have in flight;
	// further frames wait (flow control). 0 means the default, 64.
	MaxStreamInFlight int
	// MaxConcurrentStreams bounds the calls (HTTP/2 streams) open at once on
	// one connection; further calls wait on the client until one ends (HTTP/2
	// flow control). 0 means the default, 1024.
	MaxConcurrentStreams int
	// MaxConnections bounds the gRPC connections a node holds at once; a
	// connection past it is closed as soon as it is accepted (the client sees
	// Unavailable and may try another node). 0 means the default, 4096;
	// negative means no limit.
	MaxConnections int
}

// Default limits.
const (
	DefaultMaxKeyBytes       = 1 << 10
	DefaultMaxValueBytes     = 1 << 20
	DefaultMaxBatch          = 1024
	DefaultMaxStreamInFlight = 64
	// DefaultMaxConcurrentStreams is the default MaxConcurrentStreams.
	DefaultMaxConcurrentStreams = 1024
	// DefaultMaxConnections is the default MaxConnections.
	DefaultMaxConnections = 4096
)

// DefaultLimits returns the default limits.
func DefaultLimits() Limits {
	return Limits{}.WithDefaults()
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	if l.MaxKeyBytes == 0 {
		l.MaxKeyBytes = DefaultMaxKeyBytes
	}
	if l.MaxValueBytes == 0 {
		l.MaxValueBytes = DefaultMaxValueBytes
	}
	if l.MaxBatch == 0 {
		l.MaxBatch = DefaultMaxBatch
	}
	if l.MaxStreamInFlight == 0 {
		l.MaxStreamInFlight = DefaultMaxStreamInFlight
	}
	if l.MaxConcurrentStreams == 0 {
		l.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if l.MaxConnections == 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.MaxRecvMsgBytes == 0 {
		n := int64(l.MaxBatch) * int64(l.MaxKeyBytes+l.MaxValueBytes+64)
		if n > 64<<20 {
			n = 64 << 20
		}
		if n < 4<<20 {
			n = 4 << 20
		}
		l.MaxRecvMsgBytes = int(n)
	}
	return l
}

// Validate reports a negative or inconsistent limit.
func (l Limits) Validate() error {
	for _, c := range []struct {
		name string
		v    int
	}{
		{"max-key-bytes", l.MaxKeyBytes},
		{"max-value-bytes", l.MaxValueBytes},
		{"max-batch", l.MaxBatch},
		{"max-recv-msg-bytes", l.MaxRecvMsgBytes},
		{"max-stream-in-flight", l.MaxStreamInFlight},
		{"max-concurrent-streams", l.MaxConcurrentStreams},
	} {
		if c.v < 0 {
			return fmt.Errorf("transport: limit %s must not be negative, got %d", c.name, c.v)
		}
	}
	return nil
}

// CheckKey returns a *LimitError or ErrKeyEmpty when key breaks the limits.
func (l Limits) CheckKey(key []byte) error {
	if len(key) == 0 {
		return ErrKeyEmpty
	}
	if len(key) > l.MaxKeyBytes {
		return &LimitError{Limit: "max-key-bytes", Size: len(key), Max: l.MaxKeyBytes}
	}
	return nil
}

// CheckValue returns a *LimitError when v is too large.
func (l Limits) CheckValue(v []byte) error {
	if len(v) > l.MaxValueBytes {
		return &LimitError{Limit: "max-value-bytes", Size: len(v), Max: l.MaxValueBytes}
	}
	return nil
}

// CheckBatch returns a *LimitError when n items exceed the batch limit.
func (l Limits) CheckBatch(n int) error {
	if n > l.MaxBatch {
		return &LimitError{Limit: "max-batch", Size: n, Max: l.MaxBatch}
	}
	return nil
}
