// Package respserver serves the Redis protocol (RESP2 and RESP3) for a node:
// the commands of docs/resp.md, mapped onto the kv service's operations.
//
// One goroutine per connection (Server.Serve starts it, Server.Close ends
// and waits for it) reads every command the client has already sent
// (resp.Reader.Next parses only buffered bytes), plans them in order into
// one batch (plan: an immediate reply, or kv items), dispatches the batch
// with one Backend.Dispatch, and writes every reply in order with one write.
//
// Commands that need a read and a write (GETSET, SET XX|GET, EXPIRE,
// PERSIST, GETEX) are read-modify-write ops: a read, then a
// compare-and-swap against the value read; a swap that fails answers with
// the current value and is tried again against it. Their later rounds are
// dispatched together, one Dispatch per round for the whole batch (run,
// step).
//
// Backend.Dispatch routes; the server knows partitions only to address a
// whole partition (SCAN, FLUSHALL: a probe key per partition) and to refuse
// an MSETNX across partitions. In Redis Cluster mode (Config.Cluster,
// cluster.go) it also knows the owners (ClusterBackend.Topology): it
// answers MOVED for a key owned elsewhere instead of dispatching it, and
// CROSSSLOT for keys of several slots.
package respserver
