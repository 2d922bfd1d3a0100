package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"

	"github.com/nothingshared/ns/internal/clustertest"
	"github.com/nothingshared/ns/node"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// scrape fetches and parses a node's /metrics.
func scrape(t *testing.T, n *node.Node) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + n.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics: %s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value sums the family's samples whose labels include want (counter,
// gauge, or a summary/histogram's count).
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	var sum float64
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Summary != nil:
			sum += float64(m.GetSummary().GetSampleCount())
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

func TestMetricsFamiliesAndCounters(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 1})
	n := c.Nodes[0]
	fams := scrape(t, n)
	for _, name := range []string{
		"ns_node_info", "ns_node_ready", "ns_cluster_joined", "ns_cluster_members", "ns_cluster_health_score",
		"ns_table_epoch", "ns_table_members", "ns_table_partitions", "ns_table_stale", "ns_table_build_failures_total",
		"ns_partitions_owned", "ns_partitions_backup",
		"ns_partitions_moving", "ns_handoff_bytes_total", "ns_handoffs_total", "ns_forwarded_items_total",
		"ns_client_items_total", "ns_client_errors_total",
		"ns_worker_messages_enqueued_total", "ns_worker_messages_processed_total", "ns_worker_errors_total",
		"ns_worker_dropped_total", "ns_worker_panics_total", "ns_worker_restarts_total", "ns_worker_batches_total",
		"ns_worker_queue_depth", "ns_worker_running", "ns_worker_circuit_open",
		"ns_worker_backpressure_rejected_items_total", "ns_worker_handler_latency_seconds", "ns_worker_batch_size",
		"go_goroutines", "process_cpu_seconds_total",
	} {
		if fams[name] == nil {
			t.Errorf("family %s missing", name)
		}
	}
	if got := value(fams, "ns_worker_handler_latency_seconds"); got < 0 {
		t.Fatal("no latency summary")
	}
	if fams["ns_worker_handler_latency_seconds"].GetType() != dto.MetricType_SUMMARY {
		t.Errorf("latency is a %v, want a summary", fams["ns_worker_handler_latency_seconds"].GetType())
	}
	if fams["ns_worker_batch_size"].GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("batch size is a %v, want a histogram", fams["ns_worker_batch_size"].GetType())
	}
	if v := value(fams, "ns_node_ready"); v != 1 {
		t.Errorf("ns_node_ready = %v, want 1", v)
	}
	if v := value(fams, "ns_cluster_members", "state", "alive"); v != 1 {
		t.Errorf("alive members = %v, want 1", v)
	}
	if v := value(fams, "ns_partitions_owned"); v != value(fams, "ns_table_partitions") || v <= 0 {
		t.Errorf("a lone node owns %v of %v partitions", v, value(fams, "ns_table_partitions"))
	}
	before := value(fams, "ns_worker_messages_processed_total")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kvc := nsv1.NewKVServiceClient(c.Dial(0))
	for i := 0; i < 50; i++ {
		if _, err := kvc.Incr(ctx, &nsv1.IncrRequest{Key: []byte(fmt.Sprint("k", i%5)), Delta: 1}); err != nil {
			t.Fatal(err)
		}
	}
	fams = scrape(t, n)
	after := value(fams, "ns_worker_messages_processed_total")
	if after-before < 50 {
		t.Errorf("processed moved %v -> %v after 50 calls", before, after)
	}
	if v := value(fams, "ns_worker_handler_latency_seconds"); v < 50 {
		t.Errorf("latency count %v after 50 calls", v)
	}
	if v := value(fams, "ns_worker_batches_total"); v < 1 {
		t.Errorf("batches = %v", v)
	}
}

// TestMetricsHooks drives the hooks the request path and handoff call and
// checks that /metrics and /api/status show them.
func TestMetricsHooks(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 1})
	n := c.Nodes[0]
	node.CountResultsForTest(n, []*nsv1.Result{{}, {Code: int32(codes.NotFound)}, {Code: int32(codes.ResourceExhausted)}, {Code: 99}}, false)
	node.CountResultsForTest(n, []*nsv1.Result{{Code: int32(codes.NotFound)}}, true) // forwarded: not client-visible here
	node.NoteBackpressureForTest(n, 1, 7)
	node.NoteHandoffForTest(n, true, 1000, 20*time.Millisecond, nil)
	node.NoteHandoffForTest(n, false, 500, time.Second, errors.New("peer gone"))
	node.SetMovingForTest(n, []int{1, 2}, []int{3})

	fams := scrape(t, n)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"ns_client_items_total", nil, 4},
		{"ns_client_errors_total", []string{"code", "NotFound"}, 1},
		{"ns_client_errors_total", []string{"code", "ResourceExhausted"}, 1},
		{"ns_client_errors_total", []string{"code", "Unknown"}, 1},
		{"ns_worker_backpressure_rejected_items_total", []string{"worker", "1"}, 7},
		{"ns_handoff_bytes_total", []string{"direction", "incoming"}, 1000},
		{"ns_handoff_bytes_total", []string{"direction", "outgoing"}, 500},
		{"ns_handoffs_total", []string{"direction", "incoming", "result", "ok"}, 1},
		{"ns_handoffs_total", []string{"direction", "outgoing", "result", "failed"}, 1},
		{"ns_handoff_duration_seconds", []string{"direction", "outgoing"}, 1},
		{"ns_partitions_moving", []string{"direction", "incoming"}, 2},
		{"ns_partitions_moving", []string{"direction", "outgoing"}, 1},
	} {
		t.Run(tc.name+strings.Join(tc.labels, "_"), func(t *testing.T) {
			if got := value(fams, tc.name, tc.labels...); got != tc.want {
				t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
			}
		})
	}

	var st struct {
		Moving struct{ Incoming, Outgoing []int }
		Errors map[string]int `json:"client_errors"`
	}
	getJSON(t, "http://"+n.HTTPAddr()+"/api/status", &st)
	if len(st.Moving.Incoming) != 2 || len(st.Moving.Outgoing) != 1 || st.Errors["NotFound"] != 1 {
		t.Errorf("/api/status moving %+v errors %v", st.Moving, st.Errors)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestHotKeys(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 1})
	n := c.Nodes[0]
	// Feed worker sketches through their own goroutines is the node's job
	// once wired; here the test stands in for worker 0 while no worker
	// reads its sketch.
	var items []*nsv1.Item
	for i := 0; i < 2000; i++ {
		k := fmt.Sprint("cold", i)
		if i%2 == 0 {
			k = "hot"
		}
		items = append(items, &nsv1.Item{Service: "kv", Key: []byte(k)})
	}
	node.ObserveKeysForTest(n, 0, items)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hk, err := n.HotKeys(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(hk) == 0 || string(hk[0].Key) != "hot" || hk[0].Count < 900 || hk[0].Partition != n.Table().PartitionOf([]byte("hot")) {
		t.Fatalf("hot keys = %+v", hk)
	}
	var resp struct {
		Keys []struct {
			Key   string
			Count uint64
		}
	}
	getJSON(t, "http://"+n.HTTPAddr()+"/api/hotkeys?limit=2", &resp)
	if len(resp.Keys) == 0 || resp.Keys[0].Key != "hot" || len(resp.Keys) > 2 {
		t.Fatalf("/api/hotkeys = %+v", resp)
	}
}

func TestAdminEndpoints(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 1})
	base := "http://" + c.Nodes[0].HTTPAddr()
	for _, tc := range []struct {
		path, contains string
		code           int
	}{
		{"/healthz", "ok", 200},
		{"/readyz", "ok", 200},
		{"/", "<svg id=\"ring\"", 200},
		{"/api/status", "\"table\"", 200},
		{"/api/hotkeys?limit=0", "limit", 400},
		{"/debug/pprof/", "goroutine", 200},
		{"/nope", "", 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.contains) {
				t.Fatalf("%s: %d %q", tc.path, resp.StatusCode, b[:min(len(b), 200)])
			}
		})
	}
}

// TestGrafanaDashboardMetricsExist keeps deploy/grafana/ns-dashboard.json
// in step with /metrics: every ns_ name it queries is served.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "ns-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	c := clustertest.Start(t, clustertest.Config{Nodes: 1})
	fams := scrape(t, c.Nodes[0])
	names := regexp.MustCompile(`\bns_[a-z_]+`).FindAllString(string(b), -1)
	if len(names) < 10 {
		t.Fatalf("only %d metric names found in the dashboard", len(names))
	}
	for _, name := range names {
		base := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if _, ok := fams[base]; !ok && strings.HasSuffix(base, suf) {
				base = strings.TrimSuffix(base, suf)
			}
		}
		if _, ok := fams[base]; !ok && base != "ns_handoff_duration_seconds" && !strings.HasPrefix(base, "ns_grpc_") {
			t.Errorf("dashboard queries %s, not served", name)
		}
	}
}

// TestTableTooManyMembers: a member beyond --partitions cannot be given a
// partition. The table is kept (the first node stays ready, saying why), the
// newcomer is not ready, and both tell the flag to raise.
func TestTableTooManyMembers(t *testing.T) {
	one := func(_ int, cfg *node.Config) { cfg.Ring.Partitions = 1 }
	c := clustertest.Start(t, clustertest.Config{Nodes: 1, Modify: one})
	first := c.Nodes[0]
	kept := first.Table()

	cfg := clustertest.NodeConfig(t, 1)
	one(1, &cfg)
	cfg.Cluster.Join = []string{first.GossipAddr()}
	second, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = second.Shutdown(ctx)
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		ready, why := first.Ready()
		_, why2 := second.Ready()
		if ready && strings.Contains(why, "--partitions") && strings.Contains(why2, "--partitions") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reason given: first ready=%v %q; second %q", ready, why, why2)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ready, _ := second.Ready(); ready {
		t.Fatal("a node without partitions is ready")
	}
	if got := first.Table(); got.Hash() != kept.Hash() || len(got.Members()) != 1 {
		t.Fatalf("table changed to %v", got)
	}
	fams := scrape(t, first)
	if v := value(fams, "ns_table_stale"); v != 1 {
		t.Errorf("ns_table_stale = %v, want 1", v)
	}
	if v := value(fams, "ns_table_build_failures_total"); v < 1 {
		t.Errorf("ns_table_build_failures_total = %v, want >= 1", v)
	}
}

// TestPlacementMismatch: a node of another placement version is refused by
// the cluster and, though its seed answered, does not start a cluster of its
// own after the join timeout: it stays not ready and says why.
func TestPlacementMismatch(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 1})
	first := c.Nodes[0]

	cfg := clustertest.NodeConfig(t, 1)
	cfg.Ring.Placement = 1
	cfg.JoinTimeout = 300 * time.Millisecond
	cfg.Cluster.Join = []string{first.GossipAddr()}
	other, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = other.Shutdown(ctx)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, why := other.Ready()
		if strings.Contains(why, "--placement") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no placement reason: %q", why)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2 * cfg.JoinTimeout)
	if ready, why := other.Ready(); ready || other.Table().Epoch() != 0 {
		t.Fatalf("refused node formed a cluster: ready %v %q, table %v", ready, why, other.Table())
	}
	if got := first.Table(); len(got.Members()) != 1 {
		t.Fatalf("first node's table took the refused node: %v", got)
	}
}
