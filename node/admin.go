package node

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminHandler serves /healthz, /readyz, /metrics and /debug/pprof.
func (n *Node) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ok, why := n.Ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, why)
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}), (*collector)(n))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if !n.cfg.DisablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// collector reads the workers' counters at scrape time: the message path
// never touches Prometheus.
type collector Node

var (
	descProcessed = prometheus.NewDesc("ns_worker_messages_processed_total", "Messages handled by a worker.", []string{"worker"}, nil)
	descEnqueued  = prometheus.NewDesc("ns_worker_messages_enqueued_total", "Messages accepted into a worker's ring.", []string{"worker"}, nil)
	descPanics    = prometheus.NewDesc("ns_worker_panics_total", "Handler panics.", []string{"worker"}, nil)
	descDepth     = prometheus.NewDesc("ns_worker_queue_depth", "Messages waiting in a worker's ring.", []string{"worker"}, nil)
	descEpoch     = prometheus.NewDesc("ns_table_epoch", "Epoch of the node's partition table.", nil, nil)
	descMembers   = prometheus.NewDesc("ns_table_members", "Members in the node's partition table.", nil, nil)
	descOwned     = prometheus.NewDesc("ns_partitions_owned", "Partitions this node owns.", nil, nil)
	descForwarded = prometheus.NewDesc("ns_forwarded_items_total", "Items forwarded to their owner.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descProcessed, descEnqueued, descPanics, descDepth, descEpoch, descMembers, descOwned, descForwarded} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	n := (*Node)(c)
	for _, s := range n.pool.Stats() {
		w := strconv.Itoa(s.Worker)
		ch <- prometheus.MustNewConstMetric(descProcessed, prometheus.CounterValue, float64(s.Processed), w)
		ch <- prometheus.MustNewConstMetric(descEnqueued, prometheus.CounterValue, float64(s.Enqueued), w)
		ch <- prometheus.MustNewConstMetric(descPanics, prometheus.CounterValue, float64(s.Panics), w)
		ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(s.QueueDepth), w)
	}
	t := n.table.Load()
	ch <- prometheus.MustNewConstMetric(descEpoch, prometheus.GaugeValue, float64(t.Epoch()))
	ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(len(t.Members())))
	ch <- prometheus.MustNewConstMetric(descOwned, prometheus.GaugeValue, float64(len(t.Owned(n.cfg.NodeID))))
	ch <- prometheus.MustNewConstMetric(descForwarded, prometheus.CounterValue, float64(n.forwarded.Load()))
}
