package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests. memberlist's
// goroutines stop asynchronously after its Shutdown returns; goleak's default
// retries (up to about two seconds) wait for them, so no memberlist function
// needs to be ignored.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLogger sends logs to t.Log: info and above, or everything (memberlist's
// too) with NS_TEST_DEBUG=1. Lines logged after the test ended are dropped.
func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	level := slog.LevelInfo
	if os.Getenv("NS_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	w := &tWriter{t: t}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type tWriter struct {
	t    testing.TB
	done atomic.Bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// waitFor polls cond every 5ms until it reports true, failing the test with
// cond's last explanation after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// converged reports whether every cluster publishes a view with exactly the
// ids of want, and all the same epoch and hash.
func converged(cs []*Cluster, want ...string) (bool, string) {
	var first View
	for i, c := range cs {
		v := c.View()
		if got := strings.Join(v.IDs(), ","); got != strings.Join(want, ",") {
			return false, fmt.Sprintf("%s sees [%s] at epoch %d, want [%s]", c.LocalID(), got, v.Epoch, strings.Join(want, ","))
		}
		if i == 0 {
			first = v
			continue
		}
		if v.Epoch != first.Epoch || v.Hash != first.Hash {
			return false, fmt.Sprintf("%s at epoch %d, %s at epoch %d", cs[0].LocalID(), first.Epoch, c.LocalID(), v.Epoch)
		}
	}
	return true, ""
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}
