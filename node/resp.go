package node

import (
	"errors"
	"fmt"
	"net"

	"github.com/nothingshared/ns/node/internal/respserver"
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
	if n.respLis, err = net.Listen("tcp", n.cfg.RESPAddr); err != nil {
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

// errNoClusterDBSize is DBSIZE's answer on a cluster of several nodes.
var errNoClusterDBSize = errors.New("DBSIZE is only served by a one-node ns cluster for now: keys are spread over nodes and ns has no cluster-wide count yet")

// DBSize counts the cluster's keys when this node is the whole cluster.
func (b *backend) DBSize() (int64, error) {
	if len(b.table.Load().Members()) != 1 {
		return 0, errNoClusterDBSize
	}
	return int64(b.n().countKeys()), nil
}
