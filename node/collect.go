package node

import (
	"math"
	"strconv"
	"time"

	"github.com/nothingshared/ns/cluster"
	"github.com/nothingshared/ns/worker"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

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
	e := emitter{ch}
	n.collectNode(e)
	n.collectTable(e)
	n.collectWAL(e)
	n.collectWorkers(e)
}

// emitter sends constant metrics to a Collect channel.
type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) gauge(d *prometheus.Desc, v float64, l ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
}

func (e emitter) counter(d *prometheus.Desc, v uint64, l ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
}

// collectNode: identity, readiness, the lease, membership, RESP.
func (n *Node) collectNode(e emitter) {
	o, gauge, counter := n.obs(), e.gauge, e.counter

	gauge(descInfo, 1, n.cfg.NodeID, n.cfg.Version)
	n.collectMemory(e.ch)
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
}

// collectTable: the table, partitions moving, items and client errors.
func (n *Node) collectTable(e emitter) {
	o, gauge, counter := n.obs(), e.gauge, e.counter
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
}

// collectWAL: the data directory's logs, per worker.
func (n *Node) collectWAL(e emitter) {
	gauge, counter, ch := e.gauge, e.counter, e.ch
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
}

// collectWorkers: the worker pool's counters, latency and batch sizes.
func (n *Node) collectWorkers(e emitter) {
	o, gauge, counter, ch := n.obs(), e.gauge, e.counter, e.ch
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
