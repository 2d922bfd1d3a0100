package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"sigs.k8s.io/yaml"
)

// The views below are what nsctl prints: plain data, filled from the wire
// by the commands and rendered by the functions here, so that golden tests
// can feed them fixed data.

// memberView is one row of `nsctl members`.
type memberView struct {
	ID               string `json:"id"`
	GossipAddr       string `json:"gossip_addr"`
	GRPCAddr         string `json:"grpc_addr"`
	State            string `json:"state"`
	Zone             string `json:"zone"`
	PartitionsOwned  uint32 `json:"partitions_owned"`
	PartitionsBackup uint32 `json:"partitions_backup"`
	Workers          uint32 `json:"workers"`
	Version          string `json:"version"`
}

// partitionView is one row of `nsctl partitions`. Keys is nil while nodes
// do not report per-partition key counts.
type partitionView struct {
	Partition int      `json:"partition"`
	Owner     string   `json:"owner"`
	OwnerAddr string   `json:"owner_addr"`
	Backups   []string `json:"backups"`
	Epoch     uint64   `json:"epoch"`
	State     string   `json:"state"`
	Keys      *uint64  `json:"keys"`
}

// locateView is the answer of `nsctl locate`. Worker is -1 when the owner's
// worker count is unknown.
type locateView struct {
	Key       string `json:"key"`
	Partition int    `json:"partition"`
	Owner     string `json:"owner"`
	OwnerAddr string `json:"owner_addr"`
	Worker    int    `json:"worker"`
	Workers   int    `json:"workers"`
	Epoch     uint64 `json:"epoch"`
}

// getView is the answer of `nsctl get`.
type getView struct {
	Key         string `json:"key"`
	Value       string `json:"value,omitempty"` // when valid UTF-8
	ValueBase64 string `json:"value_base64"`
	TTLMs       int64  `json:"ttl_ms"`
	raw         []byte
}

func newGetView(key string, value []byte, ttlMs int64) getView {
	v := getView{Key: key, ValueBase64: base64.StdEncoding.EncodeToString(value), TTLMs: ttlMs, raw: value}
	if utf8.Valid(value) {
		v.Value = string(value)
	}
	return v
}

// workerStatsView is one worker of `nsctl stats`. Rate is nil outside
// --watch (it needs two samples).
type workerStatsView struct {
	ID          uint32   `json:"id"`
	Processed   uint64   `json:"processed"`
	Rate        *float64 `json:"rate"`
	QueueDepth  uint64   `json:"queue_depth"`
	P50Us       float64  `json:"p50_us"`
	P99Us       float64  `json:"p99_us"`
	P999Us      float64  `json:"p999_us"`
	Panics      uint64   `json:"panics"`
	Restarts    uint64   `json:"restarts"`
	Enqueued    uint64   `json:"enqueued"`
	Dropped     uint64   `json:"dropped"`
	Batches     uint64   `json:"batches"`
	Partitions  uint32   `json:"partitions"`
	CircuitOpen bool     `json:"circuit_open"`
}

// nodeStatsView is one node of `nsctl stats`: totals and its workers, or
// the error that kept nsctl from reading it.
type nodeStatsView struct {
	Node            string            `json:"node"`
	Addr            string            `json:"addr"`
	Version         string            `json:"version,omitempty"`
	UptimeSeconds   float64           `json:"uptime_seconds"`
	TableEpoch      uint64            `json:"table_epoch"`
	PartitionsOwned uint32            `json:"partitions_owned"`
	Keys            uint64            `json:"keys"`
	Forwarded       uint64            `json:"forwarded"`
	Processed       uint64            `json:"processed"`
	Rate            *float64          `json:"rate"`
	QueueDepth      uint64            `json:"queue_depth"`
	P99Us           float64           `json:"p99_us"`
	Panics          uint64            `json:"panics"`
	Workers         []workerStatsView `json:"workers"`
	Error           string            `json:"error,omitempty"`
}

// healthView is one node of `nsctl health`.
type healthView struct {
	Node   string `json:"node"`
	Addr   string `json:"addr"`
	Status string `json:"status"`
	Ready  bool   `json:"ready"`
	Error  string `json:"error,omitempty"`
}

// versionView is the answer of `nsctl version`.
type versionView struct {
	Client  string              `json:"client"`
	Servers []serverVersionView `json:"servers"`
}

type serverVersionView struct {
	Node    string `json:"node"`
	Addr    string `json:"addr"`
	Version string `json:"version"`
}

// render writes v as JSON or YAML, or calls table for the table formats.
func render(w io.Writer, format string, v any, table func(tw *tabwriter.Writer, wide bool)) error {
	switch format {
	case outJSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	case outYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	default:
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		table(tw, format == outWide)
		return tw.Flush()
	}
}

// row writes tab-separated cells and a newline.
func row(w io.Writer, cells ...any) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(w, "\t")
		}
		fmt.Fprint(w, c)
	}
	io.WriteString(w, "\n")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func renderMembers(w io.Writer, format string, ms []memberView) error {
	if ms == nil {
		ms = []memberView{}
	}
	return render(w, format, ms, func(tw *tabwriter.Writer, wide bool) {
		row(tw, "ID", "GOSSIP", "GRPC", "STATE", "ZONE", "OWNED", "BACKUPS", "WORKERS", "VERSION")
		for _, m := range ms {
			row(tw, m.ID, m.GossipAddr, m.GRPCAddr, m.State, dash(m.Zone), m.PartitionsOwned, m.PartitionsBackup, m.Workers, dash(m.Version))
		}
	})
}

func renderPartitions(w io.Writer, format string, ps []partitionView) error {
	if ps == nil {
		ps = []partitionView{}
	}
	for i := range ps {
		if ps[i].Backups == nil {
			ps[i].Backups = []string{}
		}
	}
	return render(w, format, ps, func(tw *tabwriter.Writer, wide bool) {
		if wide {
			row(tw, "PARTITION", "OWNER", "OWNER-ADDR", "BACKUPS", "EPOCH", "STATE", "KEYS")
		} else {
			row(tw, "PARTITION", "OWNER", "BACKUPS", "EPOCH", "STATE", "KEYS")
		}
		for _, p := range ps {
			keys := "-"
			if p.Keys != nil {
				keys = strconv.FormatUint(*p.Keys, 10)
			}
			backups := dash(strings.Join(p.Backups, ","))
			if wide {
				row(tw, p.Partition, p.Owner, p.OwnerAddr, backups, p.Epoch, p.State, keys)
			} else {
				row(tw, p.Partition, p.Owner, backups, p.Epoch, p.State, keys)
			}
		}
	})
}

func renderLocate(w io.Writer, format string, l locateView) error {
	return render(w, format, l, func(tw *tabwriter.Writer, wide bool) {
		worker := "-"
		if l.Worker >= 0 {
			worker = strconv.Itoa(l.Worker)
		}
		if wide {
			row(tw, "KEY", "PARTITION", "OWNER", "OWNER-ADDR", "WORKER", "WORKERS", "EPOCH")
			row(tw, l.Key, l.Partition, l.Owner, l.OwnerAddr, worker, l.Workers, l.Epoch)
			return
		}
		row(tw, "KEY", "PARTITION", "OWNER", "WORKER")
		row(tw, l.Key, l.Partition, l.Owner, worker)
	})
}

// renderGet prints the value itself (and a newline) as a table, so that
// `nsctl get k` is scriptable; -o wide shows key, quoted value and TTL.
func renderGet(w io.Writer, format string, g getView) error {
	if format == outTable {
		if _, err := w.Write(g.raw); err != nil {
			return err
		}
		_, err := io.WriteString(w, "\n")
		return err
	}
	return render(w, format, g, func(tw *tabwriter.Writer, _ bool) {
		ttl := "-"
		if g.TTLMs > 0 {
			ttl = strconv.FormatInt(g.TTLMs, 10) + "ms"
		}
		row(tw, "KEY", "VALUE", "TTL")
		row(tw, g.Key, strconv.Quote(string(g.raw)), ttl)
	})
}

func fmtRate(r *float64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatFloat(*r, 'f', 0, 64)
}

func fmtUs(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func renderStats(w io.Writer, format string, ns []nodeStatsView) error {
	if ns == nil {
		ns = []nodeStatsView{}
	}
	for i := range ns {
		if ns[i].Workers == nil {
			ns[i].Workers = []workerStatsView{}
		}
	}
	return render(w, format, ns, func(tw *tabwriter.Writer, wide bool) {
		if wide {
			row(tw, "NODE", "WORKER", "PROCESSED", "RATE/S", "QUEUE", "P50(us)", "P99(us)", "P999(us)", "PANICS",
				"RESTARTS", "ENQUEUED", "DROPPED", "PARTITIONS", "KEYS")
		} else {
			row(tw, "NODE", "WORKER", "PROCESSED", "RATE/S", "QUEUE", "P99(us)", "PANICS")
		}
		for _, n := range ns {
			if n.Error != "" {
				row(tw, n.Node, "*", "error: "+n.Error)
				continue
			}
			if wide {
				row(tw, n.Node, "*", n.Processed, fmtRate(n.Rate), n.QueueDepth, "-", fmtUs(n.P99Us), "-", n.Panics,
					"-", "-", "-", n.PartitionsOwned, n.Keys)
			} else {
				row(tw, n.Node, "*", n.Processed, fmtRate(n.Rate), n.QueueDepth, fmtUs(n.P99Us), n.Panics)
			}
			for _, s := range n.Workers {
				if wide {
					row(tw, n.Node, s.ID, s.Processed, fmtRate(s.Rate), s.QueueDepth, fmtUs(s.P50Us), fmtUs(s.P99Us), fmtUs(s.P999Us),
						s.Panics, s.Restarts, s.Enqueued, s.Dropped, s.Partitions, "-")
				} else {
					row(tw, n.Node, s.ID, s.Processed, fmtRate(s.Rate), s.QueueDepth, fmtUs(s.P99Us), s.Panics)
				}
			}
		}
	})
}

func renderHealth(w io.Writer, format string, hs []healthView) error {
	if hs == nil {
		hs = []healthView{}
	}
	return render(w, format, hs, func(tw *tabwriter.Writer, wide bool) {
		row(tw, "NODE", "ADDR", "STATUS", "READY", "ERROR")
		for _, h := range hs {
			ready := "no"
			if h.Ready {
				ready = "yes"
			}
			row(tw, h.Node, h.Addr, h.Status, ready, dash(h.Error))
		}
	})
}

func renderVersion(w io.Writer, format string, v versionView) error {
	if v.Servers == nil {
		v.Servers = []serverVersionView{}
	}
	return render(w, format, v, func(tw *tabwriter.Writer, wide bool) {
		row(tw, "COMPONENT", "ADDR", "VERSION")
		row(tw, "nsctl", "-", v.Client)
		for _, s := range v.Servers {
			row(tw, "nsnode "+s.Node, s.Addr, dash(s.Version))
		}
	})
}
