// Package bufnet is an in-memory network for gRPC: listeners and a dialer
// built on google.golang.org/grpc/test/bufconn, addressed by host:port, so
// that many ns nodes and their clients run in one process without sockets.
// Pass Network.Listen as node.Config.Listen, Network.Dial as node.Config.Dial,
// and grpc.WithContextDialer(Network.Dial) to the client SDK.
//
// Gossip has its own in-memory network, cluster/memnet.
package bufnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"google.golang.org/grpc/test/bufconn"
)

// bufSize is the buffer of each direction of a connection.
const bufSize = 64 << 10

// ErrUnreachable is returned by Dial to an address nobody listens on, or
// one taken down with Down.
var ErrUnreachable = errors.New("bufnet: unreachable")

// ErrInUse is returned by Listen for an address already listened on.
var ErrInUse = errors.New("bufnet: address in use")

// Network connects its listeners and dialers. The zero value is ready to
// use; it is safe for concurrent use.
type Network struct {
	mu       sync.Mutex           // guards the fields below
	byAddr   map[string]*listener // by host:port
	down     map[string]bool      // addresses whose dials fail (Down)
	nextPort int                  // last port handed out for port 0
	dials    uint64               // successful dials
}

// Listen returns a listener at addr (host:port). Port 0 picks the next free
// port of the network, from 20000 up. network is ignored.
func (n *Network) Listen(network, addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("bufnet: listen %q: %w", addr, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byAddr == nil {
		n.byAddr = map[string]*listener{}
		n.down = map[string]bool{}
		n.nextPort = 20000
	}
	if port == "0" {
		for {
			n.nextPort++
			a := net.JoinHostPort(host, strconv.Itoa(n.nextPort))
			if n.byAddr[a] == nil {
				addr = a
				break
			}
		}
	}
	if n.byAddr[addr] != nil {
		return nil, fmt.Errorf("%w: %s", ErrInUse, addr)
	}
	l := &listener{Listener: bufconn.Listen(bufSize), net: n, addr: addrOf(addr)}
	n.byAddr[addr] = l
	return l, nil
}

// Dial connects to the listener at addr (host:port). It honours ctx while
// the listener has not accepted.
func (n *Network) Dial(ctx context.Context, addr string) (net.Conn, error) {
	n.mu.Lock()
	l := n.byAddr[addr]
	down := n.down[addr]
	n.mu.Unlock()
	if l == nil || down {
		return nil, fmt.Errorf("%w: %s", ErrUnreachable, addr)
	}
	c, err := l.DialContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, addr, err)
	}
	n.mu.Lock()
	n.dials++
	n.mu.Unlock()
	return c, nil
}

// Down makes later dials to addr fail, as if its host had crashed; Up
// undoes it. Connections already open stay open.
func (n *Network) Down(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.down == nil {
		n.down = map[string]bool{}
	}
	n.down[addr] = true
}

// Up undoes Down(addr).
func (n *Network) Up(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.down, addr)
}

// Dials returns how many dials succeeded.
func (n *Network) Dials() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dials
}

// listener is a bufconn listener with a host:port address, removed from its
// network when closed.
type listener struct {
	*bufconn.Listener
	net  *Network
	addr net.Addr
	once sync.Once
}

func (l *listener) Addr() net.Addr { return l.addr }

func (l *listener) Close() error {
	l.once.Do(func() {
		l.net.mu.Lock()
		if l.net.byAddr[l.addr.String()] == l {
			delete(l.net.byAddr, l.addr.String())
		}
		l.net.mu.Unlock()
	})
	return l.Listener.Close()
}

// addrOf is a net.Addr of network "bufnet".
type addrOf string

func (a addrOf) Network() string { return "bufnet" }
func (a addrOf) String() string  { return string(a) }
