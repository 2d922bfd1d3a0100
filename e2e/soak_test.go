package e2e

// TestSoak (issue 13): a randomized, seeded fault schedule against five real
// nsnode processes with --backups 1 and data directories, under a contended
// workload whose every call is recorded and checked: nothing acknowledged
// lost, nothing applied twice, every key linearizable (porcupine, with each
// unknown write bounded by its caller's deadline: ns never applies a
// request after it).
//
// Knobs (environment):
//
//	NS_SOAK_DURATION  how long faults run (default 60s; `make soak`: 10m)
//	NS_SOAK_SEED      the schedule's seed (default: from the clock; always
//	                  printed: the same seed replays the same schedule)
//	NS_SOAK_FAULTS    comma list of stop,kill,term,partition (default: all
//	                  of them; partition needs root, ip and iptables, and is
//	                  left out, loudly, without them)
//	NS_SOAK_LINEAR    "assert" (the default) or "report": whether a key
//	                  that is not linearizable fails the test (loss and
//	                  duplicates are asserted either way). Network
//	                  partitions are asserted too since 2026-12-07 (issue
//	                  15: a member falsely declared dead is still asked by
//	                  takeover pulls, docs/handoff.md section 13).
//
// NS_E2E_LOGDIR keeps every node's log and the schedule.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nothingshared/ns/client"
	"github.com/nothingshared/ns/internal/history"
)

// soakConfig is the soak's environment, parsed.
type soakConfig struct {
	duration time.Duration
	seed     uint64
	faults   []string
	linear   bool
}

func soakEnv(t *testing.T) soakConfig {
	t.Helper()
	c := soakConfig{duration: time.Minute, seed: uint64(time.Now().UnixNano()), linear: true,
		faults: []string{"stop", "kill", "term", "partition"}}
	if v := os.Getenv("NS_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("NS_SOAK_DURATION=%q: want a positive duration like 10m", v)
		}
		c.duration = d
	}
	if v := os.Getenv("NS_SOAK_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("NS_SOAK_SEED=%q: want an unsigned integer", v)
		}
		c.seed = s
	}
	if v := os.Getenv("NS_SOAK_FAULTS"); v != "" {
		c.faults = nil
		for _, f := range strings.Split(v, ",") {
			switch f = strings.TrimSpace(f); f {
			case "stop", "kill", "term", "partition":
				c.faults = append(c.faults, f)
			default:
				t.Fatalf("NS_SOAK_FAULTS: unknown fault %q (want stop, kill, term, partition)", f)
			}
		}
	}
	switch v := os.Getenv("NS_SOAK_LINEAR"); v {
	case "", "assert":
	case "report":
		c.linear = false
	default:
		t.Fatalf("NS_SOAK_LINEAR=%q: want assert or report", v)
	}
	return c
}

// fault is one step of the schedule.
type fault struct {
	kind    string   // stop, kill, term, partition
	victims []string // the node stopped, killed or terminated; the cut-off side
	hold    time.Duration
	gap     time.Duration // quiet time before the fault
}

func (f fault) String() string {
	return fmt.Sprintf("%s%v hold=%v after=%v", f.kind, f.victims, f.hold.Round(time.Millisecond), f.gap.Round(time.Millisecond))
}

// schedule draws faults from rng until they fill d; the same seed gives the
// same schedule.
func schedule(rng *rand.Rand, d time.Duration, kinds, ids []string) []fault {
	span := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	var out []fault
	for total := time.Duration(0); total < d; {
		f := fault{kind: kinds[rng.IntN(len(kinds))], gap: span(4*time.Second, 8*time.Second)}
		switch f.kind {
		case "stop":
			f.victims = []string{ids[rng.IntN(len(ids))]}
			f.hold = span(time.Second, 12*time.Second)
		case "kill", "term":
			f.victims = []string{ids[rng.IntN(len(ids))]}
			f.hold = span(2*time.Second, 5*time.Second) // until the restart
		case "partition":
			perm := rng.Perm(len(ids))
			for _, i := range perm[:1+rng.IntN((len(ids)-1)/2)] {
				f.victims = append(f.victims, ids[i])
			}
			slices.Sort(f.victims)
			f.hold = span(2*time.Second, 12*time.Second)
		}
		out = append(out, f)
		total += f.gap + f.hold
	}
	return out
}

// soakLoad is the soak's workload: every client hammers a few contended
// keys (registers and counters), each call with its own deadline.
type soakLoad struct {
	rec     *history.Recorder
	regs    []string
	ctrs    []string
	timeout time.Duration
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startSoakLoad(rec *history.Recorder, clients []*client.Client, seed uint64) *soakLoad {
	l := &soakLoad{rec: rec, timeout: 2 * time.Second, stop: make(chan struct{})}
	for i := range 12 {
		l.regs = append(l.regs, fmt.Sprintf("reg-%02d", i))
	}
	for i := range 4 {
		l.ctrs = append(l.ctrs, fmt.Sprintf("ctr-%d", i))
	}
	for id, c := range clients {
		l.wg.Add(1)
		go l.run(id, c, rand.New(rand.NewPCG(seed, uint64(id))))
	}
	return l
}

func (l *soakLoad) Stop() {
	close(l.stop)
	l.wg.Wait()
}

func (l *soakLoad) run(id int, c *client.Client, rng *rand.Rand) {
	defer l.wg.Done()
	last := map[string]string{}
	tick := time.NewTicker(20 * time.Millisecond) // 50 calls/s per client
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		val := fmt.Sprintf("c%d-%d", id, i)
		reg := l.regs[rng.IntN(len(l.regs))]
		ctr := l.ctrs[rng.IntN(len(l.ctrs))]
		var op history.Op
		switch r := rng.IntN(100); {
		case r < 35:
			op = history.Op{Kind: history.Put, Key: reg, Value: val}
		case r < 65:
			op = history.Op{Kind: history.Get, Key: reg}
		case r < 75:
			exp, ok := last[reg]
			op = history.Op{Kind: history.CAS, Key: reg, Expect: exp, ExpectAbsent: !ok, Value: val}
		case r < 90:
			op = history.Op{Kind: history.Incr, Key: ctr, Delta: 1}
		default:
			op = history.Op{Kind: history.Get, Key: ctr}
		}
		op.Client, op.Timeout = id, l.timeout
		rid := l.rec.Invoke(op)
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		res := execOp(ctx, c, op)
		cancel()
		l.rec.Return(rid, res)
		switch {
		case res.Outcome != history.OK:
		case op.Kind == history.Get && res.Found:
			last[reg] = res.Value
		case op.Kind == history.Put || op.Kind == history.CAS && res.Found:
			last[reg] = val
		}
	}
}

func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: five nsnode processes under random faults")
	}
	cfg := soakEnv(t)
	ids := []string{"n1", "n2", "n3", "n4", "n5"}
	var lab *netLab
	if slices.Contains(cfg.faults, "partition") {
		if why := netLabMissing(); why != "" {
			t.Logf("SKIPPED LOUDLY: no partition faults in this soak: %s", why)
			cfg.faults = slices.DeleteFunc(cfg.faults, func(f string) bool { return f == "partition" })
		} else {
			lab = newNetLab(t, ids...)
		}
	}
	if len(cfg.faults) == 0 {
		t.Fatal("NS_SOAK_FAULTS leaves no fault to run")
	}
	rng := rand.New(rand.NewPCG(cfg.seed, 0x5eed))
	plan := schedule(rng, cfg.duration, cfg.faults, ids)
	t.Logf("soak: seed %d (NS_SOAK_SEED=%d replays this schedule), %v of faults %v: %d faults; linearizability %s", cfg.seed, cfg.seed, cfg.duration, cfg.faults, len(plan), map[bool]string{true: "asserted", false: "reported"}[cfg.linear])

	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration+10*time.Minute)
	defer cancel()
	fc := newFaultCluster(ctx, t, "--backups", "1", "--fsync", "batch", "--shutdown-timeout", "20s")
	data := t.TempDir()
	for _, id := range ids {
		fc.perNode[id] = []string{"--data-dir", filepath.Join(data, id)}
		if lab != nil {
			ip := lab.ip[id]
			fc.addrs[id] = nodeAddrs{grpc: ip + ":7700", gossip: ip + ":7946", http: ip + ":7780", resp: ip + ":7379"}
			fc.netns[id] = lab.ns[id]
		}
	}
	for _, id := range ids {
		fc.start(id)
	}
	fc.settled(60*time.Second, ids...)
	fc.replicated(60*time.Second, ids...)

	rec := history.NewRecorder()
	var clients []*client.Client
	for range 8 {
		clients = append(clients, newClient(ctx, t, fc.grpcAddrs()))
	}
	load := startSoakLoad(rec, clients, cfg.seed)
	journal := soakJournal(t)
	note := func(format string, args ...any) {
		line := fmt.Sprintf("%9v ", rec.Now().Round(time.Millisecond)) + fmt.Sprintf(format, args...)
		t.Log(line)
		fmt.Fprintln(journal, line)
	}
	counts := map[string]int{}
	for i, f := range plan {
		time.Sleep(f.gap)
		note("fault %d/%d: %v", i+1, len(plan), f)
		counts[f.kind]++
		runFault(t, fc, lab, f, note)
		took := fc.settled(2*time.Minute, ids...)
		note("fault %d settled %v after it ended", i+1, took.Round(time.Millisecond))
		if t.Failed() {
			break
		}
	}
	time.Sleep(2 * time.Second)
	load.Stop()
	quiet := rec.Now()
	readBack(t, clients[0], rec, 60*time.Second)
	ops := rec.Ops()
	stats := history.Summarize(ops, 0, quiet)
	writes := history.CheckWrites(ops, history.Finals(ops, quiet))
	dir := ""
	if os.Getenv("NS_E2E_LOGDIR") != "" {
		dir = logDir(t)
	}
	linear := history.CheckLinearizableOpts(ops, history.LinearOptions{Timeout: max(time.Minute, cfg.duration/2), Dir: dir, Slack: time.Second})
	t.Logf("FIGURES soak seed=%d duration=%v faults=%v: %s | %s | linear (bounded unknowns): %s", cfg.seed, cfg.duration, counts, stats, writes, linear)
	for i, v := range writes.Violations {
		if i == 20 {
			t.Logf("... %d more violations", len(writes.Violations)-i)
			break
		}
		t.Errorf("%v", v)
	}
	if len(writes.Unchecked) > 0 {
		t.Errorf("%d written keys have no final read, e.g. %q", len(writes.Unchecked), writes.Unchecked[0])
	}
	if len(linear.TimedOut) > 0 {
		t.Errorf("the linearizability checker timed out on %d keys %v: counted as a failure", len(linear.TimedOut), linear.TimedOut)
	}
	if len(linear.Illegal) > 0 {
		byKey := history.ByKey(ops)
		for _, k := range linear.Illegal {
			explainKey(t, k, byKey[k])
		}
		msg := fmt.Sprintf("%d keys not linearizable: %v (visualizations: %v; seed %d)", len(linear.Illegal), linear.Illegal, linear.Files, cfg.seed)
		if cfg.linear {
			t.Error(msg)
		} else {
			t.Log("not asserted (NS_SOAK_LINEAR=report): " + msg)
		}
	}
	if t.Failed() {
		t.Logf("replay with NS_SOAK_SEED=%d NS_SOAK_DURATION=%v NS_SOAK_FAULTS=%s", cfg.seed, cfg.duration, strings.Join(cfg.faults, ","))
	}
}

// runFault applies f and ends it: the process is running again, the cut
// healed.
func runFault(t *testing.T, fc *faultCluster, lab *netLab, f fault, note func(string, ...any)) {
	t.Helper()
	switch f.kind {
	case "stop":
		p := fc.nodes[f.victims[0]]
		p.pause()
		time.Sleep(f.hold)
		p.signal(syscall.SIGCONT)
		note("resumed %s", p.id)
	case "kill":
		p := fc.nodes[f.victims[0]]
		p.kill()
		time.Sleep(f.hold)
		fc.start(p.id)
		note("restarted %s", p.id)
	case "term":
		p := fc.nodes[f.victims[0]]
		began := time.Now()
		if err := p.terminate(60 * time.Second); err != nil {
			t.Errorf("%s after SIGTERM: %v (want exit 0)", p.id, err)
		}
		note("%s left in %v", p.id, time.Since(began).Round(time.Millisecond))
		time.Sleep(f.hold)
		fc.start(p.id)
		note("restarted %s", p.id)
	case "partition":
		var rest []string
		for _, id := range fc.ids() {
			if !slices.Contains(f.victims, id) {
				rest = append(rest, id)
			}
		}
		lab.cut(f.victims, rest)
		time.Sleep(f.hold)
		lab.heal()
		note("healed %v", f.victims)
	}
}

// explainKey logs where key's history first goes wrong (history.Explain)
// with the operations around it, and writes the whole history to the log
// directory.
func explainKey(t *testing.T, key string, hist []history.Op) {
	t.Helper()
	var b strings.Builder
	for _, op := range hist {
		fmt.Fprintln(&b, op)
	}
	path := filepath.Join(logDir(t), "history-"+key+".txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Log(err)
	}
	i, why := history.Explain(hist)
	if i < 0 {
		t.Logf("key %q (%d ops, in %s): no plain stale read found; see the visualization", key, len(hist), path)
		return
	}
	t.Logf("key %q (%d ops, in %s): %s; around it:", key, len(hist), path, why)
	for _, op := range hist[max(0, i-25):min(len(hist), i+10)] {
		t.Logf("  %v", op)
	}
}

// soakJournal is where the schedule, as it ran, is written: a file in
// NS_E2E_LOGDIR when set.
func soakJournal(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(logDir(t), "schedule.txt"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
