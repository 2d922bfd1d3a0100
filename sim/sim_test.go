package sim

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestPartitionsFor(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{3, 271}, {64, 271}, {65, 2048}, {100, 2048}, {256, 4096}, {1000, 16384}, {5000, 16384},
	} {
		if got := PartitionsFor(tc.n); got != tc.want {
			t.Errorf("PartitionsFor(%d) = %d, want %d", tc.n, got, tc.want)
		}
		if got := PartitionsFor(tc.n); got < tc.n+1 {
			t.Errorf("PartitionsFor(%d) = %d: fewer partitions than members after a join", tc.n, got)
		}
	}
}

// TestRun simulates four nodes with memberlist's intervals scaled by 0.2
// (as clustertest's fast gossip) and checks every event converged, moved
// partitions, and was measured.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five nodes and waits for a crash to be detected")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{Nodes: 4, Backups: 1, Scale: 0.2, Rest: time.Second, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Bootstrap <= 0 || rep.Rest.Packets <= 0 || rep.Rest.PacketBytes <= 0 {
		t.Fatalf("bootstrap %v, rest %+v: want a bootstrap time and gossip at rest", rep.Bootstrap, rep.Rest)
	}
	var names []string
	for _, e := range rep.Events {
		names = append(names, e.Name)
		if e.Placement <= 0 || e.Agree < e.Placement || e.Err != "" {
			t.Errorf("%s: same placement after %v, same table after %v, err %q", e.Name, e.Placement, e.Agree, e.Err)
		}
		if e.NotReady != "" {
			t.Logf("%s: %s", e.Name, e.NotReady)
		}
		if e.Moved <= 0 || float64(e.Moved) > 3*e.Ideal {
			t.Errorf("%s: %d partitions moved, ideal %.1f", e.Name, e.Moved, e.Ideal)
		}
		if e.Traffic.Packets <= 0 || e.Traffic.ProcessCPU <= 0 {
			t.Errorf("%s: traffic %+v: want packets and CPU", e.Name, e.Traffic)
		}
	}
	if got := strings.Join(names, ","); got != "join,leave,crash" {
		t.Fatalf("events %s, want join,leave,crash", got)
	}
	var out bytes.Buffer
	Print(&out, []Report{rep})
	for _, want := range []string{"join", "leave", "crash", "moved/ideal"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
