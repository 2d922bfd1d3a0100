package client

import (
	"slices"
	"strings"
)

// Stats is a snapshot of a client's counters.
type Stats struct {
	// TableEpoch is the epoch of the table the client routes by.
	TableEpoch uint64
	// Calls counts logical calls (each message of a batch counts once).
	Calls uint64
	// Retries counts retried attempts.
	Retries uint64
	// Moved counts retry rounds caused by a stale table.
	Moved uint64
	// Refreshes counts tables fetched after "moved" or by RefreshTable.
	Refreshes uint64
	// Nodes has one entry per node the client has connected to, sorted by
	// address.
	Nodes []NodeStats
}

// NodeStats are the counters of the client's link to one node.
type NodeStats struct {
	// Addr is the node's gRPC address.
	Addr string
	// Breaker is the state of the node's circuit breaker.
	Breaker BreakerState
	// Frames counts stream frames sent.
	Frames uint64
	// Items counts items sent in those frames; Items/Frames is the mean
	// batch size.
	Items uint64
	// Failures counts transport failures (broken streams, failed connects).
	Failures uint64
	// Stalls counts streams the client closed because the node left calls
	// unanswered for Config.StallTimeout and did not answer a probe either.
	Stalls uint64
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() Stats {
	s := Stats{
		TableEpoch: c.epoch(),
		Calls:      c.calls.Load(),
		Retries:    c.retries.Load(),
		Moved:      c.moved.Load(),
		Refreshes:  c.refreshes.Load(),
	}
	for _, n := range *c.nodes.Load() {
		s.Nodes = append(s.Nodes, NodeStats{
			Addr:     n.addr,
			Breaker:  n.breaker.State(),
			Frames:   n.frames.Load(),
			Items:    n.items.Load(),
			Failures: n.failures.Load(),
			Stalls:   n.stalls.Load(),
		})
	}
	slices.SortFunc(s.Nodes, func(a, b NodeStats) int { return strings.Compare(a.Addr, b.Addr) })
	return s
}

// Node returns the stats of the node at addr, if the client has a link to it.
func (s Stats) Node(addr string) (NodeStats, bool) {
	for _, n := range s.Nodes {
		if n.Addr == addr {
			return n, true
		}
	}
	return NodeStats{}, false
}
