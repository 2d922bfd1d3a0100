package respserver

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/nothingshared/ns/resp"
	"github.com/nothingshared/ns/ring"
)

// ClusterBackend is what Redis Cluster mode (Config.Cluster) needs from the
// node besides Backend. Implementations must be safe for concurrent use.
type ClusterBackend interface {
	Backend
	// Topology returns the current owner of every partition and the
	// members' RESP addresses. It is called once per batch and must be
	// cheap (a snapshot built when the table changes).
	Topology() Topology
	// LocalKeys returns the number of keys in the partitions this node
	// owns: DBSIZE in cluster mode, as each Redis Cluster node counts its
	// own.
	LocalKeys() int64
}

// Topology is the partition table as Redis Cluster clients see it.
type Topology struct {
	// Epoch is the table's epoch (CLUSTER INFO's cluster_current_epoch).
	Epoch uint64
	// Self is this node's index in Nodes.
	Self int
	// Nodes are the members.
	Nodes []ClusterNode
	// Owners has one entry per partition: the owner's index in Nodes.
	Owners []int
}

// ClusterNode is one member of a Topology.
type ClusterNode struct {
	// ID is the ns node id.
	ID string
	// Addr is the member's RESP address, host:port.
	Addr string
}

// redisID returns the 40-hex-digit node id Redis Cluster clients expect,
// derived from the ns node id (its SHA-1).
func redisID(id string) string {
	h := sha1.Sum([]byte(id))
	return hex.EncodeToString(h[:])
}

// checkClusterBackend verifies that b places keys by Redis's slot function
// (partition = slot*P/16384): cluster clients route by it, so a node that
// places keys otherwise would answer MOVED for keys it owns.
func checkClusterBackend(b Backend) error {
	if _, ok := b.(ClusterBackend); !ok {
		return fmt.Errorf("%w: Cluster needs a Backend with Topology and LocalKeys", ErrInvalidConfig)
	}
	p := b.Partitions()
	for _, k := range []string{"foo", "bar", "{user1000}.following", "123456789", "ns", "a{b}c"} {
		if got, want := b.PartitionOf([]byte(k)), ring.SlotPartition(ring.Slot([]byte(k)), p); got != want {
			return fmt.Errorf("%w: Cluster mode needs keys placed by Redis Cluster's slots: key %q is in partition %d, its slot %d in %d",
				ErrInvalidConfig, k, got, ring.Slot([]byte(k)), want)
		}
	}
	return nil
}

// route checks, in cluster mode, that the keys of a command share one slot
// (else CROSSSLOT) that this node owns (else MOVED to its owner). It
// replies and returns false when the command must not run here.
func (c *conn) route(o *op, cmd *command, args [][]byte) bool {
	last := cmd.last
	if last < 0 {
		last += len(args)
	}
	slot := -1
	for i := cmd.first; i <= last && i < len(args); i += cmd.step {
		s := ring.Slot(args[i])
		if slot >= 0 && s != slot {
			c.replyErr(o, "CROSSSLOT Keys in request don't hash to the same slot")
			return false
		}
		slot = s
	}
	if slot < 0 {
		return true
	}
	t := &c.topo
	if len(t.Owners) == 0 {
		c.replyErr(o, "CLUSTERDOWN ns: no partition table yet")
		return false
	}
	if owner := t.Owners[ring.SlotPartition(slot, len(t.Owners))]; owner != t.Self {
		c.errorf(o, "MOVED %d %s", slot, t.Nodes[owner].Addr)
		return false
	}
	return true
}

// owns reports whether, in cluster mode, this node owns partition p (in
// standalone mode every node serves every partition).
func (c *conn) owns(p int) bool {
	return !c.s.cfg.Cluster || p < len(c.topo.Owners) && c.topo.Owners[p] == c.topo.Self
}

// slotRange is a run of slots with one owner.
type slotRange struct{ first, last, owner int }

// slotRanges merges the partitions' slot ranges into runs per owner, in
// slot order.
func (t *Topology) slotRanges() []slotRange {
	var out []slotRange
	for p, o := range t.Owners {
		first, last := ring.SlotRange(p, len(t.Owners))
		if first > last {
			continue
		}
		if n := len(out); n > 0 && out[n-1].owner == o && out[n-1].last+1 == first {
			out[n-1].last = last
			continue
		}
		out = append(out, slotRange{first, last, o})
	}
	return out
}

// hostPort splits a RESP address for CLUSTER replies.
func hostPort(addr string) (string, int64) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.ParseInt(p, 10, 64)
	return h, n
}

func (c *conn) clusterCmd(o *op, args [][]byte) {
	if !c.s.cfg.Cluster {
		c.replyErr(o, "ERR This instance has cluster support disabled")
		return
	}
	sub := strings.ToLower(string(args[1]))
	t := &c.topo
	if (len(t.Owners) == 0 || t.Self < 0 || t.Self >= len(t.Nodes)) && sub != "keyslot" {
		c.replyErr(o, "CLUSTERDOWN ns: this node is not in a partition table")
		return
	}
	w := &c.imm
	switch {
	case sub == "keyslot" && len(args) == 3:
		c.intReply(o, int64(ring.Slot(args[2])))
	case sub == "myid" && len(args) == 2:
		c.begin(o)
		w.BulkString(redisID(t.Nodes[t.Self].ID))
		c.end(o)
	case sub == "info" && len(args) == 2:
		withSlots := map[int]bool{}
		for _, r := range t.slotRanges() {
			withSlots[r.owner] = true
		}
		c.begin(o)
		w.BulkString(fmt.Sprintf("cluster_state:ok\r\ncluster_slots_assigned:%d\r\ncluster_slots_ok:%d\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n"+
			"cluster_known_nodes:%d\r\ncluster_size:%d\r\ncluster_current_epoch:%d\r\ncluster_my_epoch:%d\r\n",
			ring.SlotCount, ring.SlotCount, len(t.Nodes), len(withSlots), t.Epoch, t.Epoch))
		c.end(o)
	case sub == "slots" && len(args) == 2:
		c.begin(o)
		t.writeSlots(w)
		c.end(o)
	case sub == "shards" && len(args) == 2:
		c.begin(o)
		t.writeShards(w)
		c.end(o)
	case sub == "nodes" && len(args) == 2:
		c.begin(o)
		w.BulkString(t.nodesText())
		c.end(o)
	case sub == "keyslot" || sub == "myid" || sub == "info" || sub == "slots" || sub == "shards" || sub == "nodes":
		c.errorf(o, "ERR wrong number of arguments for 'cluster|%s' command", sub)
	default:
		c.errorf(o, "ERR unknown subcommand '%s'. Try CLUSTER HELP.", trunc(args[1], 128))
	}
}

// writeSlots writes CLUSTER SLOTS' reply: per contiguous slot range, its
// first and last slot and its owner.
func (t *Topology) writeSlots(w *resp.Writer) {
	rs := t.slotRanges()
	w.Array(len(rs))
	for _, r := range rs {
		n := t.Nodes[r.owner]
		h, p := hostPort(n.Addr)
		w.Array(3)
		w.Int(int64(r.first))
		w.Int(int64(r.last))
		w.Array(3)
		w.BulkString(h)
		w.Int(p)
		w.BulkString(redisID(n.ID))
	}
}

// writeShards writes CLUSTER SHARDS' reply: per node, its slot ranges and
// itself as the shard's one master.
func (t *Topology) writeShards(w *resp.Writer) {
	rs := t.slotRanges()
	w.Array(len(t.Nodes))
	for i, n := range t.Nodes {
		var slots []int
		for _, r := range rs {
			if r.owner == i {
				slots = append(slots, r.first, r.last)
			}
		}
		h, p := hostPort(n.Addr)
		w.Map(2)
		w.BulkString("slots")
		w.Array(len(slots))
		for _, s := range slots {
			w.Int(int64(s))
		}
		w.BulkString("nodes")
		w.Array(1)
		w.Map(7)
		w.BulkString("id")
		w.BulkString(redisID(n.ID))
		w.BulkString("port")
		w.Int(p)
		w.BulkString("ip")
		w.BulkString(h)
		w.BulkString("endpoint")
		w.BulkString(h)
		w.BulkString("role")
		w.BulkString("master")
		w.BulkString("replication-offset")
		w.Int(0)
		w.BulkString("health")
		w.BulkString("online")
	}
}

// nodesText is CLUSTER NODES' reply: a line per node with its slot ranges.
func (t *Topology) nodesText() string {
	rs := t.slotRanges()
	var b strings.Builder
	for i, n := range t.Nodes {
		h, p := hostPort(n.Addr)
		flags := "master"
		if i == t.Self {
			flags = "myself,master"
		}
		fmt.Fprintf(&b, "%s %s:%d@%d %s - 0 0 %d connected", redisID(n.ID), h, p, p+10000, flags, t.Epoch)
		for _, r := range rs {
			switch {
			case r.owner != i:
			case r.first == r.last:
				fmt.Fprintf(&b, " %d", r.first)
			default:
				fmt.Fprintf(&b, " %d-%d", r.first, r.last)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// readonlyCmd handles READONLY and READWRITE: accepted in cluster mode (ns
// lists no replicas, so clients read from owners either way).
func (c *conn) readonlyCmd(o *op, _ [][]byte) {
	if !c.s.cfg.Cluster {
		c.replyErr(o, "ERR This instance has cluster support disabled")
		return
	}
	c.status(o, "OK")
}
