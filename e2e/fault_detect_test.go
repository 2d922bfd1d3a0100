package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestFaultDetection (issue 5, test 6): how long after a SIGKILL every
// survivor's table drops the dead node, with memberlist's LAN defaults,
// over several kills (the node restarts in between). The distribution is
// reported (FIGURES; docs/guarantees.md); the test asserts only a generous
// bound per run, 12 s: memberlist's LAN detection takes 5-7 s here, and a
// timed assertion at its edge (it was p99 <= 8 s) failed on a busy machine
// (8.8 s in one run of five while other tests ran).
func TestFaultDetection(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: five SIGKILLs with LAN failure detection, about 45s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	fc := newFaultCluster(ctx, t)
	all := []string{"n1", "n2", "n3"}
	fc.startInSync(all...)
	survivors := fc.procs("n1", "n2")
	const runs = 5
	var took []time.Duration
	for run := range runs {
		kill := time.Now()
		fc.nodes["n3"].kill()
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
		d := max(seen["n1"], seen["n2"])
		took = append(took, d)
		t.Logf("run %d: survivors dropped n3 after %v (n1 %v, n2 %v)", run+1, d.Round(time.Millisecond), seen["n1"].Round(time.Millisecond), seen["n2"].Round(time.Millisecond))
		if run < runs-1 {
			fc.start("n3")
			fc.settled(60*time.Second, all...)
			fc.replicated(60*time.Second, all...)
		}
	}
	slices.Sort(took)
	pct := func(q float64) time.Duration { return took[min(len(took)-1, int(q*float64(len(took))))] }
	p50, p99, mx := pct(0.5), pct(0.99), took[len(took)-1]
	t.Logf("FIGURES failure detection (LAN defaults, 3 nodes, %d runs): p50=%v p99=%v max=%v all=%v", runs,
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), mx.Round(time.Millisecond), took)
	if mx > 12*time.Second {
		t.Errorf("failure detection took %v in one run, want <= 12s (LAN defaults detect in 5-7s)", mx)
	}
}
