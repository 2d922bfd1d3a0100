package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nothingshared/ns/internal/history"
)

// TestFaultDetection (issue 5, test 6; issue 15): how long after a SIGKILL
// every survivor's table drops the dead node, and how long until every
// partition it owned takes writes again, with nsnode's default failure
// detector (cluster.DefaultMemberlist) and --backups 1, over several kills
// (the node restarts in between). NS_DETECT_RUNS sets the number of kills
// (5 by default; 10 for the p99 in docs/guarantees.md). The distributions
// are reported (FIGURES); the test asserts only a generous bound per run,
// 10 s, not the 3 s target: a timed assertion at the edge of what a busy
// 2-core machine gives fails for the wrong reasons.
func TestFaultDetection(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: five SIGKILLs, about 45s")
	}
	runs := 5
	if v := os.Getenv("NS_DETECT_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("NS_DETECT_RUNS=%q: want a positive number", v)
		}
		runs = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(runs)*time.Minute)
	defer cancel()
	fc := newFaultCluster(ctx, t, "--backups", "1")
	all := []string{"n1", "n2", "n3"}
	fc.startInSync(all...)
	survivors := fc.procs("n1", "n2")
	pc := newProbeClient(ctx, t, fc.grpcAddrs())
	rec := history.NewRecorder()
	var took, serveAll []time.Duration
	for run := range runs {
		keys := probeKeys(t, pc, "n3", 8)
		kill := time.Now()
		fc.nodes["n3"].kill()
		served := make(chan []time.Duration, 1)
		go func() { served <- probeWrites(rec, pc, keys, kill, 500*time.Millisecond, 30*time.Second) }()
		seen := map[string]time.Duration{}
		waitFor(t, 30*time.Second, "every survivor drops n3", func() (bool, string) {
			for _, p := range survivors {
				if _, ok := seen[p.id]; ok {
					continue
				}
				tb, err := p.table(ctx)
				if err != nil {
					return false, err.Error()
				}
				in := false
				for _, m := range tb.GetMembers() {
					in = in || m.GetId() == "n3"
				}
				if !in {
					seen[p.id] = time.Since(kill)
				}
			}
			return len(seen) == len(survivors), fmt.Sprintf("dropped so far: %v", seen)
		})
		serve := <-served
		slices.Sort(serve)
		if serve[0] < 0 {
			t.Fatalf("run %d: a partition of the killed node took no write within 30s: %v", run+1, serve)
		}
		d := max(seen["n1"], seen["n2"])
		took = append(took, d)
		serveAll = append(serveAll, serve[len(serve)-1])
		t.Logf("run %d: survivors dropped n3 after %v (n1 %v, n2 %v); its %d probed partitions took writes again after %v-%v",
			run+1, d.Round(time.Millisecond), seen["n1"].Round(time.Millisecond), seen["n2"].Round(time.Millisecond),
			len(serve), serve[0].Round(time.Millisecond), serve[len(serve)-1].Round(time.Millisecond))
		if run < runs-1 {
			fc.start("n3")
			fc.settled(60*time.Second, all...)
			fc.replicated(60*time.Second, all...)
		}
	}
	dist := func(ds []time.Duration) string {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		pct := func(q float64) time.Duration {
			return ds[min(len(ds)-1, int(q*float64(len(ds))))].Round(time.Millisecond)
		}
		return fmt.Sprintf("p50=%v p99=%v max=%v", pct(0.5), pct(0.99), ds[len(ds)-1].Round(time.Millisecond))
	}
	t.Logf("FIGURES failure detection (nsnode defaults, 3 nodes, backups=1, %d runs): survivors agree %s; every probed partition serves again %s; all: agree %v, serve %v",
		runs, dist(took), dist(serveAll), took, serveAll)
	for i := range took {
		if took[i] > 10*time.Second || serveAll[i] > 10*time.Second {
			t.Errorf("run %d: survivors agreed after %v, served again after %v; want both <= 10s (the defaults aim at 3s)", i+1, took[i], serveAll[i])
		}
	}
}
