package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/wire"
	"github.com/nothingshared/ns/wire/vtcodec"
)

// Client is a connection to an ns cluster. It routes each call straight to
// the node that owns the key's partition, batches concurrent calls to the
// same node into stream frames, follows table changes, and retries calls
// that met a stale table, an unavailable node or backpressure.
//
// A Client is safe for concurrent use; it is meant to be long-lived and
// shared. Close releases it.
type Client struct {
	cfg         Config
	log         *slog.Logger
	dialOptions []grpc.DialOption
	now         func() time.Time

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the client started
	once   sync.Once

	route atomic.Pointer[routing] // the current table and its nodes

	nodesMu sync.Mutex                           // guards writes of nodes; lock order: installMu, then nodesMu
	nodes   atomic.Pointer[map[string]*nodeConn] // copy on write; by gRPC address

	installMu sync.Mutex    // serialises table installs
	refreshCh chan struct{} // one token: one table fetch at a time

	watchMu  sync.Mutex     // guards watching
	watching map[string]int // address -> watchers following it

	calls, retries, moved, refreshes atomic.Uint64
}

// routing is one table with the node of each of its members, by member
// index. It is immutable.
type routing struct {
	table *ring.Table
	nodes []*nodeConn // nodes[i] serves table.Members()[i]
	addrs []string    // the members' addresses, same order
}

// New connects to the cluster: it fetches the partition table from the
// first endpoint that answers (an error wrapping ErrNoEndpoint if none
// does), then, unless cfg.DisableWatch, keeps a table watch open. ctx bounds
// only the start-up; zero Config fields take their defaults.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	cfg.Endpoints = slices.Clone(cfg.Endpoints)
	c := &Client{
		cfg:       cfg,
		log:       cfg.Logger,
		now:       time.Now,
		refreshCh: make(chan struct{}, 1),
		watching:  map[string]int{},
	}
	c.nodes.Store(&map[string]*nodeConn{})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.dialOptions = dialOptions(cfg.DialOptions)

	var errs []error
	for _, ep := range cfg.Endpoints {
		t, err := c.fetchTable(ctx, ep)
		if err == nil {
			c.install(t, true)
			break
		}
		c.log.Debug("client: endpoint did not answer", "endpoint", ep, "err", err)
		errs = append(errs, fmt.Errorf("%s: %w", ep, err))
		if ctx.Err() != nil {
			break
		}
	}
	if c.route.Load() == nil {
		c.Close()
		return nil, &noEndpointError{endpoints: cfg.Endpoints, errs: errs}
	}
	if !cfg.DisableWatch {
		for range watchers {
			c.wg.Add(1)
			go c.watch()
		}
	}
	return c, nil
}

// dialOptions returns the options every connection uses: plaintext unless
// the caller gave options, a receive limit that fits any node's frame, the
// vtprotobuf codec (package wire/vtcodec; the bytes are the standard
// codec's), and a reconnect backoff short enough for a breaker probe to find
// a restarted node. The caller's options come last and win.
func dialOptions(user []grpc.DialOption) []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvMsgBytes), grpc.MaxCallSendMsgSize(maxRecvMsgBytes)),
		vtcodec.DialOption(),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   2 * time.Second,
			},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	if user == nil {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	return append(opts, user...)
}

// Close stops the client: calls in progress fail with ErrClosed, the watch
// and every connection close. It waits for the client's goroutines and may
// be called more than once.
func (c *Client) Close() error {
	var errs []error
	c.once.Do(func() {
		c.cancel()
		c.wg.Wait()
		c.nodesMu.Lock()
		defer c.nodesMu.Unlock()
		for _, n := range *c.nodes.Load() {
			if err := n.cc.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// Table returns the partition table the client routes by.
func (c *Client) Table() *ring.Table { return c.route.Load().table }

// Endpoints returns the configured endpoints.
func (c *Client) Endpoints() []string { return slices.Clone(c.cfg.Endpoints) }

// Locate returns the partition of key and its owner in the client's table.
func (c *Client) Locate(key []byte) (partition int, owner ring.Member) {
	t := c.Table()
	p := t.PartitionOf(key)
	return p, t.Owner(p)
}

// Conn returns the client's connection to the node at addr (host:port),
// creating it if needed, for calls the client has no method for (e.g.
// ClusterService admin calls). The connection belongs to the client: do not
// close it.
func (c *Client) Conn(addr string) (*grpc.ClientConn, error) {
	n, err := c.node(addr)
	if err != nil {
		return nil, err
	}
	return n.cc, nil
}

// epoch returns the epoch of the current table, 0 before the first.
func (c *Client) epoch() uint64 {
	if r := c.route.Load(); r != nil {
		return r.table.Epoch()
	}
	return 0
}

// node returns the nodeConn for addr, creating it.
func (c *Client) node(addr string) (*nodeConn, error) {
	if n := (*c.nodes.Load())[addr]; n != nil {
		return n, nil
	}
	c.nodesMu.Lock()
	defer c.nodesMu.Unlock()
	if c.ctx.Err() != nil {
		return nil, ErrClosed
	}
	old := *c.nodes.Load()
	if n := old[addr]; n != nil {
		return n, nil
	}
	n, err := newNodeConn(c, addr)
	if err != nil {
		return nil, err
	}
	m := make(map[string]*nodeConn, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[addr] = n
	c.nodes.Store(&m)
	return n, nil
}

// install makes t the routing table if it is newer than the current one
// (higher epoch), or, with force, if it merely differs (a cluster restarted
// from epoch 1, or the node that said "moved" knows better). It reports
// whether t was installed.
func (c *Client) install(t *ring.Table, force bool) bool {
	c.installMu.Lock()
	defer c.installMu.Unlock()
	cur := c.route.Load()
	if cur != nil {
		switch {
		case t.Epoch() > cur.table.Epoch():
		case force && t.Hash() != cur.table.Hash():
		default:
			return false
		}
	}
	members := t.Members()
	r := &routing{table: t, nodes: make([]*nodeConn, len(members)), addrs: make([]string, len(members))}
	for i, m := range members {
		n, err := c.node(m.Addr)
		if err != nil {
			return false // closed
		}
		r.nodes[i], r.addrs[i] = n, m.Addr
	}
	c.route.Store(r)
	if cur != nil {
		c.log.Info("client: partition table changed", "epoch", t.Epoch(), "hash", fmt.Sprintf("%016x", t.Hash()),
			"members", len(members), "previous_epoch", cur.table.Epoch())
	}
	return true
}

// fetchTable asks the node at addr for its table. Without a deadline in ctx
// it waits at most RequestTimeout.
func (c *Client) fetchTable(ctx context.Context, addr string) (*ring.Table, error) {
	n, err := c.node(addr)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	resp, err := nsv1.NewClusterServiceClient(n.cc).Table(ctx, &nsv1.TableRequest{})
	if err != nil {
		return nil, wire.FromError(err)
	}
	return wire.TableFromProto(resp.GetTable())
}

// RefreshTable fetches the table from a node, trying the members of the
// current table and then the configured endpoints, and installs the first
// one it gets if it differs from the current one.
func (c *Client) RefreshTable(ctx context.Context) error {
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	select {
	case c.refreshCh <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.ctx.Done():
		return ErrClosed
	}
	defer func() { <-c.refreshCh }()
	var errs []error
	for _, addr := range c.candidates("") {
		t, err := c.fetchTable(ctx, addr)
		if err == nil {
			c.refreshes.Add(1)
			c.install(t, true)
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
		if ctx.Err() != nil || c.ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("client: refresh table: %w", errors.Join(errs...))
}

// refreshAfterMoved fetches the table from the node that said "moved" (then
// from the others) unless another caller installed a new table since seen
// was current. force installs a table even with a lower epoch.
func (c *Client) refreshAfterMoved(ctx context.Context, seen *routing, from string, force bool) {
	select {
	case c.refreshCh <- struct{}{}:
	case <-ctx.Done():
		return
	case <-c.ctx.Done():
		return
	}
	defer func() { <-c.refreshCh }()
	if c.route.Load() != seen {
		return // someone else refreshed while we waited
	}
	for _, addr := range c.candidates(from) {
		t, err := c.fetchTable(ctx, addr)
		if err == nil {
			c.refreshes.Add(1)
			c.install(t, force)
			return
		}
		c.log.Debug("client: table fetch failed", "node", addr, "err", err)
		if ctx.Err() != nil || c.ctx.Err() != nil {
			return
		}
	}
}

// candidates lists addresses to ask for a table: first, then the current
// table's members whose breaker is not open, then the configured endpoints,
// without duplicates.
func (c *Client) candidates(first string) []string {
	var out []string
	seen := map[string]bool{"": true}
	add := func(a string) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	add(first)
	now := c.now()
	if r := c.route.Load(); r != nil {
		for i, a := range r.addrs {
			if !r.nodes[i].breaker.blocked(now) {
				add(a)
			}
		}
	}
	for _, a := range c.cfg.Endpoints {
		add(a)
	}
	return out
}
