package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRateLimitsPerMessage(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&buf, &mu}, nil))
	l := New(log, time.Second)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }

	for i := 0; i < 5; i++ {
		l.Warn("queue full", "worker", 1)
	}
	l.Warn("other message")
	now = now.Add(1500 * time.Millisecond)
	l.Warn("queue full", "worker", 2)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "worker=1") || strings.Contains(lines[0], "suppressed") {
		t.Errorf("first line: %s", lines[0])
	}
	if !strings.Contains(lines[1], "other message") {
		t.Errorf("second line: %s", lines[1])
	}
	if !strings.Contains(lines[2], "worker=2") || !strings.Contains(lines[2], "suppressed=4") {
		t.Errorf("third line: %s", lines[2])
	}
}

func TestDisabledLevelIsFree(t *testing.T) {
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelError}))
	l := New(log, time.Second)
	if a := testing.AllocsPerRun(100, func() { l.Warn("x") }); a != 0 {
		t.Fatalf("disabled Warn allocates %v", a)
	}
}

func TestConcurrent(t *testing.T) {
	l := New(slog.New(slog.DiscardHandler), time.Millisecond)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				l.Warn("m")
			}
		}()
	}
	wg.Wait()
}

// BenchmarkSuppressed is the cost of a call that is rate-limited away.
func BenchmarkSuppressed(b *testing.B) {
	l := New(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), time.Hour)
	l.Warn("hot")
	b.ReportAllocs()
	for b.Loop() {
		l.Warn("hot")
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
