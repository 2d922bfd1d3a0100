package e2e

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/nothingshared/ns/client"
	"github.com/nothingshared/ns/internal/history"
)

// probeKeys returns n keys, in distinct partitions, that c's table gives to
// node id.
func probeKeys(t *testing.T, c *client.Client, id string, n int) []string {
	t.Helper()
	var keys []string
	waitFor(t, 20*time.Second, fmt.Sprintf("the client's table gives %s %d partitions", id, n), func() (bool, string) {
		keys = keys[:0]
		parts := map[int]bool{}
		for i := 0; len(keys) < n && i < 100000; i++ {
			k := fmt.Sprintf("probe-%s-%d", id, i)
			p, owner := c.Locate([]byte(k))
			if owner.ID == id && !parts[p] {
				parts[p] = true
				keys = append(keys, k)
			}
		}
		return len(keys) == n, fmt.Sprintf("found only %d keys owned by %s", len(keys), id)
	})
	return keys
}

// newProbeClient is an SDK client without retries, for probeWrites: each
// attempt is one call, so the first success is seen within one probe
// interval of the moment the key could be served again (the default
// client's backoff would add up to a second).
func newProbeClient(ctx context.Context, t *testing.T, endpoints []string) *client.Client {
	t.Helper()
	c, err := client.New(ctx, client.Config{Endpoints: endpoints, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// probeWrites writes each key until a write succeeds, recording every attempt
// (client 1000+i), and returns how long after since each key's first
// success came.
func probeWrites(rec *history.Recorder, c *client.Client, keys []string, since time.Time, perTry, limit time.Duration) []time.Duration {
	out := make([]time.Duration, len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for try := 0; time.Since(since) < limit; try++ {
				op := history.Op{Client: 1000 + i, Kind: history.Put, Key: k, Value: fmt.Sprintf("probe-%d-%d", i, try)}
				id := rec.Invoke(op)
				ctx, cancel := context.WithTimeout(context.Background(), perTry)
				res := execOp(ctx, c, op)
				cancel()
				rec.Return(id, res)
				if res.Outcome == history.OK {
					out[i] = time.Since(since)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			out[i] = -1
		}()
	}
	wg.Wait()
	return out
}

// TestFaultCrash (issue 5, test 2): SIGKILL one node of three with one
// backup per partition, under load. Nothing acknowledged is lost; the
// figures give the time from the kill to the first successful write on a
// key of each partition the killed node owned (nsnode's default failure
// detector, cluster.DefaultMemberlist), written by a client without retries.
func TestFaultCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: starts 3 nsnode processes for about 30s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fc := newFaultCluster(ctx, t, "--backups", "1")
	for _, id := range []string{"n1", "n2", "n3"} {
		fc.start(id)
	}
	fc.settled(30*time.Second, "n1", "n2", "n3")
	fc.replicated(30*time.Second, "n1", "n2", "n3")
	c := newClient(ctx, t, fc.grpcAddrs())
	rec := history.NewRecorder()
	w := startWorkload(t, c, rec, workloadConfig{})
	from := rec.Now()
	phase(3 * time.Second)

	pc := newProbeClient(ctx, t, fc.grpcAddrs())
	keys := probeKeys(t, pc, "n3", 8)
	kill := time.Now()
	fc.nodes["n3"].kill()
	var detect time.Duration
	var detected sync.WaitGroup
	detected.Add(1)
	go func() {
		defer detected.Done()
		detect = fc.settled(60*time.Second, "n1", "n2")
	}()
	serve := probeWrites(rec, pc, keys, kill, 500*time.Millisecond, 60*time.Second)
	detected.Wait()
	sort.Slice(serve, func(i, j int) bool { return serve[i] < serve[j] })
	for _, d := range serve {
		if d < 0 {
			t.Fatalf("a key of the killed node's partitions was not writable within 60s: %v", serve)
		}
	}
	phase(3 * time.Second)
	finish(t, "sigkill 1 of 3 backups=1", w, c, from, true,
		fmt.Sprintf("survivors_agree=%v serve_again_first=%v serve_again_all=%v", detect.Round(time.Millisecond),
			serve[0].Round(time.Millisecond), serve[len(serve)-1].Round(time.Millisecond)))
}
