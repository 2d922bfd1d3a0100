package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
	"github.com/nothingshared/ns/wire/vtcodec"
)

// peers pools one gRPC connection per peer address. It is off the worker
// path: only stream handlers forwarding items use it.
type peers struct {
	dialOpts []grpc.DialOption
	mu       sync.Mutex // guards conns
	conns    map[string]*grpc.ClientConn
}

func newPeers(dialOpts []grpc.DialOption) *peers {
	return &peers{dialOpts: dialOpts, conns: map[string]*grpc.ClientConn{}}
}

func (p *peers) get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)), vtcodec.DialOption()}, p.dialOpts...)
	c, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	p.conns[addr] = c
	return c, nil
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		_ = c.Close()
		delete(p.conns, a)
	}
}

// forward sends the items at pos to their owner m in one Forward call and
// writes their results.
func (n *Node) forward(ctx context.Context, t *ring.Table, m ring.Member, items []*nsv1.Item, pos []int32, results []*nsv1.Result, c *call) {
	defer c.finish()
	fail := func(err error) {
		for _, i := range pos {
			results[i] = transport.ResultError(err)
		}
	}
	conn, err := n.peers.get(m.Addr)
	if err != nil {
		fail(fmt.Errorf("%w: peer %s (%s): %v", transport.ErrUnavailable, m.ID, m.Addr, err))
		return
	}
	req := &nsv1.ForwardRequest{Items: make([]*nsv1.Item, len(pos)), TableEpoch: t.Epoch(), From: n.cfg.NodeID}
	for j, i := range pos {
		req.Items[j] = items[i]
	}
	began := time.Now()
	resp, err := nsv1.NewPeerServiceClient(conn).Forward(ctx, req)
	if err == nil {
		n.lease.note(m.ID, began)
	}
	if err != nil {
		n.rlog.Warn("forward to owner failed", "owner", m.ID, "addr", m.Addr, "items", len(pos), "err", err)
		fail(transport.FromStatus(status.Convert(err)))
		return
	}
	if len(resp.GetResults()) != len(pos) {
		fail(fmt.Errorf("%w: peer %s answered %d results for %d items", transport.ErrUnavailable, m.ID, len(resp.GetResults()), len(pos)))
		return
	}
	n.forwarded.Add(uint64(len(pos)))
	for j, i := range pos {
		results[i] = resp.GetResults()[j]
	}
}
