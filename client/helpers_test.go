package client

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nothingshared/ns/client/internal/fakecluster"
	"github.com/nothingshared/ns/ring"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var networks = []struct {
	name string
	net  fakecluster.Network
}{
	{"bufconn", fakecluster.Bufconn},
	{"tcp", fakecluster.TCP},
}

func newCluster(t testing.TB, network fakecluster.Network, n int) *fakecluster.Cluster {
	t.Helper()
	fc, err := fakecluster.New(network, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fc.Close)
	return fc
}

// testConfig returns a client config for fc with fast retries.
func testConfig(t testing.TB, fc *fakecluster.Cluster) Config {
	return Config{
		Endpoints:    fc.Addrs()[:1],
		DialOptions:  fc.DialOptions(),
		RetryBackoff: time.Millisecond,
		Logger:       testLogger(t),
	}
}

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// testLogger sends logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// keysOf returns n distinct keys that t gives to the member with the given id.
func keysOf(t *ring.Table, id string, n int) [][]byte {
	var out [][]byte
	for i := 0; len(out) < n; i++ {
		k := []byte(fmt.Sprintf("key-%d", i))
		if t.Owner(t.PartitionOf(k)).ID == id {
			out = append(out, k)
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
