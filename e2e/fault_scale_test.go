package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nothingshared/ns/internal/history"
)

// TestFaultScale (issue 5, test 1): 3 -> 5 -> 3 nodes under load, by
// graceful joins and SIGTERM leaves, with one backup per partition. Nothing
// acknowledged is lost, no request fails (the SDK retries), every key stays
// linearizable; the figures give the longest pause the client saw.
func TestFaultScale(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: starts 5 nsnode processes for about a minute")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fc := newFaultCluster(ctx, t, "--backups", "1", "--shutdown-timeout", "20s")
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

	start := time.Now()
	fc.start("n4")
	fc.start("n5")
	up := fc.settled(60*time.Second, "n1", "n2", "n3", "n4", "n5")
	upTook := time.Since(start)
	t.Logf("3 -> 5: settled %v after the joins (%v after the last check began)", upTook.Round(time.Millisecond), up.Round(time.Millisecond))
	phase(3 * time.Second)

	start = time.Now()
	var leaves []string
	for _, id := range []string{"n5", "n4"} {
		began := time.Now()
		if err := fc.nodes[id].terminate(60 * time.Second); err != nil {
			t.Fatalf("%s after SIGTERM: %v (want exit 0)", id, err)
		}
		took := time.Since(began)
		leaves = append(leaves, took.Round(time.Millisecond).String())
		// A graceful leave returns once every partition it owned was
		// pulled by its new owner; the 20s shutdown timeout is a bug bound.
		if took > 15*time.Second {
			t.Errorf("%s took %v to leave gracefully: its partitions were not pulled (want < 15s, --shutdown-timeout 20s)", id, took)
		}
	}
	fc.settled(30*time.Second, "n1", "n2", "n3")
	downTook := time.Since(start)
	phase(3 * time.Second)

	v := finish(t, "scale 3->5->3 backups=1", w, c, from, true,
		fmt.Sprintf("converge_up=%v converge_down=%v leaves=%v", upTook.Round(time.Millisecond), downTook.Round(time.Millisecond), leaves))
	if v.clientE != 0 {
		t.Errorf("%d client-visible errors during graceful scaling, want 0", v.clientE)
	}
	if v.stats.Acked == 0 {
		t.Fatal("no write acknowledged: the workload did not run")
	}
}
