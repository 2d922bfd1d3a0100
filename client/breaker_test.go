package client

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestBreakerStates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	now := t0
	clock := func() time.Time { return now }
	b := newBreaker(3, time.Second)
	steps := []struct {
		name string
		do   func() bool
		want bool
		st   BreakerState
	}{
		{"closed allows", func() bool { return b.allow(clock) }, true, BreakerClosed},
		{"failure 1", func() bool { return b.failure(now) }, false, BreakerClosed},
		{"failure 2", func() bool { return b.failure(now) }, false, BreakerClosed},
		{"success resets", func() bool { return b.success() }, false, BreakerClosed},
		{"failure 1 again", func() bool { return b.failure(now) }, false, BreakerClosed},
		{"failure 2 again", func() bool { return b.failure(now) }, false, BreakerClosed},
		{"failure 3 opens", func() bool { return b.failure(now) }, true, BreakerOpen},
		{"open refuses", func() bool { return b.allow(clock) }, false, BreakerOpen},
		{"late failure keeps it open", func() bool { return b.failure(now) }, false, BreakerOpen},
		{"open period over: one probe", func() bool { now = t0.Add(time.Second); return b.allow(clock) }, true, BreakerHalfOpen},
		{"second caller refused", func() bool { return b.allow(clock) }, false, BreakerHalfOpen},
		{"probe fails: open again", func() bool { return b.failure(now) }, true, BreakerOpen},
		{"refused", func() bool { now = now.Add(time.Second - 1); return b.allow(clock) }, false, BreakerOpen},
		{"probe", func() bool { now = now.Add(1); return b.allow(clock) }, true, BreakerHalfOpen},
		{"lost probe replaced", func() bool { now = now.Add(time.Second); return b.allow(clock) }, true, BreakerHalfOpen},
		{"probe succeeds: closed", func() bool { return b.success() }, true, BreakerClosed},
		{"closed allows again", func() bool { return b.allow(clock) }, true, BreakerClosed},
	}
	for _, s := range steps {
		if got := s.do(); got != s.want {
			t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
		}
		if st := b.State(); st != s.st {
			t.Fatalf("%s: state %v, want %v", s.name, st, s.st)
		}
	}
}

// TestBreakerModel checks the breaker against a naive model under random
// sequences of allow, success, failure and clock steps.
func TestBreakerModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		threshold := rapid.IntRange(1, 5).Draw(t, "threshold")
		openFor := time.Duration(rapid.IntRange(1, 10).Draw(t, "openFor"))
		b := newBreaker(threshold, openFor)
		now := time.Unix(0, 0)
		clock := func() time.Time { return now }
		// model
		state, fails, until := BreakerClosed, 0, time.Time{}
		t.Repeat(map[string]func(*rapid.T){
			"tick": func(t *rapid.T) { now = now.Add(time.Duration(rapid.IntRange(0, 12).Draw(t, "d"))) },
			"allow": func(t *rapid.T) {
				want := true
				if state != BreakerClosed {
					if now.Before(until) {
						want = false
					} else {
						state, until = BreakerHalfOpen, now.Add(openFor)
					}
				}
				if got := b.allow(clock); got != want {
					t.Fatalf("allow = %v, want %v", got, want)
				}
			},
			"success": func(t *rapid.T) {
				want := state != BreakerClosed
				state, fails = BreakerClosed, 0
				if got := b.success(); got != want {
					t.Fatalf("success = %v, want %v", got, want)
				}
			},
			"failure": func(t *rapid.T) {
				want := false
				switch state {
				case BreakerClosed:
					if fails++; fails >= threshold {
						want = true
					}
				case BreakerHalfOpen:
					want = true
				}
				if want {
					state, fails, until = BreakerOpen, 0, now.Add(openFor)
				}
				if got := b.failure(now); got != want {
					t.Fatalf("failure = %v, want %v", got, want)
				}
			},
			"": func(t *rapid.T) {
				if got := b.State(); got != state {
					t.Fatalf("state %v, model %v", got, state)
				}
				if got := b.blocked(now); got != (state != BreakerClosed && now.Before(until)) {
					t.Fatalf("blocked = %v", got)
				}
			},
		})
	})
}
