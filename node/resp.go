package node

import (
	"context"
	"fmt"
	"time"

	"github.com/nothingshared/ns/node/internal/respserver"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// newRESP binds the Redis protocol listener (Config.RESPAddr) and builds
// its server; nothing without an address. It runs after loadSecurity: RESP
// uses the node's certificates and tokens.
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
	rc.RequestTimeout = n.cfg.RequestTimeout
	rc.Version = n.cfg.Version
	rc.Logger = n.log
	if n.resp, err = respserver.New(rc); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if n.respLis, err = n.cfg.Listen("tcp", n.cfg.RESPAddr); err != nil {
		return fmt.Errorf("node: listen --resp-addr %s: %w", n.cfg.RESPAddr, err)
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

// dbsizeTimeout bounds DBSIZE's questions to the other members.
const dbsizeTimeout = 2 * time.Second
