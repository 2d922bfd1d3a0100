package node

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/nothingshared/ns/node/internal/respserver"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
)

// bindRESP binds the Redis protocol listener (Config.RESPAddr), before the
// gossip metadata is built: in cluster mode it advertises the address.
func (n *Node) bindRESP() (err error) {
	if n.cfg.RESPAddr == "" {
		return nil
	}
	if n.respLis, err = n.cfg.Listen("tcp", n.cfg.RESPAddr); err != nil {
		return fmt.Errorf("node: listen --resp-addr %s: %w", n.cfg.RESPAddr, err)
	}
	if n.cfg.RESPCluster {
		host, _, _ := net.SplitHostPort(n.advertise)
		if n.respAdvertise, err = advertiseAddr(host, n.respLis.Addr().String()); err != nil {
			return err
		}
	}
	return nil
}

// newRESP builds the Redis protocol server; nothing without an address. It
// runs after loadSecurity: RESP uses the node's certificates and tokens.
func (n *Node) newRESP() (err error) {
	if n.cfg.RESPAddr == "" {
		return nil
	}
	rc := respserver.DefaultConfig()
	rc.Backend = (*backend)(n)
	rc.Limits = n.cfg.Limits
	rc.Tokens = n.sec.tokens
	if n.sec.tls != nil {
		rc.TLS = n.sec.tls.ServerConfig(n.sec.tokens == nil)
	}
	rc.MaxConnections = n.cfg.RESPMaxConnections
	rc.IdleTimeout = n.cfg.RESPIdleTimeout
	rc.FlushAll = n.cfg.RESPFlushAll
	rc.Cluster = n.cfg.RESPCluster
	rc.RequestTimeout = n.cfg.RequestTimeout
	rc.Version = n.cfg.Version
	rc.Logger = n.log
	if n.resp, err = respserver.New(rc); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return nil
}

// RESPAddr returns the address the Redis protocol is served on, "" when
// disabled.
func (n *Node) RESPAddr() string {
	if n.respLis == nil {
		return ""
	}
	return n.respLis.Addr().String()
}

// Memory is what INFO's Memory section reports (respserver.MemoryReporter):
// the bytes --max-memory counts on this node (owned and backup copies,
// request-id dedup) and the limit.
func (b *backend) Memory() (used, max int64) {
	n := b.n()
	return n.mem.Used(), n.mem.Max()
}

// DBSize counts the cluster's keys: this node's owned keys plus every other
// member's (ClusterService.Stats), asked one after the other. It is not a
// snapshot: a partition being handed off may count twice or not at all,
// and keys expired but not swept yet count (as in Redis).
func (b *backend) DBSize() (int64, error) {
	n := b.n()
	total := int64(n.countKeys())
	ctx, cancel := context.WithTimeout(context.Background(), dbsizeTimeout)
	defer cancel()
	for _, m := range n.table.Load().Members() {
		if m.ID == n.cfg.NodeID {
			continue
		}
		conn, err := n.peers.get(m.Addr)
		if err != nil {
			return 0, fmt.Errorf("DBSIZE: node %s: %v", m.ID, err)
		}
		st, err := nsv1.NewClusterServiceClient(conn).Stats(ctx, &nsv1.StatsRequest{})
		if err != nil {
			return 0, fmt.Errorf("DBSIZE: node %s did not answer: %v", m.ID, err)
		}
		total += int64(st.GetKeys())
	}
	return total, nil
}

// Partitions is the cluster's partition count.
func (b *backend) Partitions() int { return b.n().table.Load().Partitions() }

// PartitionOf returns the partition Dispatch routes key to.
func (b *backend) PartitionOf(key []byte) int { return b.n().table.Load().PartitionOf(key) }

// respTopology is the RESP cluster topology of one table.
type respTopology struct {
	table *ring.Table
	topo  respserver.Topology
}

var _ respserver.ClusterBackend = (*backend)(nil)

// Topology returns the current table as Redis Cluster clients see it, with
// each member's advertised RESP address; rebuilt once per table.
func (b *backend) Topology() respserver.Topology {
	n := b.n()
	t := n.table.Load()
	if c := n.respTopo.Load(); c != nil && c.table == t {
		return c.topo
	}
	resp := map[string]string{n.cfg.NodeID: n.respAdvertise}
	for _, m := range n.members.View().Members {
		if m.ID != n.cfg.NodeID {
			resp[m.ID] = m.Meta.RESPAddr
		}
	}
	members := t.Members()
	topo := respserver.Topology{Epoch: t.Epoch(), Self: t.MemberIndex(n.cfg.NodeID), Owners: t.Owners()}
	for _, m := range members {
		topo.Nodes = append(topo.Nodes, respserver.ClusterNode{ID: m.ID, Addr: resp[m.ID]})
	}
	n.respTopo.Store(&respTopology{table: t, topo: topo})
	return topo
}

// LocalKeys counts the keys of the partitions this node owns.
func (b *backend) LocalKeys() int64 { return int64(b.n().countKeys()) }

// dbsizeTimeout bounds DBSIZE's questions to the other members.
const dbsizeTimeout = 2 * time.Second
