package owner

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios runs the scripts under testdata/scenarios: each builds a
// small cluster holding one partition, gives its nodes tables, cuts and
// heals the network, pauses nodes, sends writes and reads, runs pulls step
// by step, and prints what every rule decided and what every node holds.
// `check` fails the script's expectation if an acknowledged write is
// missing from the newest copy. Rewrite the expected output with
// `go test ./node/internal/owner -rewrite` and read the diff.
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		var m *model
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd != "nodes" && m == nil {
				d.Fatalf(t, "start with: nodes a b c")
			}
			if m != nil {
				m.out.Reset()
			}
			switch d.Cmd {
			case "nodes":
				var ids []string
				for _, a := range d.CmdArgs {
					ids = append(ids, a.Key)
				}
				m = newModel(ids...)
				return m.state()
			case "table":
				tb := &mtable{epoch: argUint(t, d, "epoch"), owner: argStr(d, "owner"), backups: argList(d, "backups"),
					members: argList(d, "members"), minority: d.HasArg("minority")}
				to := argList(d, "to")
				if len(to) == 0 {
					to = tb.members
				}
				for _, id := range to {
					m.nodes[id].quorum = !tb.minority
					m.setTable(id, tb, d.HasArg("gap"))
				}
			case "write":
				m.write(argStr(d, "at"), argStr(d, "w"))
			case "read":
				m.read(argStr(d, "at"))
			case "verify":
				m.verify(argStr(d, "at"))
			case "pull":
				kind := OwnerPull
				if argStr(d, "kind") == "replica" {
					kind = ReplicaPull
				}
				m.runPull(argStr(d, "at"), kind, argList(d, "dead"), d.HasArg("lose"), d.HasArg("hold"))
			case "install":
				m.installHeld(argStr(d, "at"))
			case "cut":
				for _, a := range d.CmdArgs {
					g, err := strconv.Atoi(a.Vals[0])
					if err != nil {
						d.Fatalf(t, "cut a=0 b=1: %v", err)
					}
					m.group[a.Key] = g
				}
			case "heal":
				m.group = map[string]int{}
			case "pause", "resume":
				for _, a := range d.CmdArgs {
					m.nodes[a.Key].paused = d.Cmd == "pause"
				}
			case "lapse":
				for _, a := range d.CmdArgs {
					n := m.nodes[a.Key]
					n.lease = false
					n.gen++
				}
			case "renew":
				for _, a := range d.CmdArgs {
					m.nodes[a.Key].lease = true
				}
			case "state":
				return m.state()
			case "check":
				v, _, who := m.newest()
				if lost := m.lost(); len(lost) > 0 {
					return fmt.Sprintf("LOST %s (newest copy %s on %s)", strings.Join(lost, ","), v, who)
				}
				return fmt.Sprintf("ok: %d acknowledged writes on the newest copy (%s on %s)", len(m.acked), v, who)
			default:
				d.Fatalf(t, "unknown command %q", d.Cmd)
			}
			return m.out.String()
		})
	})
}

// TestRules runs testdata/rules: each command calls one rule with the
// arguments given and prints its decision.
func TestRules(t *testing.T) {
	datadriven.RunTest(t, "testdata/rules", func(t *testing.T, d *datadriven.TestData) string {
		switch d.Cmd {
		case "plan-owned":
			tt := Tables{Continuous: d.HasArg("continuous"), Raise: d.HasArg("raise"), VerifyOnly: d.HasArg("verify-only")}
			h := Held{Status: argStatus(t, d), Dormant: d.HasArg("dormant"), Verified: d.HasArg("verified"),
				WasOwner: d.HasArg("was-owner"), HasData: d.HasArg("has-data"), Replica: d.HasArg("replica"),
				NoOtherHolder: d.HasArg("no-other-holder")}
			return PlanOwned(tt, h).String()
		case "resync":
			tt := Tables{Continuous: d.HasArg("continuous")}
			b := Backup{Exists: d.HasArg("exists"), Syncing: d.HasArg("syncing"), Orphaned: d.HasArg("orphaned"), OwnerChanged: d.HasArg("owner-changed")}
			return strconv.FormatBool(Resync(tt, b))
		case "hand":
			h := Holder{TableOwnsHere: d.HasArg("table-owns-here"), Status: argStatus(t, d), Owned: argVer(t, d, "owned"),
				HasData: d.HasArg("has-data"), MovedTo: argStr(d, "moved-to"), Fetching: d.HasArg("fetching")}
			if d.HasArg("replica") {
				h.Replica, h.ReplicaVer = true, argVer(t, d, "replica")
			}
			a := Ask{From: argStr(d, "from"), Epoch: argUint(t, d, "epoch"), TakeFenced: d.HasArg("take-fenced")}
			return Hand(h, a).String()
		case "serve":
			it := Item{Ours: d.HasArg("ours"), Status: argStatus(t, d), HasData: d.HasArg("has-data"), Dormant: d.HasArg("dormant"),
				Verified: d.HasArg("verified"), Lease: d.HasArg("lease"), Quorum: !d.HasArg("minority")}
			return Serve(it).String()
		case "replicated":
			return OnReplicated(argStatus(t, d), argUint(t, d, "own"), d.HasArg("sender-owns"), argUint(t, d, "op")).String()
		case "refuse-replicated":
			return strconv.FormatBool(RefuseReplicated(argUint(t, d, "epoch"), argUint(t, d, "fence"), argUint(t, d, "op")))
		case "choose":
			c := Copies{}
			if d.HasArg("pulled") {
				c.Pulled, c.HavePulled = argVer(t, d, "pulled"), true
			}
			if d.HasArg("fallback") {
				c.Fallback, c.HasFallback = argVer(t, d, "fallback"), true
			}
			if d.HasArg("replica") {
				c.Replica, c.HasReplica = argVer(t, d, "replica"), true
			}
			return Choose(c).String()
		case "continuous":
			return strconv.FormatBool(ContinuousTables(argUint(t, d, "told"), argUint(t, d, "epoch"), d.HasArg("gap")))
		}
		d.Fatalf(t, "unknown command %q", d.Cmd)
		return ""
	})
}

func argStr(d *datadriven.TestData, key string) string {
	for _, a := range d.CmdArgs {
		if a.Key == key && len(a.Vals) > 0 {
			return a.Vals[0]
		}
	}
	return ""
}

func argList(d *datadriven.TestData, key string) []string {
	for _, a := range d.CmdArgs {
		if a.Key == key {
			return a.Vals
		}
	}
	return nil
}

func argUint(t *testing.T, d *datadriven.TestData, key string) uint64 {
	s := argStr(d, key)
	if s == "" {
		return 0
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		d.Fatalf(t, "%s=%q: %v", key, s, err)
	}
	return v
}

// argVer parses key=epoch/lsn.
func argVer(t *testing.T, d *datadriven.TestData, key string) Version {
	s := argStr(d, key)
	if s == "" {
		return Version{}
	}
	e, l, ok := strings.Cut(s, "/")
	if !ok {
		d.Fatalf(t, "%s=%q: want epoch/lsn", key, s)
	}
	ev, err1 := strconv.ParseUint(e, 10, 64)
	lv, err2 := strconv.ParseUint(l, 10, 64)
	if err1 != nil || err2 != nil {
		d.Fatalf(t, "%s=%q: want epoch/lsn", key, s)
	}
	return Version{Epoch: ev, LSN: lv}
}

func argStatus(t *testing.T, d *datadriven.TestData) Status {
	switch s := argStr(d, "status"); s {
	case "", "none":
		return None
	case "incoming":
		return Incoming
	case "owned":
		return Owned
	case "fenced":
		return Fenced
	default:
		d.Fatalf(t, "status=%q: want none, incoming, owned or fenced", s)
	}
	return None
}
