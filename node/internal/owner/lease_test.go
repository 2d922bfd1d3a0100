package owner

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

func TestLeaseUntil(t *testing.T) {
	const T = 4 * time.Second
	for _, tc := range []struct {
		name     string
		contacts []time.Duration
		agreed   int
		want     time.Duration
	}{
		{"alone", nil, 1, math.MaxInt64},
		{"two: half is itself", nil, 2, math.MaxInt64},
		{"three, nobody heard", nil, 3, math.MinInt64},
		{"three, one heard", []time.Duration{100}, 3, 100 + T},
		{"three, newest counts", []time.Duration{100, 700}, 3, 700 + T},
		{"four: one other makes half", []time.Duration{5, 900, 40}, 4, 900 + T},
		{"five: the second newest", []time.Duration{100, 300, 200, 50}, 5, 200 + T},
		{"five, one heard", []time.Duration{300}, 5, math.MinInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LeaseUntil(tc.contacts, tc.agreed, T); got != tc.want {
				t.Fatalf("LeaseUntil(%v, %d) = %d, want %d", tc.contacts, tc.agreed, got, tc.want)
			}
		})
	}
}

// TestLeaseScript runs testdata/lease: a node's serving lease with time as
// an input (grant, expiry, a pause, the lease back), and the other side of
// it: when the rest of the cluster may take the node's partitions over, so
// that a script shows the lease ending first, and by how much, also with a
// clock that runs at another rate.
//
//	lease self=a members=(a,b,c) timeout=1.2s [disabled]
//	members (a,b,c,d,e)             the last agreed members change
//	contact id=b at=100ms           a probe or call b answered, sent at 100ms
//	step at=200ms                   the keeper's round
//	serve at=1s                     may the node serve at 1s (its clock)?
//	takeover probe=400ms failed=1.2s [rate=1.0]
//	    the others' failure detector: the first probe of a that failed
//	    (sent at 1.2s, after every contact a counted), the probe interval
//	    (a probe fails at its end) and the suspicion timeout: a is declared
//	    dead no sooner than failed + probe + timeout (real time). rate: a's
//	    clock runs at rate times real time (0.8: slower), from the contact
//	    that set its lease on, so its timeout takes timeout/rate.
func TestLeaseScript(t *testing.T) {
	datadriven.RunTest(t, "testdata/lease", func(t *testing.T, d *datadriven.TestData) string {
		return leaseCmd(t, d)
	})
}

var leaseState struct {
	l       *Lease
	members []string
	timeout time.Duration
}

func leaseCmd(t *testing.T, d *datadriven.TestData) string {
	st := &leaseState
	dur := func(key string) time.Duration {
		s := argStr(d, key)
		v, err := time.ParseDuration(s)
		if err != nil {
			d.Fatalf(t, "%s=%q: %v", key, s, err)
		}
		return v
	}
	show := func(u time.Duration) string {
		switch u {
		case math.MaxInt64:
			return "never"
		case math.MinInt64:
			return "ended"
		}
		return u.String()
	}
	var b strings.Builder
	switch d.Cmd {
	case "lease":
		st.l = NewLease(argStr(d, "self"))
		st.l.Disabled = d.HasArg("disabled")
		st.members = argList(d, "members")
		st.timeout = dur("timeout")
	case "members":
		st.members = nil
		for _, a := range d.CmdArgs {
			st.members = append(st.members, a.Key)
		}
	case "contact":
		st.l.Note(argStr(d, "id"), dur("at"))
	case "step":
		eff := st.l.Step(dur("at"), st.members, st.timeout)
		if eff.Lapsed {
			fmt.Fprintf(&b, "lapsed %v ago: generation %d\n", eff.LapsedFor, st.l.Gen)
		}
		if eff.Back {
			fmt.Fprintf(&b, "back after %v: verify every owned partition\n", eff.BackAfter)
		}
		if len(eff.Ping) > 0 {
			fmt.Fprintf(&b, "ping %v\n", eff.Ping)
			for _, id := range eff.Ping {
				st.l.PingDone(id)
			}
		}
		fmt.Fprintf(&b, "until %s, generation %d\n", show(st.l.Until), st.l.Gen)
	case "serve":
		at := dur("at")
		if st.l.Valid(at) {
			fmt.Fprintf(&b, "serves (lease until %s)\n", show(st.l.Until))
		} else {
			fmt.Fprintf(&b, "serves nothing (lease ended at %s)\n", show(st.l.Until))
		}
	case "takeover":
		rate := 1.0
		if s := argStr(d, "rate"); s != "" {
			if _, err := fmt.Sscanf(s, "%g", &rate); err != nil || rate <= 0 {
				d.Fatalf(t, "rate=%q: want a positive number", s)
			}
		}
		dead := dur("failed") + dur("probe") + st.timeout
		end := st.l.Until
		if end != math.MaxInt64 && end != math.MinInt64 {
			// The clocks agree at the contact that set the lease; a's
			// timeout then takes timeout/rate of real time.
			end = end - st.timeout + time.Duration(float64(st.timeout)/rate)
		}
		fmt.Fprintf(&b, "the others may take over from %v (real time); a's lease ends at %s (real time)\n", dead, show(end))
		switch {
		case end == math.MaxInt64:
			b.WriteString("UNSAFE: the lease never ends\n")
		case end <= dead:
			fmt.Fprintf(&b, "safe: margin %v\n", dead-end)
		default:
			fmt.Fprintf(&b, "UNSAFE: both may serve for %v\n", end-dead)
		}
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	return b.String()
}
