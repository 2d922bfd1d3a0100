package client

import (
	"errors"
	"strings"

	"github.com/nothingshared/ns/kv"
	"github.com/nothingshared/ns/wire"
)

// Errors of the client itself. Test them with errors.Is: returned errors wrap
// them with details.
var (
	// ErrInvalidConfig reports a Config that New rejects.
	ErrInvalidConfig = errors.New("client: invalid config")

	// ErrNoEndpoint means New reached none of Config.Endpoints.
	ErrNoEndpoint = errors.New("client: no endpoint answered")

	// ErrClosed is returned by calls made after, or cut short by, Close.
	ErrClosed = errors.New("client: closed")

	// ErrBreakerOpen means every node that could take a call has its circuit
	// breaker open after repeated transport failures. It matches
	// ErrUnavailable too.
	ErrBreakerOpen = &breakerOpenError{}
)

// Errors the nodes return, re-exported so that callers need not import the
// packages that define them. They are the same values: errors.Is works
// across packages.
var (
	// ErrNotFound is returned by Get for an absent or expired key
	// (kv.ErrNotFound).
	ErrNotFound = kv.ErrNotFound
	// ErrNotInteger is returned by Incr on a value that is not a counter.
	ErrNotInteger = kv.ErrNotInteger
	// ErrOverflow is returned by Incr when the counter would overflow.
	ErrOverflow = kv.ErrOverflow
	// ErrInvalidTTL is returned for a negative time to live.
	ErrInvalidTTL = kv.ErrInvalidTTL
	// ErrMemoryFull is returned for a write the key's owner refused because
	// it reached its --max-memory (RESOURCE_EXHAUSTED). It is not retried:
	// nothing is evicted to make room, so only deletes or a higher limit
	// help.
	ErrMemoryFull = kv.ErrMemoryFull

	// ErrUnavailable means a node could not be reached or could not serve,
	// and retries did not help.
	ErrUnavailable = wire.ErrUnavailable
	// ErrBackpressure means the owner's queue stayed full; retries did not
	// help. Send less at once or later.
	ErrBackpressure = wire.ErrBackpressure
	// ErrMoved is matched by a *MovedError: the table stayed stale through
	// every retry.
	ErrMoved = wire.ErrMoved
	// ErrLimitExceeded is matched by a *LimitError: a key, value or batch
	// over the node's limits.
	ErrLimitExceeded = wire.ErrLimitExceeded
	// ErrKeyEmpty means a call had an empty key.
	ErrKeyEmpty = wire.ErrKeyEmpty
	// ErrUnknownService means the node runs no service by that name.
	ErrUnknownService = wire.ErrUnknownService
)

// MovedError is wire.MovedError: the partition's owner per the
// answering node's table.
type MovedError = wire.MovedError

// LimitError is wire.LimitError: which limit a call broke.
type LimitError = wire.LimitError

// breakerOpenError is the type of ErrBreakerOpen; it matches ErrUnavailable,
// so a caller that retries on unavailability retries on it too.
type breakerOpenError struct{}

func (*breakerOpenError) Error() string { return "client: circuit breaker open" }

// Is reports whether target is ErrUnavailable.
func (*breakerOpenError) Is(target error) bool { return target == wire.ErrUnavailable }

// noEndpointError is what New returns when no endpoint answers: a message
// for humans, ErrNoEndpoint and each endpoint's error for errors.Is/As.
type noEndpointError struct {
	endpoints []string
	errs      []error
}

func (e *noEndpointError) Error() string {
	var b strings.Builder
	b.WriteString("client: cannot reach ")
	b.WriteString(strings.Join(e.endpoints, ", "))
	b.WriteString(": is nsnode running? use --endpoints")
	if len(e.errs) > 0 {
		b.WriteString(" (")
		b.WriteString(e.errs[len(e.errs)-1].Error())
		b.WriteString(")")
	}
	return b.String()
}

func (e *noEndpointError) Unwrap() []error { return append([]error{ErrNoEndpoint}, e.errs...) }
