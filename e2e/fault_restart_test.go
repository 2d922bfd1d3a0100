package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nothingshared/ns/internal/history"
)

// TestFaultRollingRestart (issue 5, test 5): every node of three, one at a
// time, leaves by SIGTERM and comes back with the same --node-id and ports,
// under load, with one backup per partition. Nothing acknowledged is lost
// and every key stays linearizable.
func TestFaultRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: restarts 3 nsnode processes, about a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	fc := newFaultCluster(ctx, t, "--backups", "1", "--shutdown-timeout", "20s")
	all := []string{"n1", "n2", "n3"}
	fc.startInSync(all...)
	c := newClient(ctx, t, fc.grpcAddrs())
	rec := history.NewRecorder()
	w := startWorkload(t, c, rec, workloadConfig{})
	from := rec.Now()
	phase(2 * time.Second)

	var steps []string
	for _, id := range all {
		began := time.Now()
		if err := fc.nodes[id].terminate(60 * time.Second); err != nil {
			t.Fatalf("%s after SIGTERM: %v (want exit 0)", id, err)
		}
		left := time.Since(began)
		if left > 15*time.Second {
			t.Errorf("%s took %v to leave gracefully (want < 15s)", id, left)
		}
		var rest []string
		for _, o := range all {
			if o != id {
				rest = append(rest, o)
			}
		}
		fc.settled(30*time.Second, rest...)
		fc.start(id)
		back := fc.settled(60*time.Second, all...)
		fc.replicated(60*time.Second, all...)
		steps = append(steps, fmt.Sprintf("%s(leave=%v,rejoin=%v)", id, left.Round(time.Millisecond), back.Round(time.Millisecond)))
		phase(2 * time.Second)
	}
	v := finish(t, "rolling restart 3 nodes backups=1", w, c, from, true, fmt.Sprintf("steps=%v", steps))
	if v.stats.Acked == 0 {
		t.Fatal("no write acknowledged: the workload did not run")
	}
}
