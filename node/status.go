package node

import (
	"context"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
)

//go:embed ui/index.html
var statusPage []byte

func (n *Node) serveStatusPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(statusPage)
}

// statusJSON is what /api/status serves and the status page draws.
type statusJSON struct {
	Node        string           `json:"node"`
	Version     string           `json:"version"`
	Time        int64            `json:"time_ms"` // server clock, unix ms: rates are deltas over it
	Uptime      float64          `json:"uptime_seconds"`
	Ready       bool             `json:"ready"`
	ReadyReason string           `json:"ready_reason"`
	Joined      bool             `json:"joined"`
	Health      int              `json:"health_score"`
	Table       tableJSON        `json:"table"`
	Members     []memberJSON     `json:"members"`
	Workers     []workerJSON     `json:"workers"`
	Moving      movingJSON       `json:"moving"`
	Forwarded   uint64           `json:"forwarded_items"`
	Items       uint64           `json:"client_items"`
	Errors      map[string]int64 `json:"client_errors"`
	HotKeys     []hotKeyJSON     `json:"hot_keys"`
}

type tableJSON struct {
	Epoch      uint64   `json:"epoch"`
	Hash       string   `json:"hash"`
	Partitions int      `json:"partitions"`
	Backups    int      `json:"backups"`
	Members    []string `json:"members"` // ids, indexed by Owners
	Owners     []int    `json:"owners"`  // member index per partition
}

type memberJSON struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	GRPC    string `json:"grpc_addr"`
	Gossip  string `json:"gossip_addr"`
	Zone    string `json:"zone"`
	Version string `json:"version"`
	Workers uint32 `json:"workers"`
	Owned   uint32 `json:"partitions_owned"`
	Backup  uint32 `json:"partitions_backup"`
}

type workerJSON struct {
	ID           int     `json:"id"`
	Enqueued     uint64  `json:"enqueued"`
	Processed    uint64  `json:"processed"`
	Errors       uint64  `json:"errors"`
	Panics       uint64  `json:"panics"`
	Restarts     uint64  `json:"restarts"`
	Batches      uint64  `json:"batches"`
	QueueDepth   int     `json:"queue_depth"`
	Running      bool    `json:"running"`
	CircuitOpen  bool    `json:"circuit_open"`
	Backpressure uint64  `json:"backpressure_items"`
	P50us        float64 `json:"p50_us"`
	P99us        float64 `json:"p99_us"`
	P999us       float64 `json:"p999_us"`
}

type movingJSON struct {
	Incoming []int `json:"incoming"`
	Outgoing []int `json:"outgoing"`
}

type hotKeyJSON struct {
	Key       string `json:"key"` // UTF-8 text, or "0x" + hex for binary keys
	Count     uint64 `json:"count"`
	Error     uint64 `json:"error"`
	Truncated bool   `json:"truncated,omitempty"`
	Worker    int    `json:"worker"`
	Partition int    `json:"partition"`
}

func printableKey(k []byte) string {
	if utf8.Valid(k) && !strings.ContainsFunc(string(k), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return string(k)
	}
	return "0x" + hex.EncodeToString(k)
}

func hotKeysJSON(ks []HotKey) []hotKeyJSON {
	out := make([]hotKeyJSON, len(ks))
	for i, k := range ks {
		out[i] = hotKeyJSON{Key: printableKey(k.Key), Count: k.Count, Error: k.Error, Truncated: k.Truncated, Worker: k.Worker, Partition: k.Partition}
	}
	return out
}

// Status returns the data of the status page: the node, its view of the
// table and the members, and its workers' counters.
func (n *Node) status(ctx context.Context) statusJSON {
	o := n.obs()
	t := n.table.Load()
	ready, why := n.Ready()
	st := statusJSON{
		Node:        n.cfg.NodeID,
		Version:     n.cfg.Version,
		Time:        time.Now().UnixMilli(),
		Ready:       ready,
		ReadyReason: why,
		Joined:      n.members.Joined(),
		Forwarded:   n.forwarded.Load(),
		Items:       o.items.load(),
		Errors:      map[string]int64{},
	}
	if !n.started.IsZero() {
		st.Uptime = time.Since(n.started).Seconds()
	}
	if !n.leaving.Load() {
		st.Health = n.members.HealthScore()
	}
	tm := t.Members()
	st.Table = tableJSON{
		Epoch:      t.Epoch(),
		Hash:       fmt.Sprintf("%016x", t.Hash()),
		Partitions: t.Partitions(),
		Backups:    t.BackupCount(),
		Members:    make([]string, len(tm)),
		Owners:     t.Owners(),
	}
	for i, m := range tm {
		st.Table.Members[i] = m.ID
	}
	for _, m := range (*backend)(n).Members() {
		st.Members = append(st.Members, memberJSON{
			ID:      m.GetId(),
			State:   strings.ToLower(strings.TrimPrefix(m.GetState().String(), "MEMBER_STATE_")),
			GRPC:    m.GetGrpcAddr(),
			Gossip:  m.GetGossipAddr(),
			Zone:    m.GetZone(),
			Version: m.GetVersion(),
			Workers: m.GetWorkers(),
			Owned:   m.GetPartitionsOwned(),
			Backup:  m.GetPartitionsBackup(),
		})
	}
	for _, s := range n.pool.Stats() {
		wj := workerJSON{
			ID: s.Worker, Enqueued: s.Enqueued, Processed: s.Processed, Errors: s.Errors, Panics: s.Panics,
			Restarts: s.Restarts, Batches: s.Batches, QueueDepth: s.QueueDepth, Running: s.Running,
			CircuitOpen: s.CircuitOpen,
			P50us:       float64(s.Latency.P50) / 1e3, P99us: float64(s.Latency.P99) / 1e3, P999us: float64(s.Latency.P999) / 1e3,
		}
		if s.Worker < len(o.backpressure) {
			wj.Backpressure = o.backpressure[s.Worker].load()
		}
		st.Workers = append(st.Workers, wj)
	}
	in, out := n.movingPartitions()
	st.Moving = movingJSON{Incoming: nonNil(in), Outgoing: nonNil(out)}
	for code := 1; code < numCodes; code++ {
		if v := o.errByCode[code].load(); v > 0 {
			st.Errors[codes.Code(code).String()] = int64(v)
		}
	}
	if hk, err := n.HotKeys(ctx, 10); err == nil {
		st.HotKeys = hotKeysJSON(hk)
	}
	if st.HotKeys == nil {
		st.HotKeys = []hotKeyJSON{}
	}
	return st
}

func nonNil(s []int) []int {
	if s == nil {
		return []int{}
	}
	return s
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

func (n *Node) serveStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 500*time.Millisecond)
	defer cancel()
	writeJSON(w, n.status(ctx))
}

func (n *Node) serveHotKeys(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if s := r.URL.Query().Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 || v > 1000 {
			http.Error(w, "limit must be an integer in [1, 1000]", http.StatusBadRequest)
			return
		}
		limit = v
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	hk, err := n.HotKeys(ctx, limit)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, map[string]any{"node": n.cfg.NodeID, "sample_every": hotKeySampleEvery, "keys": hotKeysJSON(hk)})
}
