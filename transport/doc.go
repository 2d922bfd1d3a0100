// Package transport is the gRPC server of one node: it owns the sockets, the
// limits on what a caller may send, and who may call what. It holds no
// cluster logic: every call ends in one of three small interfaces the node
// implements, and the node decides what happens.
//
// # Services
//
// A Server registers four ns.v1 services, plus grpc.health.v1 (service ""
// and HealthService, set by SetServing) and server reflection:
//
//   - NodeService (Send, Stream) and KVService (Get, Put, Delete, Incr,
//     CompareAndSwap, Batch): the public data path. The server turns each
//     call into items (a KV operation becomes an item of service
//     KVServiceName carrying a kv.Request), checks them against Limits and
//     hands them to the Dispatcher, then encodes its results. A Stream keeps
//     at most Limits.MaxStreamInFlight frames in flight; each frame's
//     reply carries its id, so replies may come back out of order.
//   - PeerService.Forward: items a peer forwards to the owner; the same
//     checks, then the Dispatcher with forwarded set, so the node does not
//     forward them again (at most one hop).
//   - PeerService.Replicate and PeerService.Handoff: an owner's writes to
//     its backups and a partition's state pulled by its new owner; served by
//     the Peer.
//   - ClusterService (Members, Table, WatchTable, Stats, HotKeys, Leave):
//     served by the Cluster. WatchTable streams each new table until the
//     client leaves or Drain ends every watch (a node leaving tells its
//     watchers to watch another node).
//
// # Limits and access
//
// Limits bound keys, values, batches, message sizes, streams and
// connections; each limit is an nsnode flag, is checked before any work is
// queued (a rejected item changes nothing), and is reported as a
// *LimitError naming the flag. LimitListener enforces MaxConnections, and
// HandshakeTimeout closes connections that never finish their set-up.
// Authorizer (AuthConfig) restricts PeerService to callers whose TLS
// certificate carries the peer name (AuthConfig.PeerName), and, with
// AuthConfig.Tokens set, the public API to callers with a
// client certificate or a bearer token from a TokenFile; health checks are
// open to all.
//
// # Errors
//
// Errors cross the wire through the one table in package wire, which this
// package and the client SDK share: each sentinel (ErrMoved,
// ErrBackpressure, ErrUnavailable, ...) and each typed error (*MovedError
// with the owner and epoch, *LimitError with the limit) has one gRPC code and
// a google.rpc.ErrorInfo reason, so a client gets back by errors.Is and
// errors.As the very error the server meant. Handlers return status errors
// made with ToStatus; per-item results of Stream, Forward and Batch carry
// the same code, reason and details in ns.v1.Result (ResultError) and
// ns.v1.KVResult (KVResultError). The sentinels, types and functions
// exported here are aliases of wire's: transport.ErrMoved is wire.ErrMoved.
// The mapping (wire's errorTable; a status with no ns reason decodes to the
// code's starred fallback):
//
//	NOT_FOUND            ErrKeyNotFound, kv.ErrNotFound
//	INVALID_ARGUMENT     *LimitError, ErrKeyEmpty, ErrUnknownService, ErrInvalidArgument*,
//	                     kv.ErrInvalidTTL, kv.ErrUnknownOp, kv.ErrCorrupt
//	FAILED_PRECONDITION  *MovedError (with a ns.v1.Moved detail), ErrNotOwner, kv.ErrNotInteger
//	RESOURCE_EXHAUSTED   ErrBackpressure, kv.ErrMemoryFull
//	UNAVAILABLE          ErrLeaving, ErrUnavailable*
//	ABORTED              ErrTooManyHops
//	OUT_OF_RANGE         kv.ErrOverflow
//	DEADLINE_EXCEEDED    context.DeadlineExceeded*
//	CANCELED             context.Canceled*
//
// # Lifecycle
//
// NewServer validates the config and registers the services; Serve accepts
// connections; Drain ends the table watches; GracefulStop waits for running
// calls until its context ends, Stop closes everything at once.
package transport
