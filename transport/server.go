package transport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/wire"
	"github.com/nothingshared/ns/wire/vtcodec"
)

// Dispatcher is the data path: it serves NodeService (Send, Stream),
// KVService and PeerService.Forward, which the server turns into items after
// checking them against the limits. Implementations must be safe for
// concurrent use; Dispatch may block until ctx ends.
type Dispatcher interface {
	// Dispatch delivers items (already checked against the limits) and
	// returns one result per item, in order, once every item has one.
	// Forwarded items come from a peer and must not be forwarded again.
	Dispatch(ctx context.Context, items []*nsv1.Item, forwarded bool) []*nsv1.Result
}

// DispatchFunc adapts a function to Dispatcher.
type DispatchFunc func(ctx context.Context, items []*nsv1.Item, forwarded bool) []*nsv1.Result

// Dispatch calls f.
func (f DispatchFunc) Dispatch(ctx context.Context, items []*nsv1.Item, forwarded bool) []*nsv1.Result {
	return f(ctx, items, forwarded)
}

// Cluster is the node as ClusterService shows it: its id, its partition
// table, its members and statistics, and a graceful leave. Implementations
// must be safe for concurrent use; only HotKeys may block (until ctx ends).
type Cluster interface {
	// NodeID is the node's id.
	NodeID() string
	// Table returns the current partition table, nil before the first.
	Table() *ring.Table
	// WatchTable returns a channel that receives a value after each table
	// change, and a function that releases it.
	WatchTable() (<-chan struct{}, func())
	// Members lists the members the node knows.
	Members() []*nsv1.Member
	// Stats returns the node's statistics.
	Stats() *nsv1.StatsResponse
	// Leave starts a graceful leave and returns at once.
	Leave() error
	// HotKeys returns the node's busiest keys, at most limit.
	HotKeys(ctx context.Context, limit int) ([]*nsv1.HotKey, error)
}

// Peer is the node as the other nodes' PeerService calls see it, besides
// Forward (which is the data path, see Dispatcher): replication to backups
// and partition handoff. Implementations must be safe for concurrent use.
type Peer interface {
	// Replicate applies an owner's writes on this backup; one result per op.
	Replicate(ctx context.Context, req *nsv1.ReplicateRequest) []*nsv1.Result
	// Handoff serves a peer pulling a partition's state, until the stream
	// ends.
	Handoff(stream nsv1.PeerService_HandoffServer) error
}

// ServerConfig configures a Server.
type ServerConfig struct {
	// Dispatcher serves the data path: NodeService, KVService and
	// PeerService.Forward. Required.
	Dispatcher Dispatcher
	// Cluster serves ClusterService. Required.
	Cluster Cluster
	// Peer serves PeerService.Replicate and PeerService.Handoff. Required.
	Peer Peer
	// Limits bound every request; zero fields take their defaults.
	Limits Limits
	// Logger receives rare events; nil discards them.
	Logger *slog.Logger
	// Options are extra gRPC server options (credentials, interceptors).
	Options []grpc.ServerOption
}

// validate reports a missing required field.
func (cfg *ServerConfig) validate() error {
	switch {
	case cfg.Dispatcher == nil:
		return errors.New("transport: ServerConfig.Dispatcher is required")
	case cfg.Cluster == nil:
		return errors.New("transport: ServerConfig.Cluster is required")
	case cfg.Peer == nil:
		return errors.New("transport: ServerConfig.Peer is required")
	}
	return nil
}

// Server is the gRPC server of one node: NodeService, KVService,
// ClusterService, PeerService, grpc.health.v1 and server reflection.
type Server struct {
	grpc     *grpc.Server
	health   *health.Server
	dispatch Dispatcher
	cluster  Cluster
	peer     Peer
	limits   Limits
	log      *slog.Logger

	draining  chan struct{} // closed by Drain
	drainOnce sync.Once
}

// HealthService is the service name nodes report in grpc.health.v1 besides
// the empty (whole server) name.
const HealthService = "ns.v1.NodeService"

// NewServer builds a Server; it serves nothing until Serve.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	lim := cfg.Limits.WithDefaults()
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(lim.MaxRecvMsgBytes),
		grpc.MaxSendMsgSize(lim.MaxRecvMsgBytes),
		grpc.MaxConcurrentStreams(uint32(lim.MaxConcurrentStreams)),
		grpc.ConnectionTimeout(HandshakeTimeout),
		vtcodec.ServerOption(),
	}, cfg.Options...)
	s := &Server{
		grpc:     grpc.NewServer(opts...),
		health:   health.NewServer(),
		dispatch: cfg.Dispatcher,
		cluster:  cfg.Cluster,
		peer:     cfg.Peer,
		limits:   lim,
		log:      log,
		draining: make(chan struct{}),
	}
	nsv1.RegisterNodeServiceServer(s.grpc, &nodeService{s: s})
	nsv1.RegisterKVServiceServer(s.grpc, &kvService{s: s})
	nsv1.RegisterClusterServiceServer(s.grpc, &clusterService{s: s})
	nsv1.RegisterPeerServiceServer(s.grpc, &peerService{s: s})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.SetServing(false)
	return s, nil
}

// Limits returns the limits in force (defaults filled in).
func (s *Server) Limits() Limits { return s.limits }

// GRPC returns the underlying gRPC server, to register more services.
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// SetServing sets the grpc.health.v1 status of the server and of HealthService.
func (s *Server) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(HealthService, st)
}

// Serve accepts connections on lis until Stop or GracefulStop, at most
// Limits.MaxConnections at once (see LimitListener).
func (s *Server) Serve(lis net.Listener) error {
	if s.limits.MaxConnections > 0 {
		lis = LimitListener(lis, s.limits.MaxConnections, s.log)
	}
	return s.grpc.Serve(lis)
}

// Drain ends the table watches (ClusterService.WatchTable) so that clients
// watch other nodes and a graceful stop does not wait for them; calls and
// streams keep being served until GracefulStop's deadline. It may be called
// more than once.
func (s *Server) Drain() {
	s.drainOnce.Do(func() { close(s.draining) })
}

// Stop closes every connection at once.
func (s *Server) Stop() {
	s.health.Shutdown()
	s.grpc.Stop()
}

// GracefulStop stops accepting calls and waits for running ones until ctx
// ends, then closes the rest.
func (s *Server) GracefulStop(ctx context.Context) {
	s.Drain()
	s.health.Shutdown()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
	}
}

// process checks items against the limits, dispatches the valid ones and
// returns one result per item.
func (s *Server) process(ctx context.Context, items []*nsv1.Item, forwarded bool) []*nsv1.Result {
	if err := s.limits.CheckBatch(len(items)); err != nil {
		res := make([]*nsv1.Result, len(items))
		for i := range res {
			res[i] = ResultError(err)
		}
		return res
	}
	// Check each item once; the common case (all valid) dispatches the
	// caller's slice as it is. An item carries the earliest of its
	// caller's deadline and this call's: no node applies it later.
	var dl int64
	if d, ok := ctx.Deadline(); ok {
		dl = d.UnixNano()
	}
	var errs []error
	for i, it := range items {
		if it != nil && dl != 0 && (it.DeadlineUnixNano == 0 || it.DeadlineUnixNano > dl) {
			it.DeadlineUnixNano = dl
		}
		if err := s.checkItem(it); err != nil {
			if errs == nil {
				errs = make([]error, len(items))
			}
			errs[i] = err
		}
	}
	if errs == nil {
		return s.dispatch.Dispatch(ctx, items, forwarded)
	}
	res := make([]*nsv1.Result, len(items))
	good := make([]*nsv1.Item, 0, len(items))
	pos := make([]int, 0, len(items))
	for i, it := range items {
		if errs[i] != nil {
			res[i] = ResultError(errs[i])
			continue
		}
		good = append(good, it)
		pos = append(pos, i)
	}
	if len(good) > 0 {
		for j, r := range s.dispatch.Dispatch(ctx, good, forwarded) {
			res[pos[j]] = r
		}
	}
	return res
}

func (s *Server) checkItem(it *nsv1.Item) error {
	if it == nil {
		return ErrKeyEmpty
	}
	if it.GetService() == "" {
		return ErrUnknownService
	}
	if err := s.limits.CheckKey(it.GetKey()); err != nil {
		return err
	}
	if it.GetService() == KVServiceName {
		// A kv payload carries its key, value and a few fields: its value
		// was checked exactly by the KV API; here only the envelope.
		if max := s.limits.MaxValueBytes + s.limits.MaxKeyBytes + kvPayloadOverhead; len(it.GetPayload()) > max {
			return &LimitError{Limit: "max-value-bytes", Size: len(it.GetPayload()), Max: max}
		}
		return nil
	}
	return s.limits.CheckValue(it.GetPayload())
}

// kvPayloadOverhead bounds the bytes a kv request adds to its key and value
// (version, op, flags, lengths, delta, ttl, request id).
const kvPayloadOverhead = 64

type nodeService struct {
	nsv1.UnimplementedNodeServiceServer
	s *Server
}

func (n *nodeService) Send(ctx context.Context, req *nsv1.SendRequest) (*nsv1.SendResponse, error) {
	if req.GetItem() == nil {
		return nil, status.Error(codes.InvalidArgument, "ns: SendRequest.item is required")
	}
	res := n.s.process(ctx, []*nsv1.Item{req.GetItem()}, false)[0]
	if err := ErrorFromResult(res); err != nil {
		return nil, ToStatus(err).Err()
	}
	return &nsv1.SendResponse{Payload: res.GetPayload()}, nil
}

func (n *nodeService) Stream(stream nsv1.NodeService_StreamServer) error {
	ctx := stream.Context()
	sem := make(chan struct{}, n.s.limits.MaxStreamInFlight)
	var (
		sendMu  sync.Mutex
		sendErr error
		wg      sync.WaitGroup
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
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
		wg.Add(1)
		go func(req *nsv1.StreamRequest) {
			defer func() { <-sem; wg.Done() }()
			resp := &nsv1.StreamResponse{Id: req.GetId(), Results: n.s.process(ctx, req.GetItems(), false)}
			sendMu.Lock()
			if sendErr == nil {
				sendErr = stream.Send(resp)
			}
			sendMu.Unlock()
		}(req)
	}
}

type peerService struct {
	nsv1.UnimplementedPeerServiceServer
	s *Server
}

func (p *peerService) Forward(ctx context.Context, req *nsv1.ForwardRequest) (*nsv1.ForwardResponse, error) {
	return &nsv1.ForwardResponse{Results: p.s.process(ctx, req.GetItems(), true)}, nil
}

func (p *peerService) Replicate(ctx context.Context, req *nsv1.ReplicateRequest) (*nsv1.ReplicateResponse, error) {
	if len(req.GetOps()) > maxReplicateOps {
		return nil, ToStatus(&LimitError{Limit: "replicate-ops", Size: len(req.GetOps()), Max: maxReplicateOps}).Err()
	}
	return &nsv1.ReplicateResponse{Results: p.s.peer.Replicate(ctx, req)}, nil
}

func (p *peerService) Handoff(stream nsv1.PeerService_HandoffServer) error {
	return p.s.peer.Handoff(stream)
}

// maxReplicateOps bounds the ops of one Replicate call (a node sends at
// most 1024).
const maxReplicateOps = 4096

type clusterService struct {
	nsv1.UnimplementedClusterServiceServer
	s *Server
}

func (c *clusterService) Members(context.Context, *nsv1.MembersRequest) (*nsv1.MembersResponse, error) {
	return &nsv1.MembersResponse{Members: c.s.cluster.Members(), NodeId: c.s.cluster.NodeID()}, nil
}

func (c *clusterService) Table(context.Context, *nsv1.TableRequest) (*nsv1.TableResponse, error) {
	t := c.s.cluster.Table()
	if t == nil {
		return nil, status.Error(codes.Unavailable, "ns: node has no partition table yet")
	}
	return &nsv1.TableResponse{Table: TableToProto(t), NodeId: c.s.cluster.NodeID()}, nil
}

func (c *clusterService) WatchTable(req *nsv1.WatchTableRequest, stream nsv1.ClusterService_WatchTableServer) error {
	ch, cancel := c.s.cluster.WatchTable()
	defer cancel()
	sent := req.GetKnownEpoch()
	var sentHash uint64
	var last *ring.Table // the table this stream carried last: a diff's base
	for {
		if t := c.s.cluster.Table(); t != nil && (t.Epoch() != sent || t.Hash() != sentHash) {
			resp := &nsv1.WatchTableResponse{}
			if req.GetAcceptDiffs() {
				resp.Diff = wire.TableDiffToProto(last, t)
			}
			if resp.Diff == nil {
				resp.Table = TableToProto(t)
			}
			if err := stream.Send(resp); err != nil {
				return err
			}
			sent, sentHash, last = t.Epoch(), t.Hash(), t
		}
		select {
		case <-ch:
		case <-stream.Context().Done():
			return nil
		case <-c.s.draining:
			return status.Error(codes.Unavailable, "ns: node is leaving the cluster; watch another node")
		}
	}
}

func (c *clusterService) Stats(context.Context, *nsv1.StatsRequest) (*nsv1.StatsResponse, error) {
	return c.s.cluster.Stats(), nil
}

func (c *clusterService) HotKeys(ctx context.Context, req *nsv1.HotKeysRequest) (*nsv1.HotKeysResponse, error) {
	ks, err := c.s.cluster.HotKeys(ctx, int(req.GetLimit()))
	if err != nil {
		return nil, ToStatus(err).Err()
	}
	return &nsv1.HotKeysResponse{NodeId: c.s.cluster.NodeID(), Keys: ks}, nil
}

func (c *clusterService) Leave(context.Context, *nsv1.LeaveRequest) (*nsv1.LeaveResponse, error) {
	if err := c.s.cluster.Leave(); err != nil {
		return nil, ToStatus(err).Err()
	}
	return &nsv1.LeaveResponse{}, nil
}

type kvService struct {
	nsv1.UnimplementedKVServiceServer
	s *Server
}

// one runs a single kv request through the node.
func (k *kvService) one(ctx context.Context, req *kv.Request) (kv.Response, error) {
	item, err := k.item(req)
	if err != nil {
		return kv.Response{}, err
	}
	res := k.s.process(ctx, []*nsv1.Item{item}, false)[0]
	return kvResult(res)
}

// item checks a kv request's key and values against the limits and encodes
// it as an item of the kv service.
func (k *kvService) item(req *kv.Request) (*nsv1.Item, error) {
	if err := k.s.limits.CheckKey(req.Key); err != nil {
		return nil, err
	}
	if err := k.s.limits.CheckValue(req.Value); err != nil {
		return nil, err
	}
	if err := k.s.limits.CheckValue(req.Expected); err != nil {
		return nil, err
	}
	payload, err := req.AppendBinary(nil)
	if err != nil {
		return nil, err
	}
	return &nsv1.Item{Service: KVServiceName, Key: req.Key, Payload: payload, RequestId: req.RequestID}, nil
}

func kvResult(res *nsv1.Result) (kv.Response, error) {
	if err := ErrorFromResult(res); err != nil {
		return kv.Response{}, err
	}
	return kv.DecodeResponse(res.GetPayload())
}

func (k *kvService) Get(ctx context.Context, r *nsv1.GetRequest) (*nsv1.GetResponse, error) {
	resp, err := k.one(ctx, KVRequestFromProto(&nsv1.KVOperation{Op: &nsv1.KVOperation_Get{Get: r}}))
	if err != nil {
		return nil, ToStatus(err).Err()
	}
	return &nsv1.GetResponse{Value: resp.Value, TtlMs: resp.TTL.Milliseconds()}, nil
}

func (k *kvService) Put(ctx context.Context, r *nsv1.PutRequest) (*nsv1.PutResponse, error) {
	if _, err := k.one(ctx, KVRequestFromProto(&nsv1.KVOperation{Op: &nsv1.KVOperation_Put{Put: r}})); err != nil {
		return nil, ToStatus(err).Err()
	}
	return &nsv1.PutResponse{}, nil
}

func (k *kvService) Delete(ctx context.Context, r *nsv1.DeleteRequest) (*nsv1.DeleteResponse, error) {
	resp, err := k.one(ctx, KVRequestFromProto(&nsv1.KVOperation{Op: &nsv1.KVOperation_Delete{Delete: r}}))
	if err != nil {
		return nil, ToStatus(err).Err()
	}
	return &nsv1.DeleteResponse{Deleted: resp.Found}, nil
}

func (k *kvService) Incr(ctx context.Context, r *nsv1.IncrRequest) (*nsv1.IncrResponse, error) {
	resp, err := k.one(ctx, KVRequestFromProto(&nsv1.KVOperation{Op: &nsv1.KVOperation_Incr{Incr: r}}))
	if err != nil {
		return nil, ToStatus(err).Err()
	}
	return &nsv1.IncrResponse{Value: resp.Counter}, nil
}

func (k *kvService) CompareAndSwap(ctx context.Context, r *nsv1.CompareAndSwapRequest) (*nsv1.CompareAndSwapResponse, error) {
	resp, err := k.one(ctx, KVRequestFromProto(&nsv1.KVOperation{Op: &nsv1.KVOperation_CompareAndSwap{CompareAndSwap: r}}))
	if err != nil {
		return nil, ToStatus(err).Err()
	}
	return &nsv1.CompareAndSwapResponse{Swapped: resp.Swapped, Current: resp.Value, Found: resp.Found}, nil
}

func (k *kvService) Batch(ctx context.Context, r *nsv1.BatchRequest) (*nsv1.BatchResponse, error) {
	ops := r.GetOperations()
	if err := k.s.limits.CheckBatch(len(ops)); err != nil {
		return nil, ToStatus(err).Err()
	}
	out := make([]*nsv1.KVResult, len(ops))
	items := make([]*nsv1.Item, 0, len(ops))
	pos := make([]int, 0, len(ops))
	for i, op := range ops {
		req := KVRequestFromProto(op)
		if req == nil {
			out[i] = KVResultError(status.Error(codes.InvalidArgument, "ns: batch operation has no op set"))
			continue
		}
		it, err := k.item(req)
		if err != nil {
			out[i] = KVResultError(err)
			continue
		}
		items = append(items, it)
		pos = append(pos, i)
	}
	if len(items) > 0 {
		for j, res := range k.s.process(ctx, items, false) {
			resp, err := kvResult(res)
			if err != nil {
				out[pos[j]] = KVResultError(err)
				continue
			}
			out[pos[j]] = KVResultFromResponse(ops[pos[j]], resp)
		}
	}
	return &nsv1.BatchResponse{Results: out}, nil
}
