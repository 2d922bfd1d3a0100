package transport

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/wire"
)

// tableBackend is a Cluster whose table the test sets.
type tableBackend struct {
	stubBackend
	table atomic.Pointer[ring.Table]
	mu    sync.Mutex
	subs  []chan struct{}
}

func (b *tableBackend) Table() *ring.Table { return b.table.Load() }
func (b *tableBackend) WatchTable() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs = append(b.subs, ch)
	b.mu.Unlock()
	return ch, func() {}
}
func (b *tableBackend) set(t *ring.Table) {
	b.table.Store(t)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func joinTables(t *testing.T, n int) (a, b *ring.Table) {
	t.Helper()
	cfg := ring.DefaultConfig()
	cfg.Backups = 1
	var ms []ring.Member
	for i := range n + 1 {
		ms = append(ms, ring.Member{ID: fmt.Sprintf("n%d", i), Addr: fmt.Sprintf("127.0.0.1:%d", 7000+i)})
	}
	a, err := ring.New(cfg, 1, ms[:n])
	if err != nil {
		t.Fatal(err)
	}
	if b, err = ring.New(cfg, 2, ms); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// TestWatchTableDiffs: a watch that accepts diffs gets the whole table
// first, then each change as a diff against it; one that does not gets
// whole tables.
func TestWatchTableDiffs(t *testing.T) {
	a, b := joinTables(t, 8)
	be := &tableBackend{}
	be.table.Store(a)
	addr := serve(t, ServerConfig{Cluster: be})
	cc := dial(t, addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	for _, diffs := range []bool{true, false} {
		t.Run(fmt.Sprintf("accept_diffs=%v", diffs), func(t *testing.T) {
			be.set(a)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := nsv1.NewClusterServiceClient(cc).WatchTable(ctx, &nsv1.WatchTableRequest{AcceptDiffs: diffs})
			if err != nil {
				t.Fatal(err)
			}
			first, err := s.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if first.GetTable() == nil || first.GetDiff() != nil {
				t.Fatalf("first message: table %v, diff %v; want the whole table", first.GetTable() != nil, first.GetDiff() != nil)
			}
			base, err := wire.TableFromProto(first.GetTable())
			if err != nil {
				t.Fatal(err)
			}
			be.set(b)
			next, err := s.Recv()
			if err != nil {
				t.Fatal(err)
			}
			var got *ring.Table
			if diffs {
				if next.GetDiff() == nil || next.GetTable() != nil {
					t.Fatal("a join sent whole to a watch that accepts diffs")
				}
				got, err = wire.ApplyTableDiff(base, next.GetDiff())
			} else {
				if next.GetDiff() != nil {
					t.Fatal("a diff sent to a watch that did not ask for them")
				}
				got, err = wire.TableFromProto(next.GetTable())
			}
			if err != nil || got.Hash() != b.Hash() || got.Epoch() != b.Epoch() {
				t.Fatalf("second table: %v (hash %x, want %x)", err, got.Hash(), b.Hash())
			}
		})
	}
}
