package node

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/transport"
)

// The node's memory budget (Config.MaxMemory, --max-memory).
//
// One kv.Limit is shared by every partition store of the built-in KV
// service on the node and by every partition's request-id dedup table: the
// copies it owns and its backup copies. It counts what those stores hold for
// data: their pages (keys, values, deadlines, room not yet compacted away),
// hash indexes and expiry heaps (kv.Store.Bytes); and an estimate of each
// dedup entry (at most 1,024 per partition copy: the id, the result and the
// write it keeps to re-replicate on a retry, dedup.go). It does not count
// other services' state, nor the Go runtime's own overhead.
//
// Only a client's write at the partition's owner is ever refused
// (ErrMemoryFull, RESOURCE_EXHAUSTED over gRPC, -OOM over RESP): backup
// copies, handoff installs and a write-ahead log replayed at restart apply
// whatever an owner accepted, even past the limit, so nothing acknowledged
// is ever dropped and no copy diverges (kv.Store.HandleReplay, Restore).
// A write that needs no new memory (an overwrite that fits its record, a
// delete, a write into room a page still has) succeeds at the limit, unless
// it carries a request id: its dedup entry needs memory too, reserved before
// the write runs (apply, dispatch.go), so a node full of dedup entries
// refuses writes as a node full of data does. A KV write that can only
// remove keys (delete, getdel, flush) is never refused for its entry: it is
// how room is made, as Redis lets DEL run at its maxmemory.

// OwnerHandler is implemented by partitions that may refuse a client's
// write for lack of memory. The node calls HandleOwner for a write a client
// sent to the partition's owner, and Handle for everything else (backup
// copies, a log replayed at restart), which must apply whatever the owner
// accepted. Like Handle it is called by one worker and must not block.
type OwnerHandler interface {
	HandleOwner(now time.Time, payload []byte) ([]byte, error)
}

// kvService is the built-in key-value/counter service. limit (nil: none) is
// the node's memory budget, shared by all its partitions' stores.
type kvService struct{ limit *kv.Limit }

// Name implements Service.
func (kvService) Name() string { return transport.KVServiceName }

// NewPartition implements Service.
func (s kvService) NewPartition(int) Partition {
	cfg := kv.DefaultConfig()
	cfg.Limit = s.limit
	st, err := kv.New(cfg)
	if err != nil {
		panic(err) // the default config is valid
	}
	return &kvPartition{Store: st}
}

// kvPartition is a kv.Store as a node partition. Its Handle is the replay
// form, never refused for memory; HandleOwner may refuse. Only the worker
// that owns the partition calls it.
type kvPartition struct {
	*kv.Store
	// out is the chunk the owner's responses are carved from, so that an
	// item allocates nothing of its own (the GET profile at -P 16 spent 4%
	// of the node's CPU allocating them one by one). The request-id dedup
	// table keeps a copy of a write's response (dedup.put), never the
	// response itself, so no chunk outlives the results carved from it.
	out []byte
}

// Sizes of kvPartition.out: a new chunk of respChunk bytes is taken when
// fewer than respChunkMin are left; a response that does not fit the rest
// gets its own allocation.
const (
	respChunk    = 4 << 10
	respChunkMin = 256
)

// Handle implements Partition for backup copies and replay.
func (p *kvPartition) Handle(now time.Time, payload []byte) ([]byte, error) {
	return p.Store.HandleReplay(now, payload)
}

// HandleOwner implements OwnerHandler.
func (p *kvPartition) HandleOwner(now time.Time, payload []byte) ([]byte, error) {
	return (*kvOwner)(p).Handle(now, payload)
}

// kvOwner is a kvPartition seen by its owner: Handle may refuse. It is one
// pointer, so making it a Partition allocates nothing.
type kvOwner kvPartition

// Handle runs a client's request on the owner: a write may be refused for
// lack of memory; the response is carved from p.out, capped at its length
// (nothing can append into the next one) and never reused.
func (p *kvOwner) Handle(now time.Time, payload []byte) ([]byte, error) {
	if cap(p.out)-len(p.out) < respChunkMin {
		p.out = make([]byte, 0, respChunk)
	}
	dst := p.out[len(p.out):len(p.out)]
	out, err := p.Store.HandleAppend(dst, now, payload)
	if err != nil {
		return nil, err
	}
	if cap(out) == cap(dst) { // it fit: carved from the chunk
		p.out = p.out[:len(p.out)+len(out)]
	}
	return out[:len(out):len(out)], nil
}

// ownerPartition adapts any other OwnerHandler.
type ownerPartition struct {
	Partition
	o OwnerHandler
}

func (p ownerPartition) Handle(now time.Time, payload []byte) ([]byte, error) {
	return p.o.HandleOwner(now, payload)
}

var (
	_ Service            = kvService{}
	_ OwnerHandler       = (*kvPartition)(nil)
	_ Snapshotter        = (*kvPartition)(nil)
	_ Sizer              = (*kvPartition)(nil)
	_ Expirer            = (*kvPartition)(nil)
	_ ReadOnlyClassifier = (*kvPartition)(nil)
	_ Partition          = (*kvOwner)(nil)
)

// withMemoryLimit returns svcs with every built-in KV service given limit.
// The caller's slice is not modified.
func withMemoryLimit(svcs []Service, limit *kv.Limit) []Service {
	out := slices.Clone(svcs)
	for i, s := range out {
		if _, ok := s.(kvService); ok {
			out[i] = kvService{limit: limit}
		}
	}
	return out
}

// handleOwner runs a client's write or read on the partition it owns: the
// only call that may be refused for lack of memory. A refusal names the
// limit and the node's usage.
func (h *handler) handleOwner(st Partition, w int, p int32, it *nsv1.Item, now time.Time) ([]byte, error) {
	switch o := st.(type) {
	case *kvPartition:
		st = (*kvOwner)(o)
	case OwnerHandler:
		st = ownerPartition{st, o}
	}
	out, err := h.safeHandle(st, w, p, it, now)
	if err != nil && errors.Is(err, kv.ErrMemoryFull) {
		h.n.memRefused.Add(1)
		err = h.n.memoryFullError(err)
	}
	return out, err
}

// memoryFullError explains a write refused for lack of memory. Without
// --max-memory the refusal is a partition's own bound (kv's page count or
// record size), which the error already names.
func (n *Node) memoryFullError(err error) error {
	if n.mem.Max() <= 0 {
		return fmt.Errorf("%w (node %s has no --max-memory)", err, n.cfg.NodeID)
	}
	return fmt.Errorf("%w: node %s holds %d bytes of data and request-id entries, its --max-memory is %d (owned and backup copies count; backups are never refused): delete keys or raise the limit",
		err, n.cfg.NodeID, n.mem.Used(), n.mem.Max())
}

// MemoryUsed returns the bytes the node's KV stores and request-id dedup
// tables hold (owned and backup copies) and its --max-memory (0: no limit).
func (n *Node) MemoryUsed() (used, max int64) { return n.mem.Used(), n.mem.Max() }

var (
	descMemUsed    = desc("ns_memory_used_bytes", "Bytes the node's KV stores and request-id dedup tables hold, owned and backup copies (pages, indexes, expiry heaps, dedup entries; what --max-memory counts).")
	descMemMax     = desc("ns_memory_max_bytes", "The node's --max-memory in bytes; 0 means no limit.")
	descMemRefused = desc("ns_memory_refused_writes_total", "Client writes refused because the node reached --max-memory.")
	memDescs       = []*prometheus.Desc{descMemUsed, descMemMax, descMemRefused}
)

// collectMemory sends the memory metrics.
func (n *Node) collectMemory(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descMemUsed, prometheus.GaugeValue, float64(n.mem.Used()))
	ch <- prometheus.MustNewConstMetric(descMemMax, prometheus.GaugeValue, float64(max(n.mem.Max(), 0)))
	ch <- prometheus.MustNewConstMetric(descMemRefused, prometheus.CounterValue, float64(n.memRefused.Load()))
}
