package e2e

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"

	"github.com/nothingshared/ns/internal/history"
)

// fastGossip are nsnode flags for a failure detector that declares a
// silent node dead within about a second on loopback.
var fastGossip = []string{"--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms",
	"--gossip-interval", "50ms", "--gossip-suspicion-mult", "2"}

// tableEpochs returns each node's table epoch and hash.
func tableEpochs(ctx context.Context, t *testing.T, ps []*proc) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range ps {
		tb, err := p.table(ctx)
		if err != nil {
			t.Fatalf("%s: table: %v", p.id, err)
		}
		out[p.id] = fmt.Sprintf("%d/%x", tb.GetEpoch(), tb.GetHash())
	}
	return out
}

// TestFaultPauseShort (issue 5, test 3a; issue 15): a node stopped
// (SIGSTOP) for 1s under load is not declared dead with nsnode's default
// failure detector (which declares a crashed node dead in about 2 s): no
// partition moves, every table keeps its epoch; nothing acknowledged is lost.
func TestFaultPauseShort(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: 3 nsnode processes, about 15s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fc := newFaultCluster(ctx, t, "--backups", "1")
	all := []string{"n1", "n2", "n3"}
	fc.startInSync(all...)
	c := newClient(ctx, t, fc.grpcAddrs())
	rec := history.NewRecorder()
	w := startWorkload(t, c, rec, workloadConfig{})
	from := rec.Now()
	phase(2 * time.Second)
	before := tableEpochs(ctx, t, fc.procs(all...))
	fc.nodes["n3"].pause()
	time.Sleep(pauseFor())
	fc.nodes["n3"].signal(syscall.SIGCONT)
	phase(5 * time.Second) // past the suspicion timeout (1.2 s with a confirmation, 7.2 s without, from the first failed probe)
	after := tableEpochs(ctx, t, fc.procs(all...))
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("a %v pause moved partitions: tables %v before, %v after", pauseFor(), before, after)
	}
	finish(t, fmt.Sprintf("sigstop %v backups=1", pauseFor()), w, c, from, true, fmt.Sprintf("tables_before=%v tables_after=%v", before, after))
}

// TestFaultPauseLong (issue 5, test 3b): a node stopped (SIGSTOP) past the
// failure detector (fast gossip flags) with one backup per partition. Its
// partitions move to the survivors; writes sent to it while it was stopped
// are answered after SIGCONT, but none it acknowledges may be lost (its
// old backups are fenced at the new epoch); then it rejoins and the
// cluster converges.
func TestFaultPauseLong(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: 3 nsnode processes, about 20s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fc := newFaultCluster(ctx, t, append([]string{"--backups", "1"}, fastGossip...)...)
	all := []string{"n1", "n2", "n3"}
	fc.startInSync(all...)
	c := newClient(ctx, t, fc.grpcAddrs())
	rec := history.NewRecorder()
	w := startWorkload(t, c, rec, workloadConfig{})
	from := rec.Now()
	phase(2 * time.Second)

	keys := probeKeys(t, c, "n3", 16)
	victim := fc.nodes["n3"]
	stop := time.Now()
	victim.pause()
	detect := fc.settled(30*time.Second, "n1", "n2")
	// Writes straight to the stopped node, for partitions it no longer
	// owns: they wait in its socket until SIGCONT.
	var wg sync.WaitGroup
	var acked, refused int
	var mu sync.Mutex
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			op := history.Op{Client: 2000 + i, Kind: history.Put, Key: k, Value: fmt.Sprintf("stale-%d", i)}
			id := rec.Invoke(op)
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := victim.kv().Put(cctx, &nsv1.PutRequest{Key: []byte(k), Value: []byte(op.Value)})
			res := history.Result{Outcome: history.OK}
			if err != nil {
				res = history.Result{Outcome: history.Unknown, Err: err}
			}
			rec.Return(id, res)
			mu.Lock()
			if err == nil {
				acked++
			} else {
				refused++
			}
			mu.Unlock()
		}()
	}
	time.Sleep(time.Second)
	victim.signal(syscall.SIGCONT)
	paused := time.Since(stop)
	wg.Wait()
	rejoin := fc.settled(60*time.Second, all...)
	phase(2 * time.Second)
	finish(t, "sigstop past detector backups=1", w, c, from, true,
		fmt.Sprintf("paused=%v detected=%v direct_writes_acked=%d refused=%d rejoined_after_cont=%v",
			paused.Round(time.Millisecond), detect.Round(time.Millisecond), acked, refused, rejoin.Round(time.Millisecond)))
}

// pauseFor is TestFaultPauseShort's pause: 1 s, or NS_PAUSE_SHORT (a
// duration), to find how long a pause the failure detector tolerates (the
// margin docs/guarantees.md reports).
func pauseFor() time.Duration {
	d, err := time.ParseDuration(os.Getenv("NS_PAUSE_SHORT"))
	if err != nil || d <= 0 {
		return time.Second
	}
	return d
}
