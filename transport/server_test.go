package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/wire"
)

// callLog records which interface served which call.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(c string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// take returns the calls recorded since the last take.
func (l *callLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.calls
	l.calls = nil
	return c
}

// clusterOnly and peerOnly implement one interface each, on top of the stub,
// and log their calls.
type clusterOnly struct {
	stubBackend
	log *callLog
}

func (c *clusterOnly) NodeID() string { c.log.add("cluster.NodeID"); return "c1" }
func (c *clusterOnly) Members() []*nsv1.Member {
	c.log.add("cluster.Members")
	return []*nsv1.Member{{Id: "c1"}}
}
func (c *clusterOnly) Stats() *nsv1.StatsResponse {
	c.log.add("cluster.Stats")
	return &nsv1.StatsResponse{NodeId: "c1"}
}
func (c *clusterOnly) Leave() error { c.log.add("cluster.Leave"); return wire.ErrLeaving }

type peerOnly struct {
	log *callLog
}

func (p *peerOnly) Replicate(_ context.Context, req *nsv1.ReplicateRequest) []*nsv1.Result {
	p.log.add("peer.Replicate")
	return make([]*nsv1.Result, len(req.GetOps()))
}

func (p *peerOnly) Handoff(nsv1.PeerService_HandoffServer) error {
	p.log.add("peer.Handoff")
	return nil
}

var (
	_ Dispatcher = DispatchFunc(nil)
	_ Cluster    = (*clusterOnly)(nil)
	_ Peer       = (*peerOnly)(nil)
)

// TestServerServices checks that each gRPC service reaches the interface
// that serves it, and only that one: the data path (Send, Stream, KV,
// Forward) the Dispatcher, ClusterService the Cluster, Replicate and
// Handoff the Peer.
func TestServerServices(t *testing.T) {
	leakCheck(t)
	log := &callLog{}
	dispatch := DispatchFunc(func(_ context.Context, items []*nsv1.Item, forwarded bool) []*nsv1.Result {
		out := make([]*nsv1.Result, len(items))
		for i, it := range items {
			if forwarded {
				log.add("dispatch.forwarded")
			} else {
				log.add("dispatch")
			}
			if it.GetService() == KVServiceName {
				resp := kv.Response{Counter: 5}
				payload, _ := resp.AppendBinary(nil)
				out[i] = &nsv1.Result{Payload: payload}
				continue
			}
			out[i] = &nsv1.Result{Payload: it.GetPayload()}
		}
		return out
	})
	addr := serve(t, ServerConfig{Dispatcher: dispatch, Cluster: &clusterOnly{log: log}, Peer: &peerOnly{log: log}})
	conn := dial(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(wire.UnaryClientInterceptor), grpc.WithStreamInterceptor(wire.StreamClientInterceptor))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	node, kvc := nsv1.NewNodeServiceClient(conn), nsv1.NewKVServiceClient(conn)
	cluster, peer := nsv1.NewClusterServiceClient(conn), nsv1.NewPeerServiceClient(conn)
	item := &nsv1.Item{Service: "echo", Key: []byte("k"), Payload: []byte("v")}

	cases := []struct {
		name string
		call func() error
		want string
	}{
		{"Send", func() error { _, err := node.Send(ctx, &nsv1.SendRequest{Item: item}); return err }, "dispatch"},
		{"Stream", func() error {
			st, err := node.Stream(ctx)
			if err != nil {
				return err
			}
			if err := st.Send(&nsv1.StreamRequest{Id: 1, Items: []*nsv1.Item{item, item}}); err != nil {
				return err
			}
			if _, err := st.Recv(); err != nil {
				return err
			}
			return st.CloseSend()
		}, "dispatch dispatch"},
		{"KV.Incr", func() error {
			r, err := kvc.Incr(ctx, &nsv1.IncrRequest{Key: []byte("k"), Delta: 1})
			if err == nil && r.GetValue() != 5 {
				err = errors.New("wrong value")
			}
			return err
		}, "dispatch"},
		{"Forward", func() error {
			_, err := peer.Forward(ctx, &nsv1.ForwardRequest{Items: []*nsv1.Item{item}})
			return err
		}, "dispatch.forwarded"},
		{"Replicate", func() error {
			_, err := peer.Replicate(ctx, &nsv1.ReplicateRequest{})
			return err
		}, "peer.Replicate"},
		{"Handoff", func() error {
			st, err := peer.Handoff(ctx)
			if err != nil {
				return err
			}
			if _, err = st.Recv(); err != io.EOF {
				return fmt.Errorf("Recv = %v, want io.EOF", err)
			}
			return nil
		}, "peer.Handoff"},
		{"Members", func() error {
			r, err := cluster.Members(ctx, &nsv1.MembersRequest{})
			if err == nil && (r.GetNodeId() != "c1" || len(r.GetMembers()) != 1) {
				err = errors.New("wrong members")
			}
			return err
		}, "cluster.Members cluster.NodeID"},
		{"Stats", func() error { _, err := cluster.Stats(ctx, &nsv1.StatsRequest{}); return err }, "cluster.Stats"},
		{"Leave", func() error {
			_, err := cluster.Leave(ctx, &nsv1.LeaveRequest{})
			if errors.Is(err, wire.ErrLeaving) {
				err = nil
			}
			return err
		}, "cluster.Leave"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log.take()
			if err := c.call(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(log.take(), " "); got != c.want {
				t.Fatalf("served by %q, want %q", got, c.want)
			}
		})
	}
}

func TestNewServerRequiresEachService(t *testing.T) {
	stub := &stubBackend{}
	full := ServerConfig{Dispatcher: stub, Cluster: stub, Peer: stub}
	for _, c := range []struct {
		field string
		clear func(*ServerConfig)
	}{
		{"Dispatcher", func(c *ServerConfig) { c.Dispatcher = nil }},
		{"Cluster", func(c *ServerConfig) { c.Cluster = nil }},
		{"Peer", func(c *ServerConfig) { c.Peer = nil }},
	} {
		t.Run(c.field, func(t *testing.T) {
			cfg := full
			c.clear(&cfg)
			if _, err := NewServer(cfg); err == nil || !strings.Contains(err.Error(), c.field) {
				t.Fatalf("NewServer without %s: %v", c.field, err)
			}
		})
	}
	s, err := NewServer(full)
	if err != nil {
		t.Fatal(err)
	}
	s.Stop()
}
