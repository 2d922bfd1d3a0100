// Package client is the Go SDK of ns: a smart client that talks to the
// node owning each key.
//
// # Connecting
//
// New takes a Config with at least one endpoint, fetches the partition table
// from the first endpoint that answers, and keeps it current:
//
//	c, err := client.New(ctx, client.Config{Endpoints: []string{"127.0.0.1:7700"}})
//	if err != nil { ... } // errors.Is(err, client.ErrNoEndpoint) when no node answers
//	defer c.Close()
//
// A Client is safe for concurrent use and meant to be shared: it holds one
// gRPC connection and one NodeService.Stream per node.
//
// # The path of a call
//
//  1. Routing: partition = the table's PartitionOf(key) (the key hash the
//     nodes use, carried by the table: xxhash, or Redis Cluster slots in a
//     cluster run with --resp-cluster), owner = the table's owner of that
//     partition. The table lives behind an
//     atomic pointer, so routing takes no lock.
//  2. Batching: the call joins the owner's queue. One batcher goroutine per
//     node takes the first queued call, waits for a free in-flight slot
//     (Config.MaxInFlight frames per stream), then takes every call queued
//     meanwhile, up to Config.MaxBatch items, and sends them as one frame.
//     There is no timer: a lone caller's frame leaves at once, and under load
//     calls pile up while frames are in flight and leave together.
//  3. Answers: a receiver goroutine per stream matches each response frame
//     to its request frame by id (frames may be answered out of order) and
//     hands each call its result.
//
// # Failures and retries
//
// Each call is retried at most Config.MaxRetries times (by default about 8 s
// of retries, enough to ride out a crashed node's failover) and never past
// its deadline, with the same request id, so that a retried write takes
// effect once:
//
//   - "moved" (the node's table gives the key to another node): the client
//     fetches the table from the node that said so, unless another call
//     already refreshed it, and retries at once by the new table;
//   - unavailable (a broken stream, a refused connection, a leaving node):
//     the client retries after a backoff on another node, which forwards
//     the call to the owner;
//   - silence (a paused node, or one cut off by the network while its TCP
//     connection stays open): when a stream has had calls in flight and no
//     answer for Config.StallTimeout (1 s), the client probes the node's
//     health service; no answer within StallTimeout either closes the
//     stream, and its calls are retried as unavailable. A node that
//     answers the probe is only slow and keeps its calls;
//   - backpressure (RESOURCE_EXHAUSTED): retried after a backoff.
//
// Other errors are final: not found, invalid argument, a failed
// precondition that is not "moved". Errors keep their meaning across the
// wire (package wire maps them to gRPC codes and back): Get of an
// absent key returns an error matching ErrNotFound, which is kv.ErrNotFound.
//
// A call honours its context's deadline, retries included; without one it
// is bounded by Config.RequestTimeout. A call whose context has ended before
// its frame leaves is not sent.
//
// # Circuit breaker
//
// Config.BreakerFailures consecutive transport failures on a node open its
// breaker: calls for its keys go to other nodes for Config.BreakerOpenFor,
// then one probe frame goes to the node (half-open); the node's first answer
// closes the breaker. With nowhere else to go, calls fail with
// ErrBreakerOpen, which matches ErrUnavailable.
//
// # Table changes
//
// Unless Config.DisableWatch, the client keeps a ClusterService.WatchTable
// stream open to one node and installs every newer table (higher epoch) it
// pushes; when the stream fails it moves to another node. "moved" answers
// and RefreshTable fetch a table too; those install a table that merely
// differs, so a client follows a cluster restarted from epoch 1.
package client
