package node

import (
	"io"
	"time"

	"github.com/nothingshared/ns/kv"
)

// Service is a keyed service a node hosts: a factory of per-partition state.
// A partition's state is created on the worker that owns the partition and is
// only ever touched by that worker, one message at a time.
type Service interface {
	// Name is the name clients address the service by (Item.service).
	Name() string
	// NewPartition creates the state of one partition.
	NewPartition(partition int) Partition
}

// Partition is one partition's state of one service. Its methods are called
// by a single worker goroutine; they need no locks and must not block.
type Partition interface {
	// Handle processes one message and returns the reply. now is the time
	// the worker started the batch. A returned error travels to the caller
	// as a gRPC status (see transport's error table).
	Handle(now time.Time, payload []byte) ([]byte, error)
}

// Snapshotter is implemented by partitions whose state can be moved to
// another node (handoff) or written to disk.
type Snapshotter interface {
	Snapshot(w io.Writer) error
	Restore(r io.Reader) error
}

// Sizer is implemented by partitions that can count their keys.
type Sizer interface {
	Len() int
}

// Expirer is implemented by partitions with time-based expiry; the node
// calls ExpireSome periodically on the owning worker with a bound on work.
type Expirer interface {
	ExpireSome(now time.Time, max int) int
}

// ReadOnlyClassifier is implemented by partitions that can tell reads from
// writes. A node replicates only writes to backups and refuses only writes on
// the minority side of a network partition; without it every message counts
// as a write.
type ReadOnlyClassifier interface {
	ReadOnly(payload []byte) bool
}

// ServiceFunc adapts a name and a factory function into a Service.
type ServiceFunc struct {
	ServiceName string
	New         func(partition int) Partition
}

// Name implements Service.
func (f ServiceFunc) Name() string { return f.ServiceName }

// NewPartition implements Service.
func (f ServiceFunc) NewPartition(p int) Partition { return f.New(p) }

// KVService returns the built-in key-value/counter service ("kv").
// A node gives it the node's memory budget (Config.MaxMemory; memory.go).
func KVService() Service { return kvService{} }

var (
	_ Service            = ServiceFunc{}
	_ Partition          = (*kv.Store)(nil)
	_ Snapshotter        = (*kv.Store)(nil)
	_ Sizer              = (*kv.Store)(nil)
	_ Expirer            = (*kv.Store)(nil)
	_ ReadOnlyClassifier = (*kv.Store)(nil)
)
