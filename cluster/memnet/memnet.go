// Package memnet is an in-memory network for memberlist: a Transport per node,
// wired to the others of its Network, with links that can be cut and healed.
// Tests of cluster and of its users run many nodes in one process with it,
// without sockets.
//
// Unlike memberlist.MockNetwork it behaves like a real network when a node is
// gone: packets to a shut-down, cut or overloaded node are dropped (as UDP
// would drop them) and dials fail, instead of blocking the sender forever.
//
// Every transport has its own loopback address, 127.0.x.y, and the same port
// (7946 unless Network.Port says otherwise), so DNS-style seeds without a port
// work as in a real deployment. Nothing is sent on the host's network.
package memnet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// queueLen is how many packets (and pending streams) a transport buffers
// before dropping (packets) or refusing (streams).
const queueLen = 1024

// ErrUnreachable is returned by dials to an address with no live transport,
// or across a cut link.
var ErrUnreachable = errors.New("memnet: unreachable")

// Network connects the transports it creates. The zero value is ready to use;
// it is safe for concurrent use.
type Network struct {
	// Port is the port of every transport; 0 means 7946. Set it before the
	// first NewTransport.
	Port int

	mu       sync.Mutex            // guards the fields below
	n        int                   // transports created
	byAddr   map[string]*Transport // by host:port
	cut      map[[2]string]bool    // unordered pairs of host:port, sorted
	isolated map[string]bool       // host:port cut off from everyone

	packets, packetBytes, dropped atomic.Uint64
	streams, streamBytes          atomic.Uint64
}

// Stats counts what a Network carried since it was created.
type Stats struct {
	// Packets and PacketBytes count the packets sent (gossip, probes,
	// acks), delivered or not; Dropped counts those that were not.
	Packets, PacketBytes, Dropped uint64
	// Streams counts the streams opened (push-pull state exchanges, joins,
	// fallback probes) and StreamBytes the bytes they carried, both ways.
	Streams, StreamBytes uint64
}

// Stats returns the network's counters.
func (n *Network) Stats() Stats {
	return Stats{
		Packets: n.packets.Load(), PacketBytes: n.packetBytes.Load(), Dropped: n.dropped.Load(),
		Streams: n.streams.Load(), StreamBytes: n.streamBytes.Load(),
	}
}

// Isolate cuts the transport at addr (host:port) off from every other, as
// a crashed host would be: packets to and from it are dropped and dials
// fail. Open streams stay open. Heal or HealAll undo it.
func (n *Network) Isolate(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.isolated == nil {
		n.isolated = make(map[string]bool)
	}
	n.isolated[addr] = true
}

// NewTransport returns a transport with the next free address. name is only
// used in error messages.
func (n *Network) NewTransport(name string) *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.byAddr == nil {
		n.byAddr = make(map[string]*Transport)
		n.cut = make(map[[2]string]bool)
	}
	port := n.Port
	if port == 0 {
		port = 7946
	}
	n.n++
	ip := net.IPv4(127, 0, byte(n.n/250), byte(n.n%250+1)).To4()
	t := &Transport{
		net:      n,
		name:     name,
		ip:       ip,
		port:     port,
		addr:     net.JoinHostPort(ip.String(), strconv.Itoa(port)),
		packetCh: make(chan *memberlist.Packet, queueLen),
		streamCh: make(chan net.Conn, queueLen),
		done:     make(chan struct{}),
	}
	n.byAddr[t.addr] = t
	return t
}

// Cut drops every packet and refuses every dial between the transports at
// addresses a and b (host:port), in both directions. Open streams stay open.
func (n *Network) Cut(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut == nil {
		n.cut = make(map[[2]string]bool)
	}
	n.cut[pair(a, b)] = true
}

// Heal undoes Cut(a, b).
func (n *Network) Heal(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cut, pair(a, b))
}

// Unisolate undoes Isolate(addr).
func (n *Network) Unisolate(addr string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.isolated, addr)
}

// HealAll undoes every Cut and Isolate.
func (n *Network) HealAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
	clear(n.isolated)
}

func pair(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// route returns the live transport at to, reachable from from, or nil.
func (n *Network) route(from, to string) *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := n.byAddr[to]
	if t == nil || n.cut[pair(from, to)] || n.isolated[from] || n.isolated[to] {
		return nil
	}
	select {
	case <-t.done:
		return nil
	default:
		return t
	}
}

// Transport is one node's memberlist.Transport on a Network.
type Transport struct {
	net      *Network
	name     string
	ip       net.IP
	port     int
	addr     string
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn
	done     chan struct{}
	once     sync.Once
}

var _ memberlist.NodeAwareTransport = (*Transport)(nil)

// Addr returns the transport's address, host:port.
func (t *Transport) Addr() string { return t.addr }

// FinalAdvertiseAddr returns the transport's own address, whatever is asked.
func (t *Transport) FinalAdvertiseAddr(string, int) (net.IP, int, error) {
	return t.ip, t.port, nil
}

// WriteTo sends a packet to addr; see WriteToAddress.
func (t *Transport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.WriteToAddress(b, memberlist.Address{Addr: addr})
}

// WriteToAddress delivers a copy of b to the transport at a.Addr. Like UDP it
// never blocks and never fails: the packet is dropped if the destination is
// gone, cut off or has a full queue.
func (t *Transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	now := time.Now()
	t.net.packets.Add(1)
	t.net.packetBytes.Add(uint64(len(b)))
	dest := t.net.route(t.addr, a.Addr)
	if dest == nil {
		t.net.dropped.Add(1)
		return now, nil
	}
	p := &memberlist.Packet{
		Buf:       bytes.Clone(b),
		From:      &net.UDPAddr{IP: t.ip, Port: t.port},
		Timestamp: now,
	}
	select {
	case dest.packetCh <- p:
	default:
		t.net.dropped.Add(1)
	}
	return now, nil
}

// PacketCh returns the channel of received packets.
func (t *Transport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// DialTimeout connects to addr; see DialAddressTimeout.
func (t *Transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout returns one end of an in-memory pipe whose other end is
// handed to the transport at a.Addr. It fails with ErrUnreachable if that
// transport is gone or cut off, or if its accept queue is full.
func (t *Transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	dest := t.net.route(t.addr, a.Addr)
	if dest == nil {
		return nil, fmt.Errorf("%w: %s -> %s", ErrUnreachable, t.addr, a.Addr)
	}
	local, remote := net.Pipe()
	select {
	case dest.streamCh <- remote:
		t.net.streams.Add(1)
		return countingConn{Conn: local, n: &t.net.streamBytes}, nil
	default:
		_ = local.Close()
		_ = remote.Close()
		return nil, fmt.Errorf("%w: %s -> %s: accept queue full", ErrUnreachable, t.addr, a.Addr)
	}
}

// countingConn adds the bytes read and written through it to n: on the
// dialing end of a pipe, every byte of the stream once.
type countingConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c countingConn) Read(b []byte) (int, error) {
	k, err := c.Conn.Read(b)
	c.n.Add(uint64(k))
	return k, err
}

func (c countingConn) Write(b []byte) (int, error) {
	k, err := c.Conn.Write(b)
	c.n.Add(uint64(k))
	return k, err
}

// StreamCh returns the channel of accepted streams.
func (t *Transport) StreamCh() <-chan net.Conn { return t.streamCh }

// IngestPacket reads a whole packet from conn and queues it as received from
// addr.
func (t *Transport) IngestPacket(conn net.Conn, addr net.Addr, now time.Time, shouldClose bool) error {
	if shouldClose {
		defer func() { _ = conn.Close() }()
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return fmt.Errorf("memnet: read packet: %w", err)
	}
	if len(b) == 0 {
		return errors.New("memnet: empty packet")
	}
	select {
	case t.packetCh <- &memberlist.Packet{Buf: b, From: addr, Timestamp: now}:
	case <-t.done:
	}
	return nil
}

// IngestStream queues conn as an accepted stream.
func (t *Transport) IngestStream(conn net.Conn) error {
	select {
	case t.streamCh <- conn:
		return nil
	case <-t.done:
		_ = conn.Close()
		return ErrUnreachable
	}
}

// Shutdown takes the transport off the network: later packets to it are
// dropped and dials fail; queued streams are closed. It may be called more
// than once.
func (t *Transport) Shutdown() error {
	t.once.Do(func() {
		close(t.done)
		for {
			select {
			case c := <-t.streamCh:
				_ = c.Close()
			default:
				return
			}
		}
	})
	return nil
}
