// Package node composes one member of an ns cluster: a worker pool that
// owns partitions' state, gossip membership (cluster/), the partition table
// built from it (ring/), the gRPC server (transport/) and, optionally, the
// RESP server (internal/respserver), with the built-in key-value service
// (kv/) and any services the embedding program registers (Config.Services).
//
// # Lifecycle
//
// New validates the Config and binds every socket; Start serves and joins
// the cluster in the background (Ready reports when the node can serve
// every key); Shutdown leaves gracefully, handing every owned partition to
// its next owner, and may be called more than once. Abort stops without
// leaving (tests use it as a crash).
//
// # The path of one item
//
// Transport hands a batch to the backend (backend.go); Dispatch groups the
// items by partition and worker and pushes them onto the workers' rings
// (dispatch.go); a partition's worker parks items while its state is
// incoming, answers "moved" when another node owns it, and otherwise
// applies them, replicating writes to the partition's backups before they
// are acknowledged (replicate.go, ack.go). A key owned elsewhere is
// forwarded once (Forward) to its owner.
//
// # Ownership
//
// What a node does with each partition when the table changes, which copy a
// pull installs, what a holder hands over, when a copy may serve: these
// decisions are node/internal/owner's, a pure package tested by scripts and
// properties. node/ carries them out: plan.go (table changes), pull.go and
// fetch.go (the puller), holder.go (the holder), install.go, history.go (the
// tables a pull weighs), lease.go (the serving lease), view.go (views,
// tables, quorum). docs/handoff.md tells the protocol section by section.
//
// # State and concurrency
//
// A partition's state (partState, replicaState) belongs to its worker; code
// on other goroutines reaches it only through Node.exec, which runs a
// function on the worker. The few mutexes and the order in which they may be
// held are listed in locksordering.txt.
//
// # Memory
//
// One kv.Limit (Config.MaxMemory) is charged by every KV store and every
// request-id dedup table of the node's copies, owned and backup
// (memory.go, dedup.go); only a client's write at the owner is refused at
// it. The worker's path allocates nothing per item in steady state: results
// and responses are carved from per-worker and per-partition chunks, and a
// dedup entry keeps copies, never the buffers a result shares
// (BenchmarkApply; docs/benchmarks.md).
//
// # Durability and operations
//
// With Config.DataDir, each worker keeps a write-ahead log of its partitions
// (durable.go, recover.go; docs/durability.md). The admin HTTP server serves
// /metrics (metrics.go), /healthz, /readyz, pprof and a status page
// (admin.go, status.go).
package node
