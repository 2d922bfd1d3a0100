package node_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/nothingshared/ns/internal/clustertest"
	"github.com/nothingshared/ns/node"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/wal"
)

// startDurable starts node i of a test cluster with its data in dirs[i],
// joining join (if any).
func startDurable(t *testing.T, i int, dir string, join []string, modify func(*node.Config)) *node.Node {
	t.Helper()
	cfg := clustertest.NodeConfig(t, i)
	cfg.DataDir = dir
	cfg.Fsync = wal.ModeBatch
	cfg.Cluster.Join = join
	cfg.JoinTimeout = 5 * time.Second
	if modify != nil {
		modify(&cfg)
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("node %d: %v", i, err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatalf("node %d start: %v", i, err)
	}
	t.Cleanup(n.Abort)
	return n
}

func dialNode(t *testing.T, n *node.Node) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(n.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func waitReady(t *testing.T, timeout time.Duration, nodes ...*node.Node) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := ""
		for _, n := range nodes {
			if ok, reason := n.Ready(); !ok {
				why = n.ID() + " not ready: " + reason
			} else if len(n.Table().Members()) != len(nodes) || n.Table().Hash() != nodes[0].Table().Hash() {
				why = fmt.Sprintf("%s has a table of %d members (epoch %d)", n.ID(), len(n.Table().Members()), n.Table().Epoch())
			}
		}
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes not ready with one table after %v: %s", timeout, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func incrAll(t *testing.T, kvc nsv1.KVServiceClient, counters, times int) {
	t.Helper()
	ctx := context.Background()
	for r := 0; r < times; r++ {
		for i := 0; i < counters; i++ {
			if _, err := kvc.Incr(ctx, &nsv1.IncrRequest{Key: []byte(fmt.Sprint("ctr", i)), Delta: 1}); err != nil {
				t.Fatalf("incr ctr%d: %v", i, err)
			}
		}
	}
}

func checkCounters(t *testing.T, kvc nsv1.KVServiceClient, counters int, want int64) {
	t.Helper()
	for i := 0; i < counters; i++ {
		resp, err := kvc.Incr(context.Background(), &nsv1.IncrRequest{Key: []byte(fmt.Sprint("ctr", i)), Delta: 0})
		if err != nil {
			t.Fatalf("read ctr%d: %v", i, err)
		}
		if resp.GetValue() != want {
			t.Fatalf("ctr%d = %d, want %d", i, resp.GetValue(), want)
		}
	}
}

// TestRestartRecoversData: a one-node cluster with a data directory loses
// nothing it acknowledged when it crashes (Abort: no leave, no flush beyond
// what each batch synced), also when it comes back with another number of
// workers (partitions move between the workers' logs).
func TestRestartRecoversData(t *testing.T) {
	dir := t.TempDir()
	const keys, counters = 400, 20
	n := startDurable(t, 0, dir, nil, nil)
	waitReady(t, 10*time.Second, n)
	kvc := nsv1.NewKVServiceClient(dialNode(t, n))
	putKeys(t, kvc, keys)
	incrAll(t, kvc, counters, 3)
	epoch := n.Table().Epoch()
	n.Abort()

	for round, workers := range []int{2, 3, 1} {
		n = startDurable(t, 0, dir, nil, func(c *node.Config) { c.Worker.Workers = workers })
		waitReady(t, 10*time.Second, n)
		if e := n.Table().Epoch(); e <= epoch {
			t.Fatalf("round %d: table epoch %d after restart, want above %d (the epoch before)", round, e, epoch)
		}
		epoch = n.Table().Epoch()
		kvc = nsv1.NewKVServiceClient(dialNode(t, n))
		checkKeys(t, kvc, keys, fmt.Sprintf("restart %d (%d workers)", round, workers))
		checkCounters(t, kvc, counters, int64(3+round))
		incrAll(t, kvc, counters, 1)
		n.Abort()
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, ","); got != "node.json,w0" {
		t.Fatalf("data dir holds %s after a restart with one worker, want node.json,w0", got)
	}
}

// TestDataDirBelongsToOneNode: another node id on the same directory is a
// configuration error, and two processes on one directory are refused.
func TestDataDirBelongsToOneNode(t *testing.T) {
	dir := t.TempDir()
	n := startDurable(t, 0, dir, nil, nil)
	cfg := clustertest.NodeConfig(t, 0)
	cfg.DataDir = dir
	if _, err := node.New(cfg); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second node on a directory in use: err = %v, want 'in use'", err)
	}
	n.Abort()
	cfg = clustertest.NodeConfig(t, 1)
	cfg.DataDir = dir
	if _, err := node.New(cfg); !errors.Is(err, node.ErrInvalidConfig) || !strings.Contains(err.Error(), `"n1"`) {
		t.Fatalf("node n2 on n1's directory: err = %v, want ErrInvalidConfig naming n1", err)
	}
}

// TestClusterRestartRecoversAll: every node of a three-node cluster crashes
// at once; restarted from their data directories (one at a time, so early
// nodes see partial clusters), they lose nothing acknowledged. Partitions of
// a member not back yet are not started empty meanwhile, and a lone node
// refuses writes (it is a minority of the last agreed members).
func TestClusterRestartRecoversAll(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	const keys, counters = 600, 30
	var nodes []*node.Node
	for i := range 3 {
		var join []string
		if i > 0 {
			join = []string{nodes[0].GossipAddr()}
		}
		nodes = append(nodes, startDurable(t, i, dirs[i], join, nil))
	}
	waitReady(t, 20*time.Second, nodes...)
	kvc := nsv1.NewKVServiceClient(dialNode(t, nodes[1]))
	putKeys(t, kvc, keys)
	incrAll(t, kvc, counters, 2)
	for _, n := range nodes {
		n.Abort()
	}

	first := startDurable(t, 0, dirs[0], nil, nil)
	kvc = nsv1.NewKVServiceClient(dialNode(t, first))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := kvc.Put(ctx, &nsv1.PutRequest{Key: []byte("alone"), Value: []byte("x")})
	cancel()
	if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
		t.Fatalf("write to a lone restarted node of three: %v, want Unavailable (minority) or a timeout (partition waiting)", err)
	}
	if ok, why := first.Ready(); ok || !strings.Contains(why, "previous run") && !strings.Contains(why, "incoming") {
		t.Fatalf("lone restarted node: ready=%v (%s), want not ready while its peers are missing", ok, why)
	}
	nodes = []*node.Node{first}
	for i := 1; i < 3; i++ {
		nodes = append(nodes, startDurable(t, i, dirs[i], []string{first.GossipAddr()}, nil))
	}
	waitReady(t, 30*time.Second, nodes...)
	for i, n := range nodes {
		kvc := nsv1.NewKVServiceClient(dialNode(t, n))
		checkKeys(t, kvc, keys, fmt.Sprintf("n%d after the cluster restart", i+1))
	}
	checkCounters(t, nsv1.NewKVServiceClient(dialNode(t, nodes[2])), counters, 2)
}

// TestDiskFull: on a small tmpfs the log runs out of space. Writes then
// fail with Unavailable naming the log, the node reports not ready, nothing
// acknowledged is lost, and writes resume once space returns.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: TestDiskFull mounts a tmpfs and needs root (CI runs as root)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	n := startDurable(t, 0, data, nil, func(c *node.Config) { c.WALSegmentBytes = 64 << 10 })
	waitReady(t, 10*time.Second, n)
	kvc := nsv1.NewKVServiceClient(dialNode(t, n))
	ctx := context.Background()
	value := make([]byte, 2048)
	acked := 0
	var failure error
	for i := 0; i < 2000; i++ {
		_, err := kvc.Put(ctx, &nsv1.PutRequest{Key: []byte(fmt.Sprint("k", i)), Value: value})
		if err != nil {
			failure = err
			break
		}
		acked++
	}
	if failure == nil {
		t.Fatal("2000 writes of 2 KiB fit in a 2 MiB file system with a 1 MiB filler")
	}
	if status.Code(failure) != codes.Unavailable || !strings.Contains(failure.Error(), "write-ahead log") {
		t.Fatalf("write on a full disk: %v, want Unavailable naming the write-ahead log", failure)
	}
	if ok, why := n.Ready(); ok || !strings.Contains(why, "write-ahead log") {
		t.Fatalf("ready = %v (%s) on a full disk, want not ready naming the log", ok, why)
	}
	t.Logf("disk full after %d acknowledged writes: %v", acked, failure)
	for i := 0; i < acked; i++ {
		resp, err := kvc.Get(ctx, &nsv1.GetRequest{Key: []byte(fmt.Sprint("k", i))})
		if err != nil || len(resp.GetValue()) != len(value) {
			t.Fatalf("acknowledged k%d on a full disk: %v", i, err)
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "writes resume once space returns", func() bool {
		_, err := kvc.Put(ctx, &nsv1.PutRequest{Key: []byte("after"), Value: value})
		return err == nil
	})
	waitFor(t, 10*time.Second, "ready again", func() bool { ok, _ := n.Ready(); return ok })
	n.Abort()
	n = startDurable(t, 0, data, nil, func(c *node.Config) { c.WALSegmentBytes = 64 << 10 })
	waitReady(t, 10*time.Second, n)
	kvc = nsv1.NewKVServiceClient(dialNode(t, n))
	for i := 0; i < acked; i++ {
		if _, err := kvc.Get(ctx, &nsv1.GetRequest{Key: []byte(fmt.Sprint("k", i))}); err != nil {
			t.Fatalf("acknowledged k%d after the disk filled and the node restarted: %v", i, err)
		}
	}
	if _, err := kvc.Get(ctx, &nsv1.GetRequest{Key: []byte("after")}); err != nil {
		t.Fatalf("the write acknowledged after space returned: %v", err)
	}
}

// TestLogCompacts: under a stream of overwrites the workers snapshot the
// partitions that pin old segments, so the log stays small; the ns_wal_*
// metrics report it, and a restart recovers the last values.
func TestLogCompacts(t *testing.T) {
	defer node.SetSnapshotIntervalForTest(50 * time.Millisecond)()
	dir := t.TempDir()
	n := startDurable(t, 0, dir, nil, func(c *node.Config) { c.WALSegmentBytes = 16 << 10 })
	waitReady(t, 10*time.Second, n)
	kvc := nsv1.NewKVServiceClient(dialNode(t, n))
	ctx := context.Background()
	val := make([]byte, 1024)
	const rounds, keys = 40, 50
	for r := 0; r < rounds; r++ {
		for k := 0; k < keys; k++ {
			val[0] = byte(r)
			if _, err := kvc.Put(ctx, &nsv1.PutRequest{Key: []byte(fmt.Sprint("k", k)), Value: val}); err != nil {
				t.Fatal(err)
			}
		}
	}
	written := float64(rounds * keys * 1024)
	var segs, bytes, appends float64
	// The counters are published by each worker's periodic tick, which also
	// runs during the writes (the log is compacted all along): wait for one
	// that saw every append.
	waitFor(t, 10*time.Second, fmt.Sprintf("old segments deleted and %d appends counted", rounds*keys), func() bool {
		fams := scrape(t, n)
		segs, bytes = value(fams, "ns_wal_segments"), value(fams, "ns_wal_bytes")
		appends = value(fams, "ns_wal_appends_total")
		return bytes > 0 && bytes < written/4 && appends >= rounds*keys
	})
	fams := scrape(t, n)
	if s := value(fams, "ns_wal_syncs_total"); s <= 0 {
		t.Fatalf("ns_wal_syncs_total = %v, want > 0 in batch mode", s)
	}
	if f := value(fams, "ns_wal_failed"); f != 0 {
		t.Fatalf("ns_wal_failed = %v", f)
	}
	t.Logf("after %.0f KiB of writes the log holds %.0f segments, %.0f KiB", written/1024, segs, bytes/1024)
	n.Abort()
	n = startDurable(t, 0, dir, nil, func(c *node.Config) { c.WALSegmentBytes = 16 << 10 })
	waitReady(t, 10*time.Second, n)
	kvc = nsv1.NewKVServiceClient(dialNode(t, n))
	for k := 0; k < keys; k++ {
		resp, err := kvc.Get(ctx, &nsv1.GetRequest{Key: []byte(fmt.Sprint("k", k))})
		if err != nil || len(resp.GetValue()) != len(val) || resp.GetValue()[0] != rounds-1 {
			t.Fatalf("k%d after restart: %v (first byte %v), want the last round's value", k, err, resp.GetValue())
		}
	}
}

// TestRestartEachFsyncMode: in every durability mode a crash of the
// process (not of the machine) loses nothing acknowledged.
func TestRestartEachFsyncMode(t *testing.T) {
	for _, mode := range []wal.Mode{wal.ModeAlways, wal.ModeBatch, wal.ModeNever} {
		t.Run(mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			set := func(c *node.Config) { c.Fsync = mode }
			n := startDurable(t, 0, dir, nil, set)
			waitReady(t, 10*time.Second, n)
			putKeys(t, nsv1.NewKVServiceClient(dialNode(t, n)), 200)
			n.Abort()
			n = startDurable(t, 0, dir, nil, set)
			waitReady(t, 10*time.Second, n)
			checkKeys(t, nsv1.NewKVServiceClient(dialNode(t, n)), 200, "restart with --fsync "+mode.String())
		})
	}
}

// TestTornTailAtRestart: a crash in the middle of writing a batch leaves a
// half-written frame at the end of a worker's last segment. The node cuts
// it off at restart (it was never acknowledged) and keeps everything
// before it. (wal.TestTornTailEveryOffset cuts a record at every offset.)
func TestTornTailAtRestart(t *testing.T) {
	dir := t.TempDir()
	n := startDurable(t, 0, dir, nil, nil)
	waitReady(t, 10*time.Second, n)
	putKeys(t, nsv1.NewKVServiceClient(dialNode(t, n)), 300)
	n.Abort()
	torn := 0
	for _, w := range []string{"w0", "w1"} {
		segs, err := filepath.Glob(filepath.Join(dir, w, "*.wal"))
		if err != nil || len(segs) == 0 {
			t.Fatalf("no segment in %s: %v", w, err)
		}
		last := segs[len(segs)-1] // names are zero-padded hex: sorted by age
		f, err := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		// A frame header announcing 200 bytes, then only part of them.
		if _, err := f.Write([]byte{200, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		torn++
	}
	n = startDurable(t, 0, dir, nil, nil)
	waitReady(t, 10*time.Second, n)
	checkKeys(t, nsv1.NewKVServiceClient(dialNode(t, n)), 300, fmt.Sprintf("restart after %d torn tails", torn))
}

// TestRequestIDsSurviveRestart: a retried write (same request id) after a
// crash and restart takes effect once: the ids are in the log.
func TestRequestIDsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	n := startDurable(t, 0, dir, nil, nil)
	waitReady(t, 10*time.Second, n)
	kvc := nsv1.NewKVServiceClient(dialNode(t, n))
	ctx := context.Background()
	first, err := kvc.Incr(ctx, &nsv1.IncrRequest{Key: []byte("once"), Delta: 5, RequestId: 77})
	if err != nil {
		t.Fatal(err)
	}
	n.Abort()
	n = startDurable(t, 0, dir, nil, nil)
	waitReady(t, 10*time.Second, n)
	kvc = nsv1.NewKVServiceClient(dialNode(t, n))
	again, err := kvc.Incr(ctx, &nsv1.IncrRequest{Key: []byte("once"), Delta: 5, RequestId: 77})
	if err != nil {
		t.Fatal(err)
	}
	if first.GetValue() != 5 || again.GetValue() != 5 {
		t.Fatalf("incr by 5 with request id 77: %d, retried after a restart: %d; want 5 and 5 (applied once)", first.GetValue(), again.GetValue())
	}
	now, err := kvc.Incr(ctx, &nsv1.IncrRequest{Key: []byte("once"), Delta: 0})
	if err != nil || now.GetValue() != 5 {
		t.Fatalf("counter after the retry = %d (%v), want 5", now.GetValue(), err)
	}
}

// TestRecoveryWaitExpires: a node restarted from its data directory whose
// peer of the previous run never comes back waits for it, not ready, then
// after RecoveryWait serves with what it has (its own partitions intact).
func TestRecoveryWaitExpires(t *testing.T) {
	dirs := []string{t.TempDir(), t.TempDir()}
	n1 := startDurable(t, 0, dirs[0], nil, nil)
	n2 := startDurable(t, 1, dirs[1], []string{n1.GossipAddr()}, nil)
	waitReady(t, 20*time.Second, n1, n2)
	const keys = 300
	putKeys(t, nsv1.NewKVServiceClient(dialNode(t, n1)), keys)
	owned := map[int]bool{}
	for _, p := range n1.Table().Owned(n1.ID()) {
		owned[p] = true
	}
	n1.Abort()
	n2.Abort()

	const wait = 2 * time.Second
	began := time.Now()
	n1 = startDurable(t, 0, dirs[0], nil, func(c *node.Config) { c.RecoveryWait = wait })
	var why string
	for deadline := began.Add(wait); !strings.Contains(why, "members of the previous run to come back: [n2]"); {
		var ok bool
		if ok, why = n1.Ready(); ok {
			t.Fatalf("ready %v after the restart, before the recovery wait (%v) ran out", time.Since(began), wait)
		}
		if time.Now().After(deadline) {
			t.Fatalf("n1 never said it waits for n2; last: %s", why)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("while waiting: %s", why)
	waitReady(t, wait+10*time.Second, n1)
	if took := time.Since(began); took < wait {
		t.Fatalf("ready %v after the restart, before the recovery wait (%v) ran out", took, wait)
	}
	kvc := nsv1.NewKVServiceClient(dialNode(t, n1))
	found := 0
	for i := 0; i < keys; i++ {
		k := []byte(fmt.Sprint("k", i))
		_, err := kvc.Get(context.Background(), &nsv1.GetRequest{Key: k})
		if owned[n1.Table().PartitionOf(k)] {
			if err != nil {
				t.Fatalf("k%d, in a partition n1 owned before the crash: %v", i, err)
			}
			found++
		}
	}
	if found == 0 {
		t.Fatal("n1 owned none of the keys: the test checks nothing")
	}
}

// TestLogRecordLimitEdge: with a data directory, the largest key plus
// value must fit a log record with room for the rest of the write (4 KiB):
// exactly that much is accepted, one byte more is a configuration error
// naming the flags.
func TestLogRecordLimitEdge(t *testing.T) {
	cfg := clustertest.NodeConfig(t, 0)
	cfg.DataDir = t.TempDir()
	cfg.Limits.MaxKeyBytes = 1 << 10
	cfg.Limits.MaxValueBytes = wal.MaxPayload - 4<<10 - 1<<10
	n, err := node.New(cfg)
	if err != nil {
		t.Fatalf("largest value a log record holds: %v", err)
	}
	n.Abort()
	cfg.Limits.MaxValueBytes++
	if _, err := node.New(cfg); !errors.Is(err, node.ErrInvalidConfig) || !strings.Contains(err.Error(), "--max-value-bytes") {
		t.Fatalf("one byte more: err = %v, want ErrInvalidConfig naming --max-value-bytes", err)
	}
}

// TestOwnerAndBackupLostTogether (soak, 2026-12-07: a network partition cut
// a partition's owner and its only backup off together). The majority must
// not start that partition empty: that lost every write acknowledged on it,
// and later the minority's stale copy came back over the majority's
// writes. Here both holders crash (with data directories); the survivors
// keep the partition unserved instead of empty, and once the owner comes
// back from its data directory they take its copy.
func TestOwnerAndBackupLostTogether(t *testing.T) {
	const size = 5
	dirs := make([]string, size)
	var nodes []*node.Node
	backups := func(c *node.Config) {
		c.Ring.Backups = 1
		c.RecoveryWait = 2 * time.Second
	}
	for i := range size {
		dirs[i] = t.TempDir()
		var join []string
		if i > 0 {
			join = []string{nodes[0].GossipAddr()}
		}
		nodes = append(nodes, startDurable(t, i, dirs[i], join, backups))
	}
	waitReady(t, 30*time.Second, nodes...)
	// A key whose owner and backup are not node 0 (the seed).
	tb := nodes[0].Table()
	idx := map[string]int{}
	for i, n := range nodes {
		idx[n.ID()] = i
	}
	key, owner, backup := "", -1, -1
	for i := 0; i < 10000 && key == ""; i++ {
		k := fmt.Sprint("lost-together-", i)
		p := tb.PartitionOf([]byte(k))
		o, b := idx[tb.Owner(p).ID], idx[tb.BackupsOf(p)[0].ID]
		if o != 0 && b != 0 {
			key, owner, backup = k, o, b
		}
	}
	kvc := nsv1.NewKVServiceClient(dialNode(t, nodes[0]))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kvc.Put(ctx, &nsv1.PutRequest{Key: []byte(key), Value: []byte("acknowledged")}); err != nil {
		t.Fatal(err)
	}
	nodes[owner].Abort()
	nodes[backup].Abort()
	var rest []*node.Node
	for i, n := range nodes {
		if i != owner && i != backup {
			rest = append(rest, n)
		}
	}
	waitFor(t, 30*time.Second, "the three survivors agree on a table without the lost holders", func() bool {
		for _, n := range rest {
			if len(n.Table().Members()) != len(rest) || n.Table().Hash() != rest[0].Table().Hash() {
				return false
			}
		}
		return true
	})
	gctx, gcancel := context.WithTimeout(context.Background(), 2*time.Second)
	r, err := kvc.Get(gctx, &nsv1.GetRequest{Key: []byte(key)})
	gcancel()
	if err == nil || status.Code(err) == codes.NotFound {
		t.Fatalf("get %s while its owner and backup are gone = %q, %v; want no answer (Unavailable or a timeout), not a partition started empty", key, r.GetValue(), err)
	}
	back := startDurable(t, owner, dirs[owner], []string{nodes[0].GossipAddr()}, backups)
	rest = append(rest, back)
	waitFor(t, 60*time.Second, "the owner back in every table", func() bool {
		for _, n := range rest {
			if len(n.Table().Members()) != len(rest) || n.Table().Hash() != rest[0].Table().Hash() {
				return false
			}
		}
		return true
	})
	gctx, gcancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer gcancel()
	r, err = kvc.Get(gctx, &nsv1.GetRequest{Key: []byte(key)})
	if err != nil || string(r.GetValue()) != "acknowledged" {
		t.Fatalf("get %s after its owner came back = %q, %v; want %q", key, r.GetValue(), err, "acknowledged")
	}
}
