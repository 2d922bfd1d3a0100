package node

import (
	"context"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/cluster"
	"github.com/nothingshared/ns/internal/hotkeys"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/worker"
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

// collector reads the workers' counters, the table and the membership at
// scrape time: the message path never touches Prometheus.
type collector Node

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descInfo     = desc("ns_node_info", "Constant 1, labelled with the node's id and version.", "node_id", "version")
	descReady    = desc("ns_node_ready", "1 when the node is ready (/readyz answers 200), else 0.")
	descUptime   = desc("ns_node_uptime_seconds", "Seconds since the node started.")
	descJoined   = desc("ns_cluster_joined", "1 once the node has joined its cluster.")
	descMembersS = desc("ns_cluster_members", "Members this node knows, by state (alive, suspect, dead, left).", "state")
	descHealth   = desc("ns_cluster_health_score", "memberlist's gossip health score: 0 is healthy, higher is worse (e.g. a starved CPU).")

	descEpoch      = desc("ns_table_epoch", "Epoch of the node's partition table.")
	descTableMem   = desc("ns_table_members", "Members in the node's partition table.")
	descPartitions = desc("ns_table_partitions", "Partitions in the cluster (fixed for its life).")
	descTableStale = desc("ns_table_stale", "1 while the newest membership view has no partition table (e.g. more members than --partitions) and the previous table is kept, else 0.")
	descTableFails = desc("ns_table_build_failures_total", "Membership views that could not become a partition table (the reason is logged and shown by /readyz).")
	descOwned      = desc("ns_partitions_owned", "Partitions this node owns.")
	descBackup     = desc("ns_partitions_backup", "Partitions this node keeps a backup of.")
	descMoving     = desc("ns_partitions_moving", "Partitions being handed off to (incoming) or away from (outgoing) this node.", "direction")
	descHOBytes    = desc("ns_handoff_bytes_total", "Partition snapshot bytes moved by handoff, by direction.", "direction")
	descHandoffs   = desc("ns_handoffs_total", "Partition handoffs finished, by direction and result (ok, failed).", "direction", "result")
	descForwarded  = desc("ns_forwarded_items_total", "Items this node forwarded to their owner.")
	descItems      = desc("ns_client_items_total", "Items answered to clients by this node (entry node only; forwarded items count once, where they entered).")
	descClientErr  = desc("ns_client_errors_total", "Items answered to clients with an error, by gRPC code.", "code")
	descLease      = desc("ns_lease_valid", "1 while the node holds its serving lease (it heard from at least half of the last agreed members within the suspicion timeout), else 0: it serves nothing.")
	descLeaseLapse = desc("ns_lease_lapses_total", "Times the serving lease lapsed (a pause, a cut link, a starved process); every owned partition is verified afterwards.")

	descEnqueued  = desc("ns_worker_messages_enqueued_total", "Envelopes accepted into a worker's ring.", "worker")
	descProcessed = desc("ns_worker_messages_processed_total", "Envelopes a worker's handler finished.", "worker")
	descErrors    = desc("ns_worker_errors_total", "Handler calls that returned an error.", "worker")
	descDropped   = desc("ns_worker_dropped_total", "Envelopes never handled (discarded on stop or by an open circuit).", "worker")
	descPanics    = desc("ns_worker_panics_total", "Recovered panics in a worker.", "worker")
	descRestarts  = desc("ns_worker_restarts_total", "Worker re-initialisations after a panic.", "worker")
	descBatches   = desc("ns_worker_batches_total", "Batches a worker drained from its ring.", "worker")
	descDepth     = desc("ns_worker_queue_depth", "Envelopes waiting in a worker's ring.", "worker")
	descRunning   = desc("ns_worker_running", "1 when the worker serves messages.", "worker")
	descCircuit   = desc("ns_worker_circuit_open", "1 when the worker gave up restarting.", "worker")
	descBackpress = desc("ns_worker_backpressure_rejected_items_total", "Items refused (RESOURCE_EXHAUSTED) because the worker's ring stayed full past the deadline.", "worker")
	descLatency   = desc("ns_worker_handler_latency_seconds", "Handler time per envelope since start (quantiles are bucket upper bounds, within 12.5%; the sum is not tracked and reads NaN).", "worker")
	descBatchSize = desc("ns_worker_batch_size", "Envelopes per drained batch.", "worker")
)

var (
	descWALFailed    = desc("ns_wal_failed", "1 while the worker's write-ahead log has failed (disk full, I/O error): it acknowledges no write.", "worker")
	descWALAppends   = desc("ns_wal_appends_total", "Records appended to the worker's write-ahead log since the log was opened.", "worker")
	descWALSyncs     = desc("ns_wal_syncs_total", "fsyncs on the write path (group commits) since the log was opened.", "worker")
	descWALSyncSecs  = desc("ns_wal_sync_seconds_total", "Time spent in fsync on the write path since the log was opened.", "worker")
	descWALSnapshots = desc("ns_wal_snapshots_total", "Partition snapshots (and drops) written since the log was opened.", "worker")
	descWALSegments  = desc("ns_wal_segments", "Segment files the worker's log holds.", "worker")
	descWALBytes     = desc("ns_wal_bytes", "Bytes in the worker's log segments.", "worker")
	descRecovery     = desc("ns_wal_recovery_seconds", "Time the node took to recover its data directory at start.")
)

var (
	descRESPConns    = desc("ns_resp_connections", "Redis protocol connections open now.")
	descRESPAccepted = desc("ns_resp_connections_accepted_total", "Redis protocol connections accepted.")
	descRESPRejected = desc("ns_resp_connections_rejected_total", "Redis protocol connections refused over --resp-max-connections.")
	descRESPCommands = desc("ns_resp_commands_total", "Redis protocol commands processed.")
	descRESPBatches  = desc("ns_resp_batches_total", "Batches (pipelines) the Redis protocol commands were dispatched in.")
)

var respDescs = []*prometheus.Desc{descRESPConns, descRESPAccepted, descRESPRejected, descRESPCommands, descRESPBatches}

var walDescs = []*prometheus.Desc{descWALFailed, descWALAppends, descWALSyncs, descWALSyncSecs, descWALSnapshots, descWALSegments, descWALBytes, descRecovery}

var allDescs = []*prometheus.Desc{
	descInfo, descReady, descUptime, descJoined, descMembersS, descHealth,
	descEpoch, descTableMem, descPartitions, descTableStale, descTableFails, descOwned, descBackup, descMoving, descHOBytes, descHandoffs,
	descForwarded, descItems, descClientErr, descLease, descLeaseLapse,
	descEnqueued, descProcessed, descErrors, descDropped, descPanics, descRestarts, descBatches, descDepth,
	descRunning, descCircuit, descBackpress, descLatency, descBatchSize,
}

// batchSizeBounds are the upper bounds of worker.Stats.BatchSizes buckets
// but the last: bucket i holds [2^i, 2^(i+1)).
var batchSizeBounds = func() []float64 {
	b := make([]float64, worker.BatchBuckets-1)
	for i := range b {
		b[i] = float64(uint64(1)<<(i+1) - 1)
	}
	return b
}()

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
	for _, d := range memDescs {
		ch <- d
	}
	if (*Node)(c).dur != nil {
		for _, d := range walDescs {
			ch <- d
		}
	}
	if (*Node)(c).resp != nil {
		for _, d := range respDescs {
			ch <- d
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	n := (*Node)(c)
	o := n.obs()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}

	gauge(descInfo, 1, n.cfg.NodeID, n.cfg.Version)
	n.collectMemory(ch)
	if n.resp != nil {
		st := n.resp.Stats()
		gauge(descRESPConns, float64(st.Connections))
		counter(descRESPAccepted, st.Accepted)
		counter(descRESPRejected, st.Rejected)
		counter(descRESPCommands, st.Commands)
		counter(descRESPBatches, st.Batches)
	}
	ready, _ := n.Ready()
	gauge(descReady, b2f(ready))
	if !n.started.IsZero() {
		gauge(descUptime, time.Since(n.started).Seconds())
	}
	gauge(descJoined, b2f(n.members.Joined()))
	_, leased := n.lease.check(time.Now())
	gauge(descLease, b2f(leased))
	counter(descLeaseLapse, o.leaseLapses.Load())
	var byState [4]int
	for _, m := range n.members.Members() {
		if m.State >= 0 && int(m.State) < len(byState) {
			byState[m.State]++
		}
	}
	for s, k := range byState {
		gauge(descMembersS, float64(k), cluster.State(s).String())
	}
	if !n.leaving.Load() {
		gauge(descHealth, float64(n.members.HealthScore()))
	}

	t := n.table.Load()
	gauge(descEpoch, float64(t.Epoch()))
	gauge(descTableMem, float64(len(t.Members())))
	gauge(descPartitions, float64(t.Partitions()))
	gauge(descTableStale, b2f(n.tableErr.Load() != nil))
	counter(descTableFails, o.tableFailures.Load())
	gauge(descOwned, float64(len(t.Owned(n.cfg.NodeID))))
	gauge(descBackup, float64(len(t.BackedUp(n.cfg.NodeID))))
	in, out := n.movingPartitions()
	gauge(descMoving, float64(len(in)), directions[handoffIn])
	gauge(descMoving, float64(len(out)), directions[handoffOut])
	for d := range directions {
		counter(descHOBytes, o.handoffBytes[d].load(), directions[d])
		counter(descHandoffs, o.handoffs[d][0].load(), directions[d], "ok")
		counter(descHandoffs, o.handoffs[d][1].load(), directions[d], "failed")
	}
	counter(descForwarded, n.forwarded.Load())
	counter(descItems, o.items.load())
	for code := 1; code < numCodes; code++ {
		counter(descClientErr, o.errByCode[code].load(), codes.Code(code).String())
	}

	if d := n.dur; d != nil {
		gauge(descRecovery, d.took.Seconds())
		for w := range d.stats {
			st := d.stats[w].Load()
			if st == nil {
				continue
			}
			ws := strconv.Itoa(w)
			gauge(descWALFailed, b2f(st.Err != nil), ws)
			counter(descWALAppends, st.Appends, ws)
			counter(descWALSyncs, st.Syncs, ws)
			ch <- prometheus.MustNewConstMetric(descWALSyncSecs, prometheus.CounterValue, st.SyncTime.Seconds(), ws)
			counter(descWALSnapshots, st.Snapshots, ws)
			gauge(descWALSegments, float64(st.Segments), ws)
			gauge(descWALBytes, float64(st.Bytes), ws)
		}
	}

	for _, s := range n.pool.Stats() {
		w := strconv.Itoa(s.Worker)
		counter(descEnqueued, s.Enqueued, w)
		counter(descProcessed, s.Processed, w)
		counter(descErrors, s.Errors, w)
		counter(descDropped, s.Dropped, w)
		counter(descPanics, s.Panics, w)
		counter(descRestarts, s.Restarts, w)
		counter(descBatches, s.Batches, w)
		gauge(descDepth, float64(s.QueueDepth), w)
		gauge(descRunning, b2f(s.Running), w)
		gauge(descCircuit, b2f(s.CircuitOpen), w)
		var bp uint64
		if s.Worker < len(o.backpressure) {
			bp = o.backpressure[s.Worker].load()
		}
		counter(descBackpress, bp, w)
		l := s.Latency
		ch <- prometheus.MustNewConstSummary(descLatency, l.Count, math.NaN(), map[float64]float64{
			0.5: l.P50.Seconds(), 0.99: l.P99.Seconds(), 0.999: l.P999.Seconds(),
		}, w)
		cum := make(map[float64]uint64, len(batchSizeBounds))
		var acc uint64
		for i, ub := range batchSizeBounds {
			acc += s.BatchSizes[i]
			cum[ub] = acc
		}
		ch <- prometheus.MustNewConstHistogram(descBatchSize, s.Batches, float64(s.Processed), cum, w)
	}
}
