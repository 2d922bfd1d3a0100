package history

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// ms builds a duration in milliseconds, for readable histories.
func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// h builds a history from ops, numbering them.
func h(ops ...Op) []Op {
	for i := range ops {
		ops[i].ID = i
	}
	return ops
}

func put(k, v string, call, ret int, out Outcome) Op {
	return Op{Kind: Put, Key: k, Value: v, Call: ms(call), Return: ms(ret), Outcome: out}
}

func get(k, v string, found bool, call, ret int) Op {
	return Op{Kind: Get, Key: k, Value: v, Found: found, Call: ms(call), Return: ms(ret), Outcome: OK}
}

func cas(k, exp, v string, swapped bool, call, ret int, out Outcome) Op {
	return Op{Kind: CAS, Key: k, Expect: exp, Value: v, Found: swapped, Call: ms(call), Return: ms(ret), Outcome: out}
}

func incr(k string, counter int64, call, ret int, out Outcome) Op {
	return Op{Kind: Incr, Key: k, Delta: 1, Counter: counter, Call: ms(call), Return: ms(ret), Outcome: out}
}

func TestCheckWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []Op
		want string // "" or the What of the one violation expected
	}{
		{"last write read", h(put("a", "1", 0, 1, OK), put("a", "2", 2, 3, OK), get("a", "2", true, 10, 11)), ""},
		{"concurrent writes either wins", h(put("a", "1", 0, 5, OK), put("a", "2", 1, 4, OK), get("a", "1", true, 10, 11)), ""},
		{"later acked write lost", h(put("a", "1", 0, 1, OK), put("a", "2", 2, 3, OK), get("a", "1", true, 10, 11)), "lost"},
		{"acked write read absent", h(put("a", "1", 0, 1, OK), get("a", "", false, 10, 11)), "lost"},
		{"unknown write may be absent", h(put("a", "1", 0, 1, Unknown), get("a", "", false, 10, 11)), ""},
		{"unknown write may win late", h(put("a", "1", 0, 1, Unknown), put("a", "2", 2, 3, OK), get("a", "1", true, 10, 11)), ""},
		{"value never written", h(put("a", "1", 0, 1, OK), get("a", "9", true, 10, 11)), "phantom"},
		{"cas swapped counts", h(put("a", "1", 0, 1, OK), cas("a", "1", "2", true, 2, 3, OK), get("a", "1", true, 10, 11)), "lost"},
		{"cas not swapped is no write", h(put("a", "1", 0, 1, OK), cas("a", "0", "2", false, 2, 3, OK), get("a", "1", true, 10, 11)), ""},
		{"counter exact", h(incr("c", 1, 0, 1, OK), incr("c", 2, 2, 3, OK), get("c", "2", true, 10, 11)), ""},
		{"counter with unknown", h(incr("c", 1, 0, 1, OK), incr("c", 0, 2, 3, Unknown), get("c", "2", true, 10, 11)), ""},
		{"counter lost", h(incr("c", 1, 0, 1, OK), incr("c", 2, 2, 3, OK), get("c", "1", true, 10, 11)), "lost"},
		{"counter applied twice", h(incr("c", 1, 0, 1, OK), incr("c", 2, 2, 3, OK), get("c", "3", true, 10, 11)), "duplicate"},
		{"counter same value twice", h(incr("c", 1, 0, 1, OK), incr("c", 1, 2, 3, OK), incr("c", 0, 2, 3, Unknown), get("c", "2", true, 10, 11)), "lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckWrites(tc.ops, Finals(tc.ops, ms(10)))
			var got []string
			for _, v := range r.Violations {
				got = append(got, v.What)
			}
			want := []string(nil)
			if tc.want != "" {
				want = []string{tc.want}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("violations %v, want %v: %v", got, want, r.Violations)
			}
			if r.Checked != 1 || len(r.Unchecked) != 0 {
				t.Fatalf("report %v", r)
			}
		})
	}
}

func TestCheckWritesUnchecked(t *testing.T) {
	ops := h(put("a", "1", 0, 1, OK), put("b", "1", 0, 1, OK), get("a", "1", true, 10, 11))
	r := CheckWrites(ops, Finals(ops, ms(10)))
	if r.Checked != 1 || len(r.Unchecked) != 1 || r.Unchecked[0] != "b" {
		t.Fatalf("report %v unchecked %v", r, r.Unchecked)
	}
}

func TestCheckLinearizable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ops   []Op
		legal bool
	}{
		{"sequential", h(put("a", "1", 0, 1, OK), get("a", "1", true, 2, 3), cas("a", "1", "2", true, 4, 5, OK), get("a", "2", true, 6, 7)), true},
		{"stale read", h(put("a", "1", 0, 1, OK), put("a", "2", 2, 3, OK), get("a", "1", true, 4, 5)), false},
		{"concurrent read sees either", h(put("a", "1", 0, 1, OK), put("a", "2", 2, 6, OK), get("a", "1", true, 3, 4), get("a", "2", true, 5, 7)), true},
		{"read goes back", h(put("a", "1", 0, 1, OK), put("a", "2", 2, 9, OK), get("a", "2", true, 3, 4), get("a", "1", true, 5, 6)), false},
		{"absent after write", h(put("a", "1", 0, 1, OK), get("a", "", false, 2, 3)), false},
		{"unknown write seen", h(put("a", "1", 0, 1, Unknown), get("a", "1", true, 2, 3)), true},
		{"unknown write never seen", h(put("a", "1", 0, 1, Unknown), get("a", "", false, 2, 3)), true},
		{"unknown write before its call", h(get("a", "1", true, 0, 1), put("a", "1", 2, 3, Unknown)), false},
		{"failed cas saw wrong value", h(put("a", "1", 0, 1, OK), cas("a", "1", "2", false, 2, 3, OK)), false},
		{"counter", h(incr("c", 1, 0, 1, OK), incr("c", 2, 2, 3, OK), get("c", "2", true, 4, 5)), true},
		{"counter repeats", h(incr("c", 1, 0, 1, OK), incr("c", 1, 2, 3, OK)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckLinearizable(tc.ops, 5*time.Second, t.TempDir())
			if got := len(r.Illegal) == 0; got != tc.legal {
				t.Fatalf("legal=%v, want %v (%v)", got, tc.legal, r)
			}
			if !tc.legal && len(r.Files) != 1 {
				t.Fatalf("no visualization written: %v", r.Files)
			}
		})
	}
}

// TestModelProperty: histories produced by a linearizable store (a mutex
// around a map, concurrent clients) always pass both checkers; dropping one
// acknowledged write's effect from the store is caught by CheckWrites.
func TestModelProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		clients := rapid.IntRange(1, 4).Draw(rt, "clients")
		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		lose := rapid.Bool().Draw(rt, "lose")
		rec := NewRecorder()
		var mu sync.Mutex
		store := map[string]string{}
		lost := false
		var wg sync.WaitGroup
		plans := make([][]int, clients)
		for c := range plans {
			plans[c] = rapid.SliceOfN(rapid.IntRange(0, 5), steps, steps).Draw(rt, fmt.Sprintf("plan%d", c))
		}
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i, step := range plans[c] {
					key := []string{"a", "b"}[step%2]
					if step >= 4 {
						key = "n"
					}
					op := Op{Client: c, Key: key}
					switch {
					case step >= 4:
						op.Kind, op.Delta = Incr, 1
					case step >= 2:
						op.Kind = Get
					default:
						op.Kind, op.Value = Put, fmt.Sprintf("c%d-%d", c, i)
					}
					id := rec.Invoke(op)
					mu.Lock()
					var res Result
					switch op.Kind {
					case Put:
						if lose && !lost && i > 0 {
							lost = true // acknowledged, never stored
						} else {
							store[key] = op.Value
						}
					case Get:
						res.Value, res.Found = store[key]
					case Incr:
						n, _ := strconv.ParseInt(store[key], 10, 64)
						n++
						store[key] = strconv.FormatInt(n, 10)
						res.Counter = n
					}
					mu.Unlock()
					res.Outcome = OK
					rec.Return(id, res)
				}
			}()
		}
		wg.Wait()
		quiet := rec.Now()
		for _, k := range []string{"a", "b", "n"} {
			id := rec.Invoke(Op{Client: -1, Kind: Get, Key: k})
			v, ok := store[k]
			rec.Return(id, Result{Outcome: OK, Value: v, Found: ok})
		}
		ops := rec.Ops()
		wr := CheckWrites(ops, Finals(ops, quiet))
		lr := CheckLinearizable(ops, 5*time.Second, "")
		if !lost {
			if len(wr.Violations) > 0 || len(lr.Illegal) > 0 {
				rt.Fatalf("linearizable store flagged: %v %v", wr.Violations, lr)
			}
			return
		}
		// A lost write is not always observable (a later write may cover
		// it); when the write checker says lost, porcupine must agree.
		if wr.Lost > 0 && len(lr.Illegal) == 0 {
			rt.Fatalf("lost write %v not flagged by porcupine", wr.Violations)
		}
	})
}

func TestSummarize(t *testing.T) {
	ops := h(put("a", "1", 0, 10, OK), get("a", "1", true, 5, 50), put("a", "2", 20, 30, Unknown), Op{Kind: Get, Key: "a", Call: ms(60), Return: ms(70), Outcome: Fail})
	s := Summarize(ops, 0, ms(100))
	if s.Ops != 4 || s.OK != 2 || s.Unknown != 1 || s.Failed != 1 || s.Writes != 2 || s.Acked != 1 {
		t.Fatalf("stats %v", s)
	}
	if s.MaxLatency != ms(45) || s.MaxGap != ms(50) || s.MaxGapAt != ms(50) {
		t.Fatalf("latency %v gap %v at %v", s.MaxLatency, s.MaxGap, s.MaxGapAt)
	}
	if !strings.Contains(s.String(), "max_gap=50ms") {
		t.Fatalf("String() = %s", s)
	}
	// Key a: the unknown put (20-30) and the failed get (60-70), 30 ms
	// apart, make one streak never closed: 50 ms.
	if s.MaxUnavailable != ms(50) || s.MaxUnavailableKey != "a" || s.MaxUnavailableAt != ms(20) {
		t.Fatalf("max unavailable %v key %q at %v", s.MaxUnavailable, s.MaxUnavailableKey, s.MaxUnavailableAt)
	}
}

// TestMaxUnavailable: a streak of unsuccessful calls on one key, closed by
// the next successful call, counts the time its calls were outstanding;
// time in which nobody asked for the key does not count, nor do other keys.
func TestMaxUnavailable(t *testing.T) {
	fail := func(key string, call, ret int) Op {
		return Op{Kind: Get, Key: key, Call: ms(call), Return: ms(ret), Outcome: Fail}
	}
	ops := h(
		put("a", "1", 0, 5, OK),
		fail("a", 10, 20),
		fail("a", 15, 40),               // overlaps the one before: 10-40 covered
		put("b", "1", 35, 36, OK),       // another key
		get("a", "1", true, 1500, 1530), // nobody asked between 40 and 1500
		fail("a", 1600, 1610),
		fail("a", 1700, 1710), // 90 ms of backoff before it counts
		get("a", "1", true, 1800, 1805),
	)
	s := Summarize(ops, 0, 0)
	if s.MaxUnavailable != ms(205) || s.MaxUnavailableKey != "a" || s.MaxUnavailableAt != ms(1600) {
		t.Fatalf("max unavailable %v key %q at %v, want 205ms (1600-1805) at 1600ms", s.MaxUnavailable, s.MaxUnavailableKey, s.MaxUnavailableAt)
	}
	s = Summarize(ops[:5], 0, 0)
	if s.MaxUnavailable != ms(60) || s.MaxUnavailableAt != ms(10) {
		t.Fatalf("max unavailable %v at %v, want 60ms (10-40 and 1500-1530, not the idle time between) at 10ms", s.MaxUnavailable, s.MaxUnavailableAt)
	}
	// A slow success alone counts its latency.
	s = Summarize(h(put("c", "1", 0, 90, OK)), 0, 0)
	if s.MaxUnavailable != ms(90) {
		t.Fatalf("a 90ms call: max unavailable %v", s.MaxUnavailable)
	}
}

// TestExplainRegister: Explain points at the first stale read of a
// register: a value overwritten before the read began, and absent after a
// write was acknowledged (registers are never deleted; the soak's stale
// read of 2026-12-08 was one).
func TestExplainRegister(t *testing.T) {
	put := func(v string, call, ret int) Op {
		return Op{Kind: Put, Key: "r", Value: v, Call: ms(call), Return: ms(ret), Outcome: OK}
	}
	get := func(v string, found bool, call, ret int) Op {
		return Op{Kind: Get, Key: "r", Value: v, Found: found, Call: ms(call), Return: ms(ret), Outcome: OK}
	}
	for _, c := range []struct {
		name string
		ops  []Op
		want int // index of the stale read, -1 for none
	}{
		{"fresh", h(get("", false, 0, 1), put("a", 2, 3), get("a", true, 4, 5)), -1},
		{"absent before the write returned", h(put("a", 0, 10), get("", false, 5, 6)), -1},
		{"absent after an acknowledged write", h(put("a", 0, 1), get("a", true, 2, 3), get("", false, 4, 5)), 2},
		{"overwritten value", h(put("a", 0, 1), put("b", 2, 3), get("a", true, 4, 5)), 2},
	} {
		i, why := Explain(c.ops)
		if i != c.want {
			t.Errorf("%s: Explain = %d (%s), want %d", c.name, i, why, c.want)
		}
	}
}
