// Package fakecluster is an in-process stand-in for an ns cluster, for the
// client's tests: nodes that speak NodeService.Stream and
// ClusterService.Table/WatchTable over gRPC (bufconn or loopback TCP), share
// one kv.Store, and can be stopped, restarted, made strict about ownership
// (answering "moved") or held at a gate.
package fakecluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/wire"
	"github.com/nothingshared/ns/wire/vtcodec"
)

// Network says how nodes listen.
type Network int

const (
	// Bufconn serves over in-memory pipes; addresses are names.
	Bufconn Network = iota
	// TCP serves on 127.0.0.1 ports.
	TCP
)

// EchoService is a service name the fake answers by echoing the payload.
const EchoService = "echo"

// Cluster is a set of fake nodes sharing one store.
type Cluster struct {
	net   Network
	codec encoding.CodecV2 // the nodes' gRPC codec
	nodes []*Node

	storeMu sync.Mutex // guards store and ids
	store   *kv.Store
	ids     map[string][]uint64 // request ids seen per key
}

// New starts n nodes named "a", "b", ... and gives each the table of all of
// them at epoch 1. They serve with the codec a real node uses (vtcodec).
func New(network Network, n int) (*Cluster, error) {
	return NewWithCodec(network, n, vtcodec.Codec{})
}

// NewWithCodec is New with the nodes' gRPC codec (benchmarks compare
// vtcodec.Codec with vtcodec.Standard()).
func NewWithCodec(network Network, n int, codec encoding.CodecV2) (*Cluster, error) {
	c := &Cluster{net: network, codec: codec, store: kv.NewStore(), ids: map[string][]uint64{}}
	for i := range n {
		nd := &Node{ID: string(rune('a' + i)), c: c}
		if network == Bufconn {
			nd.Addr = nd.ID + ".bufconn:7700"
		}
		if err := nd.Start(); err != nil {
			c.Close()
			return nil, err
		}
		c.nodes = append(c.nodes, nd)
	}
	t, err := c.TableOf(1, c.nodes...)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetTable(t)
	return c, nil
}

// Nodes returns the nodes.
func (c *Cluster) Nodes() []*Node { return c.nodes }

// Node returns the node with the given id.
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Addrs returns the nodes' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Addr
	}
	return out
}

// TableOf computes the table of the given nodes at epoch.
func (c *Cluster) TableOf(epoch uint64, nodes ...*Node) (*ring.Table, error) {
	ms := make([]ring.Member, len(nodes))
	for i, n := range nodes {
		ms[i] = ring.Member{ID: n.ID, Addr: n.Addr}
	}
	return ring.New(ring.DefaultConfig(), epoch, ms)
}

// SetTable gives every node the table t.
func (c *Cluster) SetTable(t *ring.Table) {
	for _, n := range c.nodes {
		n.SetTable(t)
	}
}

// DialOptions returns the options a client needs to reach the nodes.
func (c *Cluster) DialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if c.net == Bufconn {
		opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			n := c.byAddr(addr)
			if n == nil {
				return nil, fmt.Errorf("fakecluster: no node at %s", addr)
			}
			n.mu.Lock()
			lis, _ := n.lis.(*bufconn.Listener)
			n.mu.Unlock()
			if lis == nil {
				return nil, fmt.Errorf("fakecluster: %s is down", addr)
			}
			return lis.DialContext(ctx)
		}))
	}
	return opts
}

func (c *Cluster) byAddr(addr string) *Node {
	for _, n := range c.nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, n := range c.nodes {
		n.Stop()
	}
}

// RequestIDs returns the request ids of the kv items served for key, in
// order.
func (c *Cluster) RequestIDs(key []byte) []uint64 {
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	return append([]uint64(nil), c.ids[string(key)]...)
}

// apply runs one kv request on the shared store.
func (c *Cluster) apply(it *nsv1.Item) ([]byte, error) {
	c.storeMu.Lock()
	defer c.storeMu.Unlock()
	c.ids[string(it.GetKey())] = append(c.ids[string(it.GetKey())], it.GetRequestId())
	return c.store.Handle(time.Now(), it.GetPayload())
}

// Node is one fake node.
type Node struct {
	ID   string
	Addr string
	c    *Cluster

	// Strict makes the node answer "moved" for keys its table gives to
	// another node; otherwise it serves them (as a real node forwards).
	Strict atomic.Bool

	// Counters.
	Frames  atomic.Int64 // stream frames received
	Items   atomic.Int64 // items received
	Owned   atomic.Int64 // items served for keys the node owns
	Foreign atomic.Int64 // items served for keys another node owns
	Moved   atomic.Int64 // items answered "moved"

	// Backpressure is the number of items still to refuse with
	// wire.ErrBackpressure before serving again.
	Backpressure atomic.Int64

	table atomic.Pointer[ring.Table]

	gateMu sync.Mutex    // guards gate
	gate   chan struct{} // when set, frames wait until it is closed

	// Silent makes a held node (Hold) also leave health checks unanswered
	// until Release, as a paused or cut-off node does; a held node that is
	// not silent answers them (it is only slow).
	Silent atomic.Bool

	mu      sync.Mutex // guards lis, srv, changed
	lis     net.Listener
	srv     *grpc.Server
	changed chan struct{} // closed and replaced on every table change
}

// Start serves the node (again, after Stop, on the same address).
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return errors.New("fakecluster: node already running")
	}
	var lis net.Listener
	switch n.c.net {
	case Bufconn:
		lis = bufconn.Listen(1 << 20)
	default:
		addr := n.Addr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		var err error
		if lis, err = net.Listen("tcp", addr); err != nil {
			return err
		}
		n.Addr = lis.Addr().String()
	}
	srv := grpc.NewServer(grpc.ForceServerCodecV2(n.c.codec))
	nsv1.RegisterNodeServiceServer(srv, &nodeService{n: n})
	nsv1.RegisterClusterServiceServer(srv, &clusterService{n: n})
	healthpb.RegisterHealthServer(srv, &healthService{n: n})
	n.lis, n.srv = lis, srv
	if n.changed == nil {
		n.changed = make(chan struct{})
	}
	go func() { _ = srv.Serve(lis) }()
	return nil
}

// Stop closes the node's listener and connections at once.
func (n *Node) Stop() {
	n.mu.Lock()
	srv := n.srv
	n.srv, n.lis = nil, nil
	n.mu.Unlock()
	if srv != nil {
		srv.Stop()
	}
}

// SetTable sets the node's view of the table and notifies its watchers.
func (n *Node) SetTable(t *ring.Table) {
	n.table.Store(t)
	n.mu.Lock()
	if n.changed != nil {
		close(n.changed)
	}
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// Table returns the node's view of the table.
func (n *Node) Table() *ring.Table { return n.table.Load() }

// Hold makes frames wait until Release.
func (n *Node) Hold() {
	n.gateMu.Lock()
	defer n.gateMu.Unlock()
	if n.gate == nil {
		n.gate = make(chan struct{})
	}
}

// Release lets held frames go.
func (n *Node) Release() {
	n.gateMu.Lock()
	defer n.gateMu.Unlock()
	if n.gate != nil {
		close(n.gate)
		n.gate = nil
	}
}

func (n *Node) wait(ctx context.Context) {
	n.gateMu.Lock()
	g := n.gate
	n.gateMu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-ctx.Done():
		}
	}
}

// process answers one item.
func (n *Node) process(it *nsv1.Item) *nsv1.Result {
	if len(it.GetKey()) == 0 {
		return wire.ResultError(wire.ErrKeyEmpty)
	}
	for v := n.Backpressure.Load(); v > 0; v = n.Backpressure.Load() {
		if n.Backpressure.CompareAndSwap(v, v-1) {
			return wire.ResultError(wire.ErrBackpressure)
		}
	}
	t := n.table.Load()
	p := t.PartitionOf(it.GetKey())
	owner := t.Owner(p)
	if owner.ID != n.ID {
		if n.Strict.Load() {
			n.Moved.Add(1)
			return wire.ResultError(&wire.MovedError{Epoch: t.Epoch(), Partition: p, OwnerID: owner.ID, OwnerAddr: owner.Addr})
		}
		n.Foreign.Add(1)
	} else {
		n.Owned.Add(1)
	}
	switch it.GetService() {
	case EchoService:
		return &nsv1.Result{Payload: it.GetPayload()}
	case wire.KVServiceName:
		out, err := n.c.apply(it)
		if err != nil {
			return wire.ResultError(err)
		}
		return &nsv1.Result{Payload: out}
	}
	return wire.ResultError(fmt.Errorf("%w: %q", wire.ErrUnknownService, it.GetService()))
}

type nodeService struct {
	nsv1.UnimplementedNodeServiceServer
	n *Node
}

func (s *nodeService) Stream(stream nsv1.NodeService_StreamServer) error {
	ctx := stream.Context()
	var (
		sendMu sync.Mutex
		wg     sync.WaitGroup
	)
	defer wg.Wait()
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.n.Frames.Add(1)
		s.n.Items.Add(int64(len(req.GetItems())))
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.n.wait(ctx)
			resp := &nsv1.StreamResponse{Id: req.GetId(), Results: make([]*nsv1.Result, len(req.GetItems()))}
			for i, it := range req.GetItems() {
				resp.Results[i] = s.n.process(it)
			}
			sendMu.Lock()
			defer sendMu.Unlock()
			_ = stream.Send(resp)
		}()
	}
}

type clusterService struct {
	nsv1.UnimplementedClusterServiceServer
	n *Node
}

func (s *clusterService) Table(context.Context, *nsv1.TableRequest) (*nsv1.TableResponse, error) {
	t := s.n.table.Load()
	if t == nil {
		return nil, status.Error(codes.Unavailable, "fakecluster: no table yet")
	}
	return &nsv1.TableResponse{Table: wire.TableToProto(t), NodeId: s.n.ID}, nil
}

func (s *clusterService) WatchTable(req *nsv1.WatchTableRequest, stream nsv1.ClusterService_WatchTableServer) error {
	var sent *ring.Table
	known := req.GetKnownEpoch()
	for {
		s.n.mu.Lock()
		changed := s.n.changed
		s.n.mu.Unlock()
		if t := s.n.table.Load(); t != nil && t != sent && t.Epoch() != known {
			if err := stream.Send(&nsv1.WatchTableResponse{Table: wire.TableToProto(t)}); err != nil {
				return err
			}
			sent, known = t, 0
		}
		select {
		case <-changed:
		case <-stream.Context().Done():
			return nil
		}
	}
}

// healthService answers health checks SERVING, after Release when the node
// is held and Silent.
type healthService struct {
	healthpb.UnimplementedHealthServer
	n *Node
}

func (h *healthService) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if h.n.Silent.Load() {
		h.n.wait(ctx)
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, ctx.Err()
}
