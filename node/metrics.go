package node

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/internal/hotkeys"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// observer is a node's operability state: its private Prometheus registry,
// the gRPC metrics, the counters the request path bumps (client-visible
// errors, backpressure, handoff) and one hot-key sketch per worker.
//
// Everything the message path touches is an atomic counter on its own
// cache line or a worker-private sketch: no lock, no Prometheus call.
// Worker counters are read from worker.Stats at scrape time.
type observer struct {
	reg *prometheus.Registry

	// gRPC, off the worker path: Prometheus vectors.
	srvHandled  *prometheus.CounterVec   // grpc_service, grpc_method, grpc_code
	srvSeconds  *prometheus.HistogramVec // grpc_service, grpc_method
	srvMsgsRecv *prometheus.CounterVec   // grpc_service, grpc_method
	srvMsgsSent *prometheus.CounterVec   // grpc_service, grpc_method
	cliHandled  *prometheus.CounterVec   // grpc_service, grpc_method, grpc_code
	cliSeconds  *prometheus.HistogramVec // grpc_service, grpc_method

	// Handoff: written by the handoff code, per partition moved.
	handoffSeconds *prometheus.HistogramVec // direction
	handoffBytes   [2]paddedCounter         // by direction
	handoffs       [2][2]paddedCounter      // by direction, by result (ok, failed)

	// Client-visible results, counted once per request at the entry node.
	items     paddedCounter
	errByCode [numCodes]paddedCounter

	backpressure []paddedCounter // rejected envelopes' items, by worker

	leaseLapses   atomic.Uint64 // the serving lease lapsed (lease.go)
	tableFailures atomic.Uint64 // views ring.New refused (applyView)

	moving atomic.Pointer[movingSet] // partitions being handed off; nil = none

	// hot[w] belongs to worker w: only its goroutine touches it (Observe
	// in Handle, Top through Pool.Exec).
	hot []*hotkeys.Sketch
}

// numCodes is the number of gRPC codes (OK..Unauthenticated).
const numCodes = int(codes.Unauthenticated) + 1

// Hot-key sketch settings: 64 counters per worker, one item in 16 observed
// (weight 16), counts halved every hotKeyDecayAt observations so that the
// sketch follows the current load.
const (
	hotKeyCapacity    = 64
	hotKeySampleEvery = 16
	hotKeyDecayAt     = 1 << 20
)

// paddedCounter is an atomic counter alone on its cache line.
type paddedCounter struct {
	n atomic.Uint64
	_ [56]byte
}

func (c *paddedCounter) add(d uint64) { c.n.Add(d) }
func (c *paddedCounter) load() uint64 { return c.n.Load() }

// movingSet lists the partitions being handed to this node (incoming) and
// away from it (outgoing).
type movingSet struct {
	incoming, outgoing []int
}

// Handoff directions, the values of the "direction" label.
const (
	handoffIn  = 0
	handoffOut = 1
)

var directions = [2]string{"incoming", "outgoing"}

// obs returns the node's observer (set in New once the worker pool exists).
func (n *Node) obs() *observer { return n.observer }

func newObserver(n *Node) *observer {
	workers := 0
	if n.pool != nil {
		workers = n.pool.Size()
	}
	grpcLabels := []string{"grpc_service", "grpc_method"}
	grpcCodeLabels := []string{"grpc_service", "grpc_method", "grpc_code"}
	buckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	o := &observer{
		reg: prometheus.NewRegistry(),
		srvHandled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ns_grpc_server_handled_total",
			Help: "gRPC calls completed by this node's server, by method and status code."}, grpcCodeLabels),
		srvSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ns_grpc_server_handling_seconds",
			Help: "Duration of gRPC calls served by this node (whole stream for streams).", Buckets: buckets}, grpcLabels),
		srvMsgsRecv: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ns_grpc_server_msgs_received_total",
			Help: "Stream messages received by this node's server."}, grpcLabels),
		srvMsgsSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ns_grpc_server_msgs_sent_total",
			Help: "Stream messages sent by this node's server."}, grpcLabels),
		cliHandled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ns_grpc_client_handled_total",
			Help: "gRPC calls this node made to peers, by method and status code."}, grpcCodeLabels),
		cliSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ns_grpc_client_handling_seconds",
			Help: "Duration of gRPC calls this node made to peers.", Buckets: buckets}, grpcLabels),
		handoffSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ns_handoff_duration_seconds",
			Help:    "Duration of one partition's handoff, by direction.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60}}, []string{"direction"}),
		backpressure: make([]paddedCounter, workers),
		hot:          make([]*hotkeys.Sketch, workers),
	}
	for i := range o.hot {
		o.hot[i] = hotkeys.New(hotkeys.Config{Capacity: hotKeyCapacity, SampleEvery: hotKeySampleEvery})
	}
	o.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		(*collector)(n),
		o.srvHandled, o.srvSeconds, o.srvMsgsRecv, o.srvMsgsSent,
		o.cliHandled, o.cliSeconds, o.handoffSeconds,
	)
	return o
}

// Registry returns the node's private Prometheus registry (the one /metrics
// serves), to register an embedding program's own collectors.
func (n *Node) Registry() *prometheus.Registry { return n.obs().reg }

// ---- hooks for the request path and the partition protocols ----

// countResults counts the results a client will see: call it once per
// request at the entry node (not for forwarded items), after Dispatch.
// It costs one atomic add per request plus one per failed item.
func (n *Node) countResults(results []*nsv1.Result, forwarded bool) {
	if forwarded {
		return
	}
	o := n.obs()
	o.items.add(uint64(len(results)))
	for _, r := range results {
		if c := r.GetCode(); c != 0 {
			if c < 0 || int(c) >= numCodes {
				c = int32(codes.Unknown)
			}
			o.errByCode[c].add(1)
		}
	}
}

// noteBackpressure counts items refused because worker w's ring stayed
// full past the request deadline.
func (n *Node) noteBackpressure(w, items int) {
	o := n.obs()
	if w >= 0 && w < len(o.backpressure) {
		o.backpressure[w].add(uint64(items))
	}
}

// observeKeys feeds worker w's hot-key sketch with the keys of one
// envelope. It must run on worker w's goroutine (in Handle).
func (n *Node) observeKeys(w int, items []*nsv1.Item) {
	o := n.obs()
	if w < 0 || w >= len(o.hot) {
		return
	}
	sk := o.hot[w]
	for _, it := range items {
		sk.Observe(it.GetKey())
	}
	if sk.Total() > hotKeyDecayAt {
		sk.Decay()
	}
}

// noteHandoff records one partition handoff: incoming is true on the new
// owner, false on the old one; bytes is the snapshot size moved.
func (n *Node) noteHandoff(incoming bool, bytes int64, d time.Duration, err error) {
	o := n.obs()
	dir := handoffOut
	if incoming {
		dir = handoffIn
	}
	if bytes > 0 {
		o.handoffBytes[dir].add(uint64(bytes))
	}
	res := 0
	if err != nil {
		res = 1
	}
	o.handoffs[dir][res].add(1)
	o.handoffSeconds.WithLabelValues(directions[dir]).Observe(d.Seconds())
}

// setMoving publishes the partitions currently being handed to this node
// and away from it; the collector and the status page read them. The
// slices must not be modified afterwards.
func (n *Node) setMoving(incoming, outgoing []int) {
	if len(incoming) == 0 && len(outgoing) == 0 {
		n.obs().moving.Store(nil)
		return
	}
	n.obs().moving.Store(&movingSet{incoming: incoming, outgoing: outgoing})
}

func (n *Node) movingPartitions() (incoming, outgoing []int) {
	if m := n.obs().moving.Load(); m != nil {
		return m.incoming, m.outgoing
	}
	return nil, nil
}

// ---- hot keys ----

// HotKey is one of a node's most frequent keys, estimated by a per-worker
// space-saving sketch over sampled traffic.
type HotKey struct {
	// Key is the key, cut to 128 bytes when Truncated.
	Key []byte
	// Count estimates the key's recent messages (an upper bound; counts are
	// halved regularly, so older traffic weighs less).
	Count uint64
	// Error bounds the over-estimate: at least Count-Error is true.
	Error uint64
	// Truncated reports that Key was cut.
	Truncated bool
	// Worker is the local worker that owns the key's partition.
	Worker int
	// Partition is the key's partition (-1 when Truncated).
	Partition int
}

// HotKeys returns up to limit of the node's most frequent keys (limit <= 0
// means 20), read from each worker's sketch through its priority lane.
func (n *Node) HotKeys(ctx context.Context, limit int) ([]HotKey, error) {
	if limit <= 0 {
		limit = 20
	}
	o := n.obs()
	t := n.table.Load()
	var out []HotKey
	for w := range o.hot {
		var top []hotkeys.Entry
		err := n.exec(ctx, w, func(*shard) { top = o.hot[w].Top(limit) })
		if err != nil {
			return nil, err
		}
		for _, e := range top {
			p := -1
			if !e.Truncated {
				p = t.PartitionOf(e.Key)
			}
			out = append(out, HotKey{Key: e.Key, Count: e.Count, Error: e.Error, Truncated: e.Truncated, Worker: w, Partition: p})
		}
	}
	// Keys live on one worker each: merging is sorting.
	sortHotKeys(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func sortHotKeys(ks []HotKey) {
	// insertion sort is fine for a few hundred entries; keep stdlib-free of
	// a comparator closure allocation.
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && (ks[j].Count > ks[j-1].Count ||
			ks[j].Count == ks[j-1].Count && string(ks[j].Key) < string(ks[j-1].Key)); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
}

// ---- gRPC interceptors ----

func splitMethod(full string) (svc, method string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

// grpcServerOptions returns the interceptors that measure every call this
// node serves. Pass them to transport.NewServer (ServerConfig.Options).
func (n *Node) grpcServerOptions() []grpc.ServerOption {
	o := n.obs()
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(o.unaryServer),
		grpc.ChainStreamInterceptor(o.streamServer),
	}
}

// grpcDialOptions returns the interceptors that measure every call this
// node makes to peers. Pass them to grpc.NewClient in peers.get.
func (n *Node) grpcDialOptions() []grpc.DialOption {
	o := n.obs()
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(o.unaryClient),
		grpc.WithChainStreamInterceptor(o.streamClient),
	}
}

func (o *observer) unaryServer(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	svc, m := splitMethod(info.FullMethod)
	o.srvHandled.WithLabelValues(svc, m, status.Code(err).String()).Inc()
	o.srvSeconds.WithLabelValues(svc, m).Observe(time.Since(start).Seconds())
	return resp, err
}

func (o *observer) streamServer(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	start := time.Now()
	svc, m := splitMethod(info.FullMethod)
	ws := &countingServerStream{ServerStream: ss, recv: o.srvMsgsRecv.WithLabelValues(svc, m), sent: o.srvMsgsSent.WithLabelValues(svc, m)}
	err := handler(srv, ws)
	o.srvHandled.WithLabelValues(svc, m, status.Code(err).String()).Inc()
	o.srvSeconds.WithLabelValues(svc, m).Observe(time.Since(start).Seconds())
	return err
}

// countingServerStream counts messages; its counters are resolved once per
// stream, so a message costs one atomic add.
type countingServerStream struct {
	grpc.ServerStream
	recv, sent prometheus.Counter
}

func (s *countingServerStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		s.recv.Inc()
	}
	return err
}

func (s *countingServerStream) SendMsg(m any) error {
	err := s.ServerStream.SendMsg(m)
	if err == nil {
		s.sent.Inc()
	}
	return err
}

func (o *observer) unaryClient(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	start := time.Now()
	err := invoker(ctx, method, req, reply, cc, opts...)
	svc, m := splitMethod(method)
	o.cliHandled.WithLabelValues(svc, m, status.Code(err).String()).Inc()
	o.cliSeconds.WithLabelValues(svc, m).Observe(time.Since(start).Seconds())
	return err
}

// streamClient counts a client stream as handled when it is set up
// (failed) or when its first receive returns an error or io.EOF.
func (o *observer) streamClient(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	start := time.Now()
	svc, m := splitMethod(method)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		o.cliHandled.WithLabelValues(svc, m, status.Code(err).String()).Inc()
		o.cliSeconds.WithLabelValues(svc, m).Observe(time.Since(start).Seconds())
		return nil, err
	}
	return &countingClientStream{ClientStream: cs, o: o, svc: svc, method: m, start: start}, nil
}

type countingClientStream struct {
	grpc.ClientStream
	o           *observer
	svc, method string
	start       time.Time
	once        sync.Once
}

func (s *countingClientStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.once.Do(func() {
			code := status.Code(err)
			if errors.Is(err, io.EOF) {
				code = codes.OK
			}
			s.o.cliHandled.WithLabelValues(s.svc, s.method, code.String()).Inc()
			s.o.cliSeconds.WithLabelValues(s.svc, s.method).Observe(time.Since(s.start).Seconds())
		})
	}
	return err
}

// ---- the scrape-time collector ----
