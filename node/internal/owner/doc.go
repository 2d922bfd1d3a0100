// Package owner holds the rules of partition ownership: which copy of a
// partition is newest, what a node does with each partition when the table
// changes, which copy a holder hands to a puller, and how a pull decides
// between the copies it was offered (docs/handoff.md).
//
// It is the pure core of node/: no sockets, no goroutines, no clock reads,
// no logs, no protobuf. Time comes in as values; everything that talks to
// another node comes in through the small Fetcher interface a pull runs
// against, as etcd-io/raft leaves its I/O to the user of RawNode. node/
// executes the decisions (pulls, fences, installs, persists, replies) on the
// partition's worker; the scripts under testdata/ drive the same functions
// step by step, and the property tests drive them with random events.
package owner
