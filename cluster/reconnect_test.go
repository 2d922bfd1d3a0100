package cluster

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestTrackerDeadAddrs(t *testing.T) {
	tr := newTracker("a", "10.0.0.1:7946", Meta{}, t0)
	tr.alive("b", "10.0.0.2:7946", wireMeta{}, t0)
	tr.alive("c", "10.0.0.3:7946", wireMeta{}, t0)
	tr.alive("d", "10.0.0.4:7946", wireMeta{}, t0)
	tr.alive("e", "10.0.0.5:7946", wireMeta{}, t0)
	tr.gone("c", "10.0.0.3:7946", wireMeta{}, true, t0)              // failed
	tr.gone("d", "10.0.0.4:7946", wireMeta{Leaving: true}, true, t0) // left
	tr.gone("e", "10.0.0.5:7946", wireMeta{}, true, t0)              // failed
	tr.gone("a", "10.0.0.1:7946", wireMeta{}, true, t0)              // ourselves: ignored
	tr.gone("f", "", wireMeta{}, false, t0)                          // no address known
	want := []string{"10.0.0.3:7946", "10.0.0.5:7946"}
	if got := tr.deadAddrs(); !slices.Equal(got, want) {
		t.Fatalf("deadAddrs() = %v, want %v", got, want)
	}
	tr.alive("c", "10.0.0.3:7946", wireMeta{}, t0)
	if got := tr.deadAddrs(); !slices.Equal(got, want[1:]) {
		t.Fatalf("after c came back: deadAddrs() = %v, want %v", got, want[1:])
	}
}

// TestReconnectAfterLongPartition: n1 is cut from n2 and n3 for longer than
// memberlist's GossipToTheDeadTime, then the network heals. With the
// reconnect loop the three views merge again; without it (the control)
// they stay split: memberlist alone never talks to a member it buried.
func TestReconnectAfterLongPartition(t *testing.T) {
	const toTheDead = 300 * time.Millisecond
	for _, tc := range []struct {
		name     string
		interval time.Duration
		merge    bool
	}{
		{"reconnect", 100 * time.Millisecond, true},
		{"disabled", -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newTestNet(t)
			var cs []*Cluster
			for i := range 3 {
				cfg := n.config(fmt.Sprintf("n%d", i+1))
				cfg.Memberlist.GossipToTheDeadTime = toTheDead
				cfg.ReconnectInterval = tc.interval
				if i > 0 {
					cfg.Join = []string{cs[0].LocalAddr()}
				}
				cs = append(cs, n.start(cfg))
			}
			waitFor(t, 10*time.Second, "convergence", func() (bool, string) { return converged(cs, "n1", "n2", "n3") })

			n.net.Cut(cs[0].LocalAddr(), cs[1].LocalAddr())
			n.net.Cut(cs[0].LocalAddr(), cs[2].LocalAddr())
			waitFor(t, 10*time.Second, "n1 alone", func() (bool, string) { return converged(cs[:1], "n1") })
			waitFor(t, 10*time.Second, "n2, n3 without n1", func() (bool, string) { return converged(cs[1:], "n2", "n3") })
			// Past GossipToTheDeadTime: the halves stop gossiping to each
			// other (a protocol timer, not synchronisation).
			time.Sleep(3 * toTheDead)
			n.net.HealAll()
			healed := time.Now()

			if tc.merge {
				waitFor(t, 10*time.Second, "views merged after the heal", func() (bool, string) { return converged(cs, "n1", "n2", "n3") })
				t.Logf("merged %v after the heal (reconnect every %v)", time.Since(healed).Round(time.Millisecond), tc.interval)
				return
			}
			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) {
				if ok, _ := converged(cs, "n1", "n2", "n3"); ok {
					t.Fatalf("views merged %v after the heal without the reconnect loop: the control no longer shows the problem", time.Since(healed))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
