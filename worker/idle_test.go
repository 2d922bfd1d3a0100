package worker

import (
	"context"
	"syscall"
	"testing"
	"time"
)

func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Skipf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestIdleWorkersUseNoCPU: parked workers sleep in the kernel; the whole
// process burns well under 5% of (wall time x workers) while they idle.
func TestIdleWorkersUseNoCPU(t *testing.T) {
	const workers = 4
	p, _ := newTestPool(t, Config{Workers: workers})
	// Make every worker go through a wake-up and back to sleep first.
	for w := range workers {
		if _, err := p.AskTo(context.Background(), w, tmsg{op: "get"}); err != nil {
			t.Fatal(err)
		}
	}
	for w := range workers {
		waitParked(t, p.workers[w].notEmpty)
	}
	startCPU, start := cpuTime(t), time.Now()
	time.Sleep(300 * time.Millisecond)
	used, wall := cpuTime(t)-startCPU, time.Since(start)
	budget := wall * workers / 20
	t.Logf("idle: %v CPU over %v wall with %d workers (budget %v)", used, wall, workers, budget)
	if used > budget {
		t.Fatalf("idle workers used %v CPU in %v, budget %v", used, wall, budget)
	}
}
