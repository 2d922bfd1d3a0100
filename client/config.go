package client

import (
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
)

// Defaults used by DefaultConfig and for zero Config fields.
const (
	// DefaultRequestTimeout bounds a call whose context has no deadline.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultMaxBatch is the default number of items per stream frame.
	DefaultMaxBatch = 256
	// MaxBatchLimit is the largest MaxBatch a node accepts in one frame.
	MaxBatchLimit = 1024
	// DefaultMaxInFlight is the default number of frames in flight per node.
	DefaultMaxInFlight = 16
	// DefaultMaxRetries is the default number of retries of one call: at
	// the default backoff (20 ms doubling to 1 s, with jitter) about 8 s of
	// retries, so a call rides out a failover (a crashed node is detected
	// in about 2 s with nsnode's defaults, 5-8 s with memberlist's LAN
	// timings), always within the call's deadline.
	DefaultMaxRetries = 16
	// DefaultRetryBackoff is the default first retry delay.
	DefaultRetryBackoff = 20 * time.Millisecond
	// MaxRetryBackoff caps the doubling retry delay.
	MaxRetryBackoff = time.Second
	// DefaultBreakerFailures is the default number of consecutive transport
	// failures that open a node's circuit breaker.
	DefaultBreakerFailures = 5
	// DefaultBreakerOpenFor is how long an open breaker rejects calls before
	// it lets one probe through.
	DefaultBreakerOpenFor = 2 * time.Second
	// DefaultStallTimeout is how long a node's stream may stay silent with
	// calls in flight before the client probes the node.
	DefaultStallTimeout = time.Second
	// DefaultEndpoint is the endpoint nsctl and DefaultConfig use.
	DefaultEndpoint = "127.0.0.1:7700"

	// maxFrameBytes bounds the keys and payloads of one frame; a single
	// larger item travels alone. It is the smallest receive limit a node
	// uses (transport.Limits.MaxRecvMsgBytes is at least 4 MiB).
	maxFrameBytes = 4 << 20
	// maxRecvMsgBytes is the client's receive limit, the largest a node
	// sends (transport.Limits.MaxRecvMsgBytes is at most 64 MiB).
	maxRecvMsgBytes = 64 << 20
)

// Config configures a Client. Zero fields take their defaults, so
// Config{Endpoints: []string{"127.0.0.1:7700"}} is a valid configuration.
type Config struct {
	// Endpoints are gRPC addresses of some nodes of the cluster (host:port).
	// The client fetches the partition table from the first one that
	// answers and then talks to the nodes the table names. Required.
	Endpoints []string

	// DialOptions are extra gRPC dial options (credentials, interceptors).
	// nil means plaintext (insecure credentials); a caller that passes any
	// options must pass transport credentials too.
	DialOptions []grpc.DialOption

	// RequestTimeout bounds a call whose context has no deadline, retries
	// included. 0 means DefaultRequestTimeout (10s).
	RequestTimeout time.Duration

	// MaxBatch bounds the items of one stream frame. 0 means
	// DefaultMaxBatch (256); it must not exceed MaxBatchLimit (1024).
	MaxBatch int

	// MaxInFlight bounds the frames in flight on one node's stream; calls
	// queue (and batch) while it is reached. 0 means DefaultMaxInFlight (16).
	MaxInFlight int

	// MaxRetries bounds the retries of one call after a stale route
	// ("moved"), an unavailable node or backpressure, within the call's
	// deadline. 0 means DefaultMaxRetries (16, about 8 s); negative means
	// no retries.
	MaxRetries int

	// RetryBackoff is the delay before the first retry; it doubles with
	// every retry up to MaxRetryBackoff (1s), with jitter. A retry after
	// "moved" with a fresh table goes out at once. 0 means
	// DefaultRetryBackoff (20ms).
	RetryBackoff time.Duration

	// BreakerFailures is the number of consecutive transport failures
	// (broken stream, failed connection) after which a node's circuit
	// breaker opens and calls go to other nodes, which forward them. 0 means
	// DefaultBreakerFailures (5).
	BreakerFailures int

	// BreakerOpenFor is how long an open breaker rejects calls; then it
	// lets one probe frame through (half-open) and closes when it succeeds.
	// 0 means DefaultBreakerOpenFor (2s).
	BreakerOpenFor time.Duration

	// StallTimeout: when a node's stream has had calls in flight and no
	// answer for this long, the client probes the node (a gRPC health
	// check, given StallTimeout to answer). A node that answers the probe is
	// only slow, and its calls keep waiting; one that does not (paused, cut
	// off by the network: its TCP connection stays open, so nothing else
	// tells) has its stream closed, and its calls are retried elsewhere,
	// with their request ids, so that a retried write takes effect once. A
	// call to a cut-off node thus fails over after 1-2 StallTimeouts rather
	// than waiting for its deadline. 0 means DefaultStallTimeout (1s);
	// negative turns the probe off.
	StallTimeout time.Duration

	// DisableWatch turns off the table watch. By default the client keeps a
	// ClusterService.WatchTable stream open to two nodes (one if the
	// cluster has one) and swaps in every table they push, moving to
	// another node when a stream fails; a paused node that keeps its stream
	// open but pushes nothing cannot hide a table from the client. With
	// DisableWatch it refreshes the table only when a node answers "moved"
	// or on RefreshTable.
	DisableWatch bool

	// Logger receives rare events (table changes, breaker changes, watch
	// reconnects). nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a configuration for a node on DefaultEndpoint with
// every default written out.
func DefaultConfig() Config {
	return Config{
		Endpoints:       []string{DefaultEndpoint},
		RequestTimeout:  DefaultRequestTimeout,
		MaxBatch:        DefaultMaxBatch,
		MaxInFlight:     DefaultMaxInFlight,
		MaxRetries:      DefaultMaxRetries,
		RetryBackoff:    DefaultRetryBackoff,
		BreakerFailures: DefaultBreakerFailures,
		BreakerOpenFor:  DefaultBreakerOpenFor,
		StallTimeout:    DefaultStallTimeout,
	}
}

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.BreakerFailures == 0 {
		c.BreakerFailures = DefaultBreakerFailures
	}
	if c.BreakerOpenFor == 0 {
		c.BreakerOpenFor = DefaultBreakerOpenFor
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate reports the first unusable field, wrapping ErrInvalidConfig.
func (c Config) validate() error {
	if len(c.Endpoints) == 0 {
		return fmt.Errorf("%w: no endpoints (use --endpoints, e.g. %s)", ErrInvalidConfig, DefaultEndpoint)
	}
	for i, e := range c.Endpoints {
		if e == "" {
			return fmt.Errorf("%w: endpoint %d is empty", ErrInvalidConfig, i)
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"RequestTimeout", int64(c.RequestTimeout)},
		{"MaxBatch", int64(c.MaxBatch)},
		{"MaxInFlight", int64(c.MaxInFlight)},
		{"RetryBackoff", int64(c.RetryBackoff)},
		{"BreakerFailures", int64(c.BreakerFailures)},
		{"BreakerOpenFor", int64(c.BreakerOpenFor)},
	} {
		if f.v < 0 {
			return fmt.Errorf("%w: %s must not be negative, got %d", ErrInvalidConfig, f.name, f.v)
		}
	}
	if c.MaxBatch > MaxBatchLimit {
		return fmt.Errorf("%w: MaxBatch %d exceeds the node limit %d", ErrInvalidConfig, c.MaxBatch, MaxBatchLimit)
	}
	return nil
}
