package cluster

import (
	"slices"
	"time"
)

// DefaultReconnectInterval is how often a Cluster tries to rejoin the members
// it considers dead when Config.ReconnectInterval is 0.
const DefaultReconnectInterval = 5 * time.Second

// Reconnecting to dead members.
//
// memberlist gossips to a dead member only for GossipToTheDeadTime (30s on
// the LAN defaults), and probes and push/pulls only live ones. Two halves of
// a network partition that lasted longer than that each consider the other
// dead for good: once the network heals nothing makes them talk again, and
// the cluster stays split. Like serf's reconnect, the reconnect loop
// periodically joins the last known address of every member that failed
// (StateDead, not StateLeft: a member that left gracefully is not asked
// back). A join is a push/pull of the whole member table: each side learns
// that the other is alive (after the other refutes its death with a higher
// incarnation), and the views merge.
//
// The loop is its own goroutine rather than part of run's maintain step:
// memberlist.Join blocks for up to the memberlist TCPTimeout per unreachable
// address, and run must never block.

// deadAddrs returns the gossip addresses of the members in StateDead, sorted
// and without duplicates.
func (t *tracker) deadAddrs() []string {
	var out []string
	for id, r := range t.members {
		if id != t.local() && r.State == StateDead && r.GossipAddr != "" {
			out = append(out, r.GossipAddr)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// reconnectLoop runs reconnect every Config.ReconnectInterval until
// Shutdown.
func (c *Cluster) reconnectLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(c.cfg.ReconnectInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
			c.reconnect()
		}
	}
}

// reconnect makes one attempt to rejoin every dead member and returns how
// many answered.
func (c *Cluster) reconnect() int {
	c.mu.Lock()
	addrs := c.tr.deadAddrs()
	c.mu.Unlock()
	if len(addrs) == 0 || c.ctx.Err() != nil {
		return 0
	}
	n, err := c.ml.Join(addrs)
	if n > 0 {
		c.log.Info("cluster: reconnected to members considered dead", "node", c.cfg.NodeID, "tried", addrs, "answered", n)
	} else {
		c.log.Debug("cluster: dead members still unreachable", "node", c.cfg.NodeID, "tried", addrs, "err", err)
	}
	return n
}
