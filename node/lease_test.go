package node

import (
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"
)

// pingLog records the members a lease pinged.
type pingLog struct {
	mu  sync.Mutex
	ids []string
}

func (p *pingLog) add(id string) {
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
}

func (p *pingLog) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ids)
}

// testLease is a lease over a fixed member set, with pings recorded (not
// sent) and time under the test's control.
func testLease(t *testing.T, members ...string) (l *lease, backs *int, pinged *pingLog) {
	t.Helper()
	backs, pinged = new(int), &pingLog{}
	l = &lease{
		self: members[0], log: slog.New(slog.DiscardHandler), base: time.Unix(0, 0),
		agreed: func() []string { return members },
		ping:   pinged.add,
		onBack: func() { *backs++ },
		timeout: func() time.Duration {
			return 4 * time.Second
		},
		lapses: new(atomic.Uint64), core: owner.NewLease(members[0]),
	}
	l.until.Store(math.MaxInt64)
	return l, backs, pinged
}

// TestLeaseLapse: a node of five that hears from nobody for longer than the
// suspicion timeout (a pause, a cut link) loses its lease and bumps the
// generation; when contact is back the lease returns and asks for the
// owned partitions to be verified; the generation stays bumped, so
// partitions verified before the lapse are not served.
func TestLeaseLapse(t *testing.T) {
	const T = 4 * time.Second
	l, backs, _ := testLease(t, "n1", "n2", "n3", "n4", "n5")
	at := func(d time.Duration) time.Time { return time.Unix(0, 0).Add(d) }
	l.step(at(time.Second), T) // members first seen: contact at 1s
	g0, ok := l.check(at(2 * time.Second))
	if !ok {
		t.Fatal("no lease right after the members were seen")
	}
	l.note("n2", at(2*time.Second))
	l.note("n3", at(3*time.Second))
	l.step(at(3*time.Second), T)
	// The second newest contact (n2 at 2s) makes half: the lease lasts
	// until 2s + 4s.
	if _, ok := l.check(at(5900 * time.Millisecond)); !ok {
		t.Fatal("lease lapsed before the second newest contact plus the timeout")
	}
	if _, ok := l.check(at(6 * time.Second)); ok {
		t.Fatal("lease outlived the second newest contact plus the timeout")
	}
	// Paused: nothing runs from 3s to 20s. A request served first thing
	// after the resume, before the keeper runs, is refused.
	if _, ok := l.check(at(20 * time.Second)); ok {
		t.Fatal("a request after a 17s pause was served")
	}
	// Contact comes back before the keeper's first step (queued pings).
	l.note("n4", at(20*time.Second))
	l.note("n5", at(20*time.Second))
	l.step(at(20*time.Second), T)
	g1, ok := l.check(at(20 * time.Second))
	if !ok {
		t.Fatal("no lease with fresh contact from two others")
	}
	if g1 == g0 {
		t.Fatal("the lapse did not bump the generation: copies verified before it would be served")
	}
	if *backs != 1 || l.lapses.Load() != 1 {
		t.Fatalf("onBack called %d times, %d lapses; want 1 and 1", *backs, l.lapses.Load())
	}
	// A later step with the lease valid changes nothing.
	l.step(at(21*time.Second), T)
	if g, _ := l.check(at(21 * time.Second)); g != g1 || *backs != 1 {
		t.Fatalf("generation %d (want %d), %d onBack calls after a quiet step", g, g1, *backs)
	}
}

// TestLeaseStaysWithTwo: in a cluster of two, either node alone is half:
// the lease never lapses (like the quorum rule: run three or more).
func TestLeaseStaysWithTwo(t *testing.T) {
	l, _, _ := testLease(t, "n1", "n2")
	l.step(time.Unix(0, 0).Add(time.Hour), 4*time.Second)
	if _, ok := l.check(time.Unix(0, 0).Add(2 * time.Hour)); !ok {
		t.Fatal("a node of two lost its lease")
	}
}

// TestLeasePingsStaleMembers: members not heard from for a third of the
// timeout are pinged, one ping in flight each.
func TestLeasePingsStaleMembers(t *testing.T) {
	l, _, pinged := testLease(t, "n1", "n2", "n3")
	l.step(time.Unix(0, 0).Add(time.Second), 3*time.Second)
	l.mu.Lock()
	n := l.core.Pinging()
	l.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d pings for members just seen", n)
	}
	l.note("n2", time.Unix(0, 0).Add(1900*time.Millisecond))
	l.step(time.Unix(0, 0).Add(2100*time.Millisecond), 3*time.Second)
	// n3 (contact at 1s, 1.1s ago > 1s) is pinged; n2 (0.2s ago) is not.
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		busy := l.core.Pinging()
		l.mu.Unlock()
		if busy == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if got := pinged.get(); len(got) != 1 || got[0] != "n3" {
		t.Fatalf("pinged %v, want [n3]", got)
	}
}
