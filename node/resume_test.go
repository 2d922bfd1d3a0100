package node_test

// Scenario tests for issue 13 (acknowledged writes undone, stale reads after
// a pause), in process over real loopback sockets. A pause is approximated
// by stalling a node's workers (BlockWorkersForTest); e2e/fault_resume_test.go
// does the same with SIGSTOP on real processes.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/internal/clustertest"
	"github.com/nothingshared/ns/kv"
	"github.com/nothingshared/ns/node"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/transport"
)

// ownerAndBackup returns the indexes in c.Nodes of key's owner and first
// backup.
func ownerAndBackup(t *testing.T, c *clustertest.Cluster, key []byte) (int, int) {
	t.Helper()
	tb := c.Nodes[0].Table()
	p := tb.PartitionOf(key)
	idx := func(id string) int {
		for i, n := range c.Nodes {
			if n.ID() == id {
				return i
			}
		}
		t.Fatalf("no node %s", id)
		return -1
	}
	backups := tb.BackupsOf(p)
	if len(backups) == 0 {
		t.Fatalf("partition %d has no backup", p)
	}
	return idx(tb.Owner(p).ID), idx(backups[0].ID)
}

func backupCluster(t *testing.T) *clustertest.Cluster {
	return clustertest.Start(t, clustertest.Config{Nodes: 3, Modify: func(_ int, cfg *node.Config) {
		cfg.Ring.Backups = 1
	}})
}

func mustPut(t *testing.T, kvc nsv1.KVServiceClient, key []byte, v string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kvc.Put(ctx, &nsv1.PutRequest{Key: key, Value: []byte(v)}); err != nil {
		t.Fatalf("put %s=%s: %v", key, v, err)
	}
}

func mustGet(t *testing.T, kvc nsv1.KVServiceClient, key []byte) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := kvc.Get(ctx, &nsv1.GetRequest{Key: key})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return string(r.GetValue())
}

// TestRepullKeepsNewerOwnCopy (issue 13, anomaly 1: 48 acknowledged writes
// undone). A backup's refusal makes the owner pull its partition again; the
// pull used to drop the owner's own copy, so the newest copy it found
// elsewhere won even when it was older: here a backup that missed the last
// writes. The owner's copy must compete: newest wins.
func TestRepullKeepsNewerOwnCopy(t *testing.T) {
	c := backupCluster(t)
	key := []byte("repulled")
	o, b := ownerAndBackup(t, c, key)
	kvc := nsv1.NewKVServiceClient(c.Dial(o))
	for i := 1; i <= 3; i++ {
		mustPut(t, kvc, key, fmt.Sprint("v", i))
	}
	old := node.ReplicaSnapshotForTest(c.Nodes[b], key)
	if old == nil {
		t.Fatal("the backup holds no copy")
	}
	for i := 4; i <= 6; i++ {
		mustPut(t, kvc, key, fmt.Sprint("v", i))
	}
	if err := node.RestoreReplicaForTest(c.Nodes[b], key, old); err != nil {
		t.Fatal(err)
	}
	if !node.RepullForTest(c.Nodes[o], key) {
		t.Fatal("the owner did not serve the partition again within 10s")
	}
	if got := mustGet(t, kvc, key); got != "v6" {
		t.Fatalf("after the pull, %s = %q, want v6: the owner installed an older copy than its own", key, got)
	}
}

// TestReadWaitsForReplication (issue 13, anomaly 1's "a get returned a value
// whose put had not been acknowledged"): while a write is not on its
// backup, a read on the owner must not return it (a crash of the owner
// would take it back); once the backup has it, the read does.
func TestReadWaitsForReplication(t *testing.T) {
	c := backupCluster(t)
	key := []byte("held")
	o, b := ownerAndBackup(t, c, key)
	kvc := nsv1.NewKVServiceClient(c.Dial(o))
	mustPut(t, kvc, key, "acked")
	release := node.BlockWorkersForTest(c.Nodes[b])
	defer release()

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err := kvc.Put(ctx, &nsv1.PutRequest{Key: key, Value: []byte("pending")})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("put while the backup is stalled: %v, want DeadlineExceeded (not acknowledged)", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	r, err := kvc.Get(ctx, &nsv1.GetRequest{Key: key})
	cancel()
	if err == nil {
		t.Fatalf("get while the write is not on the backup returned %q, want it to wait (DeadlineExceeded)", r.GetValue())
	}
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("get while the write is not on the backup: %v, want DeadlineExceeded", err)
	}
	release()
	if got := mustGet(t, kvc, key); got != "pending" {
		t.Fatalf("once the backup has the write, get = %q, want pending", got)
	}
}

// TestExpiredItemNotApplied (issue 13: a re-routed or long-queued item was
// applied after its caller gave up): an item whose caller's deadline has
// passed is answered DEADLINE_EXCEEDED and not applied.
func TestExpiredItemNotApplied(t *testing.T) {
	c := clustertest.Start(t, clustertest.Config{Nodes: 1})
	conn := c.Dial(0)
	key := []byte("late")
	payload, err := (&kv.Request{Op: kv.OpPut, Key: key, Value: []byte("x")}).AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := nsv1.NewNodeServiceClient(conn).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	late := time.Now().Add(-time.Second).UnixNano()
	if err := st.Send(&nsv1.StreamRequest{Id: 1, Items: []*nsv1.Item{{Service: transport.KVServiceName, Key: key, Payload: payload, RequestId: 7, DeadlineUnixNano: late}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got := codes.Code(resp.GetResults()[0].GetCode()); got != codes.DeadlineExceeded {
		t.Fatalf("item past its deadline: %v (%s), want DeadlineExceeded", got, resp.GetResults()[0].GetMessage())
	}
	_, err = nsv1.NewKVServiceClient(conn).Get(ctx, &nsv1.GetRequest{Key: key})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("get after the expired put: %v, want NotFound (never applied)", err)
	}
}

// TestOverlappingFetchesAckTheirOwn: two pulls of one partition from one
// holder that overlap (an owner pull and a replica pull across a table
// change) each acknowledge the copy they fetched, on the stream they
// fetched it on. The streams waiting for their ack were kept in one map
// per (holder, partition): the second replaced the first, the first pull's
// ack went down the second pull's stream while it still read from it (a
// data race, found by CI under -race in TestRepullKeepsNewerOwnCopy), and
// the first stream was never acknowledged (its holder kept waiting).
func TestOverlappingFetchesAckTheirOwn(t *testing.T) {
	c := backupCluster(t)
	key := []byte("fetched-twice")
	o, b := ownerAndBackup(t, c, key)
	kvc := nsv1.NewKVServiceClient(c.Dial(o))
	mustPut(t, kvc, key, "v")
	acks, err := node.FetchTwiceForTest(c.Nodes[b], c.Nodes[o], key)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range acks {
		if err != nil {
			t.Errorf("pull %d: %v", i, err)
		}
	}
}
