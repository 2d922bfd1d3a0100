package node

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// WaitReady waits until Ready reports true (polling every 10 ms) or ctx
// ends; then it returns an error that carries Ready's last reason. Start
// returns before the node has joined its cluster, even a cluster of one:
// an embedding program that serves at once calls WaitReady first (calls
// made earlier are refused with Unavailable, which the SDK retries).
func (n *Node) WaitReady(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := n.Ready()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not ready: %s: %w", n.cfg.NodeID, why, ctx.Err())
		case <-tick.C:
		}
	}
}

// Ready reports whether the node has joined its cluster and its table
// includes itself: it can serve every key.
func (n *Node) Ready() (bool, string) {
	if n.leaving.Load() {
		return false, "leaving"
	}
	if !n.formed.Load() {
		if err := n.members.Refused(); err != nil {
			return false, "not joined: " + err.Error()
		}
		return false, "not joined yet (seeds: " + fmt.Sprint(n.cfg.Cluster.Join) + ")"
	}
	t := n.table.Load()
	stale := ""
	if f := n.tableErr.Load(); f != nil {
		stale = "; " + f.String()
	}
	if t.Epoch() == 0 {
		return false, "no partition table from the cluster yet" + stale
	}
	if t.MemberIndex(n.cfg.NodeID) < 0 {
		return false, "table does not include this node yet" + stale
	}
	if err := n.walErr(); err != nil {
		return false, "write-ahead log failed, refusing writes: " + err.Error()
	}
	if _, incoming, _, _ := n.partitionStates(); incoming > 0 {
		if missing := n.awaitingPeers(t); len(missing) > 0 {
			return false, fmt.Sprintf("%d partitions wait for members of the previous run to come back: %v (at most --recovery-wait)", incoming, missing)
		}
		return false, fmt.Sprintf("%d partitions still incoming (handoff under way)", incoming)
	}
	if d := n.lease.lapsedFor(time.Now()); d > 0 {
		return false, fmt.Sprintf("serving lease lapsed %v ago: heard from fewer than half of the last agreed members within the suspicion timeout (%v); serving nothing", d.Round(time.Millisecond), n.members.SuspicionTimeout())
	}
	// A table kept when the newest view could not be built still routes
	// every key, the same on every node: ready, with the reason.
	return true, "ok: epoch " + strconv.FormatUint(t.Epoch(), 10) + stale
}
