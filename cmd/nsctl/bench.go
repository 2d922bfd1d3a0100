package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nothingshared/ns/client"
	"github.com/nothingshared/ns/kv"
)

// benchOp is an operation bench can run.
type benchOp int

const (
	opPut benchOp = iota
	opGet
	opIncr
	opDel
	numBenchOps
)

var benchOpNames = [numBenchOps]string{"put", "get", "incr", "del"}

func (o benchOp) String() string { return benchOpNames[o] }

// opWeight is one entry of --ops.
type opWeight struct {
	op     benchOp
	weight int
}

// parseOps parses --ops: "put,get" runs one phase per op, in order (like
// redis-benchmark -t set,get); "put:1,get:9" runs one phase mixing the ops
// by weight.
func parseOps(s string) (ops []opWeight, mixed bool, err error) {
	seen := map[benchOp]bool{}
	for _, part := range splitList(s) {
		name, w, hasW := strings.Cut(part, ":")
		weight := 1
		if hasW {
			mixed = true
			weight, err = strconv.Atoi(w)
			if err != nil || weight < 1 {
				return nil, false, fmt.Errorf("--ops %q: weight %q of %s must be a positive integer", s, w, name)
			}
		}
		op := benchOp(-1)
		for i, n := range benchOpNames {
			if n == name {
				op = benchOp(i)
			}
		}
		if op < 0 {
			return nil, false, fmt.Errorf("--ops %q: unknown op %q (want put, get, incr or del)", s, name)
		}
		if seen[op] {
			return nil, false, fmt.Errorf("--ops %q: %s given twice", s, name)
		}
		seen[op] = true
		ops = append(ops, opWeight{op, weight})
	}
	if len(ops) == 0 {
		return nil, false, fmt.Errorf("--ops is empty: want e.g. put,get or put:1,get:9")
	}
	return ops, mixed, nil
}

// benchConfig is the bench command's flags.
type benchConfig struct {
	requests  int
	clients   int
	opsFlag   string
	keys      int
	valueSize int
	pipeline  int
	batch     int
	duration  time.Duration
	conns     int
	keyPrefix string
	noProg    bool
	cpuProf   string

	ops   []opWeight
	mixed bool
}

func (b *benchConfig) validate() error {
	var err error
	if b.ops, b.mixed, err = parseOps(b.opsFlag); err != nil {
		return usagef("%v", err)
	}
	for _, c := range []struct {
		name string
		v    int
		min  int
	}{{"-n", b.requests, 1}, {"-c", b.clients, 1}, {"--keys", b.keys, 1}, {"--value-size", b.valueSize, 0},
		{"--pipeline", b.pipeline, 1}, {"--batch", b.batch, 1}, {"--conns", b.conns, 0}} {
		if c.v < c.min {
			return usagef("%s %d: must be at least %d", c.name, c.v, c.min)
		}
	}
	if b.batch > client.MaxBatchLimit {
		return usagef("--batch %d: at most %d", b.batch, client.MaxBatchLimit)
	}
	if b.duration < 0 {
		return usagef("--duration %v: must not be negative", b.duration)
	}
	if b.conns == 0 {
		b.conns = defaultConns(b.clients)
	}
	if b.conns > b.clients {
		b.conns = b.clients
	}
	return nil
}

// clientsPerConn is how many bench clients share one client.Client by
// default. A client.Client holds one gRPC connection and one stream per
// node and batches concurrent calls into frames; an application would
// share one across many goroutines, but one per handful of goroutines
// spreads the per-stream work (framing, HTTP/2 flow control, the batcher
// goroutine) over more goroutines, as redis-benchmark's one connection per
// client does.
const clientsPerConn = 25

func defaultConns(clients int) int { return max(1, (clients+clientsPerConn-1)/clientsPerConn) }

// benchResult is one op of a phase: what -o json prints, one per op.
type benchResult struct {
	Op        string  `json:"op"`
	Ops       uint64  `json:"ops"`
	Errors    uint64  `json:"errors"`
	Misses    uint64  `json:"misses"`
	DurationS float64 `json:"duration_s"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Us     float64 `json:"p50_us"`
	P90Us     float64 `json:"p90_us"`
	P99Us     float64 `json:"p99_us"`
	P999Us    float64 `json:"p999_us"`
	MaxUs     float64 `json:"max_us"`
	Clients   int     `json:"clients"`
	Pipeline  int     `json:"pipeline"`
	Batch     int     `json:"batch"`
	Conns     int     `json:"conns"`
	ValueSize int     `json:"value_size"`
}

func fmtMs(us float64) string { return strconv.FormatFloat(us/1e3, 'f', 3, 64) }

func renderBench(w io.Writer, format string, rs []benchResult) error {
	if rs == nil {
		rs = []benchResult{}
	}
	return render(w, format, rs, func(tw *tabwriter.Writer, wide bool) {
		row(tw, "OP", "OPS", "ERRORS", "MISSES", "OPS/S", "P50(ms)", "P90(ms)", "P99(ms)", "P99.9(ms)", "MAX(ms)")
		for _, r := range rs {
			row(tw, r.Op, r.Ops, r.Errors, r.Misses, strconv.FormatFloat(r.OpsPerSec, 'f', 0, 64),
				fmtMs(r.P50Us), fmtMs(r.P90Us), fmtMs(r.P99Us), fmtMs(r.P999Us), fmtMs(r.MaxUs))
		}
	})
}

func (a *app) benchCmd() *cobra.Command {
	b := benchConfig{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark the key-value service, in the spirit of redis-benchmark",
		Long: `bench runs key-value operations against the cluster with the Go client SDK and
prints, per op, throughput and latency percentiles (p50, p90, p99, p99.9,
max, from a log-linear histogram with 3% resolution).

-c clients each keep --pipeline requests in flight, so -c 50 --pipeline 16
means 800 concurrent calls. Clients share client.Client instances (--conns;
by default one per 25 clients): each holds one gRPC connection and one
stream per node and batches concurrent calls into stream frames, as an
application sharing a client would. With --batch N every request is one
KV batch of N operations (latency is that of the whole batch, recorded for
each of its operations).

--ops put,get runs one phase per op, in order, each of -n operations (like
redis-benchmark -t set,get); --ops put:1,get:9 runs one phase of -n
operations mixed by weight. Keys are drawn uniformly from --keys keys
("<prefix>NNNNNNNNNNNN"; incr uses "<prefix>c:NNNNNNNNNNNN" so that it
never meets a put's value); a get of an absent key counts as a miss, not an
error. --duration runs each phase for that long instead of -n operations.

Progress goes to stderr: a live bar on a terminal, a status line every
second otherwise (--no-progress for none). The table (or -o json: one
object per op with op, ops, errors, ops_per_sec, p50_us, p99_us, p999_us,
max_us, ...) goes to stdout. Exits 1 when any operation failed.`,
		Example: `  nsctl bench
  nsctl bench --ops put,get -c 50 --value-size 64 --pipeline 16 -n 1000000
  nsctl bench --ops put:1,get:9 --duration 30s -o json
  nsctl --endpoints 127.0.0.1:7700,127.0.0.1:7701,127.0.0.1:7702 bench --batch 64`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := b.validate(); err != nil {
				return err
			}
			if b.cpuProf != "" {
				f, err := os.Create(b.cpuProf)
				if err != nil {
					return usagef("--cpuprofile: %v", err)
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return failf("--cpuprofile: %v", err)
				}
				defer pprof.StopCPUProfile()
			}
			return a.bench(cmd.Context(), &b)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.IntVarP(&b.requests, "requests", "n", 100000, "operations per phase (ignored with --duration)")
	f.IntVarP(&b.clients, "clients", "c", 50, "concurrent clients")
	f.StringVar(&b.opsFlag, "ops", "put,get", "ops to run: put, get, incr, del; a list runs them in turn, op:weight mixes them")
	f.IntVar(&b.keys, "keys", 100000, "key space size")
	f.IntVar(&b.valueSize, "value-size", 64, "value size in bytes for put")
	f.IntVar(&b.pipeline, "pipeline", 1, "requests in flight per client")
	f.IntVar(&b.batch, "batch", 1, "operations per request (a KV batch when > 1)")
	f.DurationVar(&b.duration, "duration", 0, "run each phase this long instead of -n operations")
	f.IntVar(&b.conns, "conns", 0, "client.Client instances shared by the clients (0: one per 25 clients)")
	f.StringVar(&b.keyPrefix, "key-prefix", "bench:", "prefix of every key")
	f.BoolVar(&b.noProg, "no-progress", false, "do not report progress on stderr")
	f.StringVar(&b.cpuProf, "cpuprofile", "", "write a CPU profile of nsctl itself (the client side) to this file")
	return cmd
}

// benchWorker is one in-flight slot of one client: it records into its own
// histograms; only the progress counters are shared (atomically).
type benchWorker struct {
	done atomic.Uint64
	errs atomic.Uint64
	_    [48]byte // keep neighbours' counters off this cache line

	hist     [numBenchOps]*histogram
	ops      [numBenchOps]uint64
	errors   [numBenchOps]uint64
	misses   [numBenchOps]uint64
	firstErr error
}

func (w *benchWorker) hist0(op benchOp) *histogram {
	if w.hist[op] == nil {
		w.hist[op] = newHistogram()
	}
	return w.hist[op]
}

func (a *app) bench(ctx context.Context, b *benchConfig) error {
	clients := make([]*client.Client, 0, b.conns)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := 0; i < b.conns; i++ {
		c, err := a.connect(ctx, true)
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	value := make([]byte, b.valueSize)
	for i := range value {
		value[i] = 'a' + byte(rand.IntN(26))
	}

	var phases [][]opWeight
	if b.mixed {
		phases = [][]opWeight{b.ops}
	} else {
		for _, o := range b.ops {
			phases = append(phases, []opWeight{o})
		}
	}
	if !b.noProg {
		fmt.Fprintf(a.stderr, "bench: %d clients x %d in flight x batch %d on %d client(s), %d keys, %d-byte values, endpoints %s\n",
			b.clients, b.pipeline, b.batch, len(clients), b.keys, b.valueSize, strings.Join(a.endpoints, ","))
	}
	var results []benchResult
	var failed uint64
	var firstErr error
	for _, ph := range phases {
		rs, nerr, ferr := a.benchPhase(ctx, b, clients, ph, value)
		results = append(results, rs...)
		failed += nerr
		if firstErr == nil {
			firstErr = ferr
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := renderBench(a.stdout, a.output, results); err != nil {
		return err
	}
	if failed > 0 {
		return failf("%d operation(s) failed; first error: %v", failed, firstErr)
	}
	if ctx.Err() != nil {
		return failf("interrupted")
	}
	return nil
}

// appendKey appends prefix and i as 12 zero-padded digits to dst.
func appendKey(dst []byte, prefix string, i int) []byte {
	dst = append(dst, prefix...)
	var d [20]byte
	n := strconv.AppendInt(d[:0], int64(i), 10)
	for range 12 - len(n) {
		dst = append(dst, '0')
	}
	return append(dst, n...)
}

// benchPhase runs one phase and returns its results per op, the number of
// failed operations and the first error.
func (a *app) benchPhase(ctx context.Context, b *benchConfig, clients []*client.Client, ops []opWeight,
	value []byte) ([]benchResult, uint64, error) {
	dataPrefix, ctrPrefix := b.keyPrefix, b.keyPrefix+"c:"
	var names []string
	totalW := 0
	for _, o := range ops {
		names = append(names, fmt.Sprintf("%s:%d", o.op, o.weight))
		totalW += o.weight
	}
	name := ops[0].op.String()
	if len(ops) > 1 {
		name = strings.Join(names, ",")
	}
	pick := func(r *rand.Rand) benchOp {
		if len(ops) == 1 {
			return ops[0].op
		}
		x := r.IntN(totalW)
		for _, o := range ops {
			if x < o.weight {
				return o.op
			}
			x -= o.weight
		}
		return ops[len(ops)-1].op
	}

	n := int64(b.requests)
	var next atomic.Int64
	var stop atomic.Bool
	workers := make([]*benchWorker, b.clients*b.pipeline)
	var wg sync.WaitGroup
	start := time.Now()
	// Calls get the phase's context, which has a (distant) deadline: the SDK
	// then arms no timer per call (context.WithTimeout cost the client ~15%
	// of its CPU). A watchdog cancels the phase when no operation completes
	// for --timeout instead.
	ctx, cancel := context.WithDeadlineCause(ctx, start.Add(24*time.Hour), errors.New("bench: phase ran for 24h"))
	defer cancel()
	for g := range workers {
		w := &benchWorker{}
		workers[g] = w
		c := clients[(g/b.pipeline)%len(clients)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g)+1, uint64(start.UnixNano())))
			reqs := make([]kv.Request, b.batch)
			var key []byte // reused: a call's key is free again once it returns
			for ctx.Err() == nil {
				count := b.batch
				if b.duration > 0 {
					if stop.Load() {
						return
					}
				} else {
					lo := next.Add(int64(b.batch)) - int64(b.batch)
					if lo >= n {
						return
					}
					count = int(min(int64(b.batch), n-lo))
				}
				op := pick(r)
				prefix := dataPrefix
				if op == opIncr {
					prefix = ctrPrefix
				}
				if count == 1 && b.batch == 1 {
					key = appendKey(key[:0], prefix, r.IntN(b.keys))
					t0 := time.Now()
					err := benchOne(ctx, c, op, key, value)
					w.settle(op, err, time.Since(t0), 1)
					if err != nil && ctx.Err() != nil {
						key = nil // the SDK may still hold an abandoned call's key
					}
					continue
				}
				reqs = reqs[:count]
				for i := range reqs {
					reqs[i] = benchRequest(op, appendKey(nil, prefix, r.IntN(b.keys)), value)
				}
				t0 := time.Now()
				_, errs := c.Do(ctx, reqs)
				d := time.Since(t0)
				for _, err := range errs {
					w.settle(op, err, d, 1)
				}
			}
		}()
	}
	stalled := make(chan struct{})
	var watchWG sync.WaitGroup
	watchWG.Add(1)
	go func() {
		defer watchWG.Done()
		a.watchdog(ctx, cancel, workers, stalled)
	}()
	progDone := make(chan struct{})
	var progWG sync.WaitGroup
	if !b.noProg {
		progWG.Add(1)
		go func() {
			defer progWG.Done()
			a.progress(name, start, n, b.duration, workers, progDone)
		}()
	}
	if b.duration > 0 {
		select {
		case <-time.After(b.duration):
		case <-ctx.Done():
		}
		stop.Store(true)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(progDone)
	close(stalled)
	progWG.Wait()
	watchWG.Wait()

	var out []benchResult
	var failed uint64
	var firstErr error
	for _, o := range ops {
		h := newHistogram()
		r := benchResult{Op: o.op.String(), DurationS: elapsed.Seconds(), Clients: b.clients, Pipeline: b.pipeline,
			Batch: b.batch, Conns: len(clients), ValueSize: b.valueSize}
		for _, w := range workers {
			if w.hist[o.op] != nil {
				h.Merge(w.hist[o.op])
			}
			r.Ops += w.ops[o.op]
			r.Errors += w.errors[o.op]
			r.Misses += w.misses[o.op]
			if firstErr == nil && w.firstErr != nil {
				firstErr = w.firstErr
			}
		}
		failed += r.Errors
		r.OpsPerSec = float64(r.Ops) / elapsed.Seconds()
		us := func(ns uint64) float64 { return float64(ns) / 1e3 }
		r.P50Us, r.P90Us, r.P99Us, r.P999Us = us(h.Quantile(0.5)), us(h.Quantile(0.9)), us(h.Quantile(0.99)), us(h.Quantile(0.999))
		r.MaxUs = us(h.Max())
		out = append(out, r)
	}
	return out, failed, firstErr
}

// settle records one finished operation.
func (w *benchWorker) settle(op benchOp, err error, d time.Duration, n uint64) {
	w.hist0(op).Record(uint64(max(d, 0)), n)
	w.ops[op] += n
	switch {
	case err == nil:
	case errors.Is(err, client.ErrNotFound):
		w.misses[op] += n
	default:
		w.errors[op] += n
		w.errs.Add(n)
		if w.firstErr == nil {
			w.firstErr = err
		}
	}
	w.done.Add(n)
}

func benchOne(ctx context.Context, c *client.Client, op benchOp, key, value []byte) error {
	var err error
	switch op {
	case opPut:
		err = c.Put(ctx, key, value)
	case opGet:
		_, err = c.Get(ctx, key)
	case opIncr:
		_, err = c.Incr(ctx, key, 1)
	case opDel:
		_, err = c.Delete(ctx, key)
	}
	return err
}

func benchRequest(op benchOp, key, value []byte) kv.Request {
	switch op {
	case opPut:
		return kv.Request{Op: kv.OpPut, Key: key, Value: value}
	case opIncr:
		return kv.Request{Op: kv.OpIncr, Key: key, Delta: 1}
	case opDel:
		return kv.Request{Op: kv.OpDelete, Key: key}
	default:
		return kv.Request{Op: kv.OpGet, Key: key}
	}
}

// watchdog cancels the phase when no operation completes for --timeout,
// until done closes.
func (a *app) watchdog(ctx context.Context, cancel context.CancelFunc, workers []*benchWorker, done <-chan struct{}) {
	tick := time.NewTicker(min(a.timeout/4, 250*time.Millisecond))
	defer tick.Stop()
	var last uint64
	lastChange := time.Now()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			var ops uint64
			for _, w := range workers {
				ops += w.done.Load()
			}
			if ops != last {
				last, lastChange = ops, now
			} else if now.Sub(lastChange) > a.timeout {
				fmt.Fprintf(a.stderr, "bench: no operation completed for %v (--timeout); stopping\n", a.timeout)
				cancel()
				return
			}
		}
	}
}

// progress reports a phase's progress on stderr until done closes: a bar
// redrawn five times a second on a terminal, a line a second otherwise.
func (a *app) progress(name string, start time.Time, total int64, dur time.Duration, workers []*benchWorker, done <-chan struct{}) {
	tty := isTerminal(a.stderr)
	every := time.Second
	if tty {
		every = 200 * time.Millisecond
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastOps uint64
	last := start
	for {
		select {
		case <-done:
			if tty {
				fmt.Fprint(a.stderr, "\r\033[K")
			}
			return
		case now := <-tick.C:
			var ops, errs uint64
			for _, w := range workers {
				ops += w.done.Load()
				errs += w.errs.Load()
			}
			rate := float64(ops-lastOps) / now.Sub(last).Seconds()
			lastOps, last = ops, now
			frac := 0.0
			if dur > 0 {
				frac = float64(now.Sub(start)) / float64(dur)
			} else if total > 0 {
				frac = float64(ops) / float64(total)
			}
			frac = min(max(frac, 0), 1)
			if tty {
				const width = 30
				filled := int(frac * width)
				bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
				if filled < width {
					bar = bar[:filled] + ">" + bar[filled+1:]
				}
				fmt.Fprintf(a.stderr, "\r\033[K%-6s [%s] %3.0f%% %d ops  %.0f ops/s  %d errors", name, bar, frac*100, ops, rate, errs)
			} else {
				fmt.Fprintf(a.stderr, "bench %s: %d ops (%.0f%%), %.0f ops/s, %d errors, %v elapsed\n",
					name, ops, frac*100, rate, errs, now.Sub(start).Round(time.Second))
			}
		}
	}
}
