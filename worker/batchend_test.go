package worker

import (
	"context"
	"testing"
)

// ender is a handler that logs Handle ("h") and EndBatch ("e") calls.
type ender struct{ final *[]string }

func (ender) Init(int) ([]string, error) { return nil, nil }
func (ender) Handle(s *[]string, _ int) (struct{}, error) {
	*s = append(*s, "h")
	return struct{}{}, nil
}
func (e ender) Shutdown(s *[]string) { *e.final = *s }
func (ender) EndBatch(s *[]string)   { *s = append(*s, "e") }

// TestEndBatch: a handler implementing BatchEnder gets EndBatch after every
// drained batch, before any Exec runs, and never for an empty batch.
func TestEndBatch(t *testing.T) {
	var final []string
	p, err := New[[]string, int, struct{}](Config{Workers: 1, QueueSize: 64}, ender{final: &final})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const msgs = 1000
	for i := 0; i < msgs; i += 10 {
		batch := make([]int, 10)
		if _, err := p.SendBatchTo(ctx, 0, batch); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			if err := p.Exec(ctx, 0, func(s *[]string) {
				if n := len(*s); n > 0 && (*s)[n-1] != "e" {
					t.Errorf("Exec ran between a batch's Handle calls and its EndBatch: ...%v", (*s)[max(0, n-5):])
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.Close(); err != nil { // drains every message, then Shutdown
		t.Fatal(err)
	}
	log := final
	handled, ends := 0, 0
	for i, ev := range log {
		switch ev {
		case "h":
			handled++
		case "e":
			ends++
			if i == 0 || log[i-1] == "e" {
				t.Fatalf("EndBatch without a Handle before it at event %d", i)
			}
		}
	}
	if handled != msgs || log[len(log)-1] != "e" {
		t.Fatalf("handled %d of %d messages, last event %q (want every batch ended)", handled, msgs, log[len(log)-1])
	}
	t.Logf("%d messages in %d batches", handled, ends)
}
