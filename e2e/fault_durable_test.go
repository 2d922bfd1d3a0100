package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nothingshared/ns/internal/history"
)

// TestFaultKillAllRestart (issue 9): every node of three has a data
// directory (--fsync batch). Under write load all three are SIGKILLed at
// once, then restarted from their directories. Nothing acknowledged is
// lost, no write is applied twice, and every key stays linearizable: a
// write is acknowledged only after its batch's fsync.
func TestFaultKillAllRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: kills and restarts 3 nsnode processes, about 30s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	fc := newFaultCluster(ctx, t, "--backups", "1", "--fsync", "batch")
	all := []string{"n1", "n2", "n3"}
	data := t.TempDir()
	for _, id := range all {
		fc.perNode[id] = []string{"--data-dir", filepath.Join(data, id)}
	}
	fc.startInSync(all...)
	c := newClient(ctx, t, fc.grpcAddrs())
	rec := history.NewRecorder()
	w := startWorkload(t, c, rec, workloadConfig{timeout: 3 * time.Second})
	from := rec.Now()
	phase(4 * time.Second)

	var wg sync.WaitGroup
	for _, id := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fc.nodes[id].signal(syscall.SIGKILL)
		}()
	}
	wg.Wait()
	for _, id := range all {
		<-fc.nodes[id].exited
	}
	killed := time.Now()
	ackedBefore := 0
	for _, op := range rec.Ops() {
		if op.Acked() {
			ackedBefore++
		}
	}
	phase(time.Second)
	for _, id := range all {
		fc.start(id)
	}
	back := fc.settled(90*time.Second, all...)
	phase(4 * time.Second)
	finish(t, "sigkill all 3 and restart, data-dir fsync=batch backups=1", w, c, from, true,
		fmt.Sprintf("acked_before_kill=%d restart_to_ready=%v (kill to ready %v)", ackedBefore, back.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond)))
	if ackedBefore == 0 {
		t.Fatal("no write acknowledged before the kill: the workload did not run")
	}
}
