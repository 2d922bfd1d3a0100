// Package sim runs N ns nodes in one process, with no socket: the real node/
// on in-memory gRPC (internal/bufnet, through node.Config.Listen and Dial)
// and real memberlist gossip on cluster/memnet. It measures what issue 18
// asks of a cluster at size N: how long until every node agrees on the
// partition table after a join, a graceful leave and a crash; the gossip
// traffic per node at rest and during those events; the process CPU per
// node; and the partitions each event moves against the ideal.
//
// memberlist runs on the wall clock. Config.Scale multiplies every
// memberlist interval and timeout (1 is memberlist's LAN defaults); the
// report gives times as measured and divided by Scale ("simulated").
//
// cmd/nssim wires flags to Run and prints the report; `make sim` runs it.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/nothingshared/ns/cluster/memnet"
	"github.com/nothingshared/ns/internal/bufnet"
	"github.com/nothingshared/ns/internal/clustertest"
	"github.com/nothingshared/ns/node"
	"github.com/nothingshared/ns/ring"
)

// Config shapes one simulation.
type Config struct {
	// Nodes is the cluster size N before the events. Required, at least 3.
	Nodes int
	// Partitions is the partition count; 0 means PartitionsFor(Nodes).
	Partitions int
	// Backups is the backup count per partition.
	Backups int
	// Workers is the worker count per node; 0 means 1.
	Workers int
	// NoCompression turns memberlist's compression off (LAN default: on).
	NoCompression bool
	// DisableQuorum sets node.Config.DisableQuorum: the serving lease never
	// lapses (its keeper still pings).
	DisableQuorum bool
	// Scale multiplies memberlist's LAN intervals and timeouts; 0 means 1.
	Scale float64
	// Batch is how many nodes start at once during bootstrap, each batch
	// once the previous agreed; 0 means 10.
	Batch int
	// Rest is how long traffic and CPU are measured with no event; 0 means
	// 10s.
	Rest time.Duration
	// Timeout bounds each wait for agreement; 0 means 2 minutes.
	Timeout time.Duration
	// Logger receives the nodes' logs; nil discards them.
	Logger *slog.Logger
	// HeapProfile, if set, is a file that receives a heap profile once
	// the nodes agreed after bootstrap.
	HeapProfile string
	// Progress, if set, receives a line per step.
	Progress io.Writer
}

// PartitionsFor returns the partition count the simulation uses for n
// members: the default 271 up to 64 members, then the smallest power of two
// from 1024 to 16384 with at least 16 partitions per member (2048 at 100,
// 16384 at 1000).
func PartitionsFor(n int) int {
	if n <= 64 {
		return ring.DefaultPartitions
	}
	p := 1024
	for p < 16*n && p < 16384 {
		p *= 2
	}
	return p
}

// Traffic is gossip traffic per live node per second, and process CPU per
// node, over a window.
type Traffic struct {
	Window        time.Duration
	Packets       float64 // packets sent per node per second
	PacketBytes   float64 // their bytes per node per second
	Streams       float64 // streams opened per node per second
	StreamBytes   float64 // their bytes (both ways) per node per second
	CPUPerNode    float64 // process CPU seconds per second, divided by the live nodes
	ProcessCPU    float64 // process CPU seconds per second (at most the cores)
	DroppedPerSec float64 // packets dropped per second, whole network
}

// Bytes returns packet and stream bytes per node per second.
func (t Traffic) Bytes() float64 { return t.PacketBytes + t.StreamBytes }

// Event is one membership change and what it cost.
type Event struct {
	Name      string        // join, leave or crash
	Members   int           // live members after it
	Placement time.Duration // until every live node had a table of Members members with the same hash (placement)
	Agree     time.Duration // until they also had the same epoch: the same table; 0 if never
	Ready     time.Duration // until every live node was also ready (no partition incoming); 0 if never
	Moved     int           // partitions whose owner changed
	Changed   int           // partitions whose owner or backups changed
	Ideal     float64       // partitions an ideal placement moves: P/(N+1) on a join, P/N on a leave or crash
	Traffic   Traffic       // over [event, Ready] (or the timeout)
	Err       string        // why it did not agree
	NotReady  string        // why the nodes were not all ready after it
}

// Report is the outcome of Run.
type Report struct {
	Config     Config
	Bootstrap  time.Duration // from the first Start until all Nodes agreed
	Ready      time.Duration // from the first Start until all were also ready; 0 if never
	NotReady   string        // why they were not
	Rest       Traffic
	Events     []Event
	HeapBytes  uint64 // heap in use after bootstrap
	Goroutines int    // after bootstrap
	Started    time.Time
	Took       time.Duration
}

// Run starts cfg.Nodes nodes, waits for agreement, measures them at rest,
// then a join, a graceful leave and a crash, and shuts everything down.
func Run(ctx context.Context, cfg Config) (rep Report, err error) {
	if cfg.Nodes < 3 {
		return rep, errors.New("sim: at least 3 nodes")
	}
	if cfg.Partitions == 0 {
		cfg.Partitions = PartitionsFor(cfg.Nodes)
	}
	if cfg.Workers == 0 {
		cfg.Workers = 1
	}
	if cfg.Scale == 0 {
		cfg.Scale = 1
	}
	if cfg.Batch == 0 {
		cfg.Batch = 10
	}
	if cfg.Rest == 0 {
		cfg.Rest = 10 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rep.Config, rep.Started = cfg, time.Now()
	s := &sim{cfg: cfg, grpc: &bufnet.Network{}, gossip: &memnet.Network{}}
	defer func() {
		if err != nil {
			s.progress("%v", err)
		}
		s.progress("stopping %d nodes", len(s.live()))
		s.stopAll()
		rep.Took = time.Since(rep.Started)
	}()

	s.progress("starting %d nodes, %d partitions, %d backups, memberlist intervals x%g", cfg.Nodes, cfg.Partitions, cfg.Backups, cfg.Scale)
	begin := time.Now()
	for i := 0; i < cfg.Nodes; i += cfg.Batch {
		for j := i; j < min(i+cfg.Batch, cfg.Nodes); j++ {
			if err := s.start(j); err != nil {
				return rep, err
			}
		}
		if _, err := s.waitAgreed(ctx, len(s.nodes), false, time.Now(), cfg.Timeout); err != nil {
			return rep, fmt.Errorf("sim: bootstrap at %d nodes: %w", len(s.nodes), err)
		}
		if len(s.nodes) < cfg.Nodes {
			s.progress("bootstrap: %d nodes agree after %v", len(s.nodes), time.Since(begin).Round(time.Millisecond))
		}
	}
	rep.Bootstrap = time.Since(begin)
	s.progress("bootstrap: %d nodes agree after %v", cfg.Nodes, rep.Bootstrap.Round(time.Millisecond))
	if d, err := s.waitReady(ctx, begin, cfg.Timeout); err != nil {
		rep.NotReady = err.Error()
		s.progress("bootstrap: %v", err)
	} else {
		rep.Ready = d
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rep.HeapBytes, rep.Goroutines = ms.HeapInuse, runtime.NumGoroutine()
	if cfg.HeapProfile != "" {
		if err := writeHeapProfile(cfg.HeapProfile); err != nil {
			return rep, err
		}
	}

	s.progress("at rest for %v", cfg.Rest)
	m := s.meter()
	select {
	case <-time.After(cfg.Rest):
	case <-ctx.Done():
		return rep, ctx.Err()
	}
	rep.Rest = m.read(len(s.live()))

	// A join: one more node, seeded by node 0.
	rep.Events = append(rep.Events, s.event(ctx, "join", cfg.Nodes+1, func() error { return s.start(cfg.Nodes) }))
	// A graceful leave of a node in the middle.
	leaver := s.nodes[cfg.Nodes/2]
	done := make(chan error, 1)
	rep.Events = append(rep.Events, s.event(ctx, "leave", cfg.Nodes, func() error {
		s.drop(leaver)
		go func() {
			sctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
			defer cancel()
			done <- leaver.Shutdown(sctx)
		}()
		return nil
	}))
	if err := <-done; err != nil {
		s.progress("leave: shutdown: %v", err)
	}
	// A crash: no leave, no handoff; gossip must detect it.
	crashed := s.nodes[cfg.Nodes/3]
	rep.Events = append(rep.Events, s.event(ctx, "crash", cfg.Nodes-1, func() error {
		s.drop(crashed)
		crashed.Abort()
		return nil
	}))
	return rep, nil
}

type sim struct {
	cfg    Config
	grpc   *bufnet.Network
	gossip *memnet.Network
	nodes  []*node.Node // every node started, in order
	gone   map[*node.Node]bool
}

func (s *sim) progress(format string, a ...any) {
	if s.cfg.Progress != nil {
		fmt.Fprintf(s.cfg.Progress, "%s  N=%d  %s\n", time.Now().UTC().Format("15:04:05"), s.cfg.Nodes, fmt.Sprintf(format, a...))
	}
}

// memberlistConfig returns memberlist's LAN configuration with every
// interval and timeout multiplied by scale.
func memberlistConfig(scale float64) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	d := func(v *time.Duration) { *v = time.Duration(float64(*v) * scale) }
	for _, v := range []*time.Duration{&mc.ProbeInterval, &mc.ProbeTimeout, &mc.GossipInterval,
		&mc.PushPullInterval, &mc.GossipToTheDeadTime, &mc.TCPTimeout} {
		d(v)
	}
	return mc
}

func (s *sim) start(i int) error {
	cfg := node.DefaultConfig()
	cfg.NodeID = fmt.Sprintf("s%04d", i)
	cfg.HTTPAddr, cfg.RESPAddr = "", ""
	cfg.Worker.Workers = s.cfg.Workers
	cfg.Ring.Partitions = s.cfg.Partitions
	cfg.Ring.Backups = s.cfg.Backups
	cfg.Logger = s.cfg.Logger
	cfg.DisableQuorum = s.cfg.DisableQuorum
	cfg.Cluster.Memberlist = memberlistConfig(s.cfg.Scale)
	cfg.Cluster.Memberlist.EnableCompression = !s.cfg.NoCompression
	cfg.Cluster.JoinRetryInterval = time.Duration(float64(time.Second) * s.cfg.Scale)
	cfg.Cluster.ReapTimeout = time.Hour
	clustertest.InMemory(&cfg, i, s.grpc, s.gossip)
	// Seeds: the first three nodes (which never leave or crash).
	for j := range min(i, 3) {
		cfg.Cluster.Join = append(cfg.Cluster.Join, s.nodes[j].GossipAddr())
	}
	n, err := node.New(cfg)
	if err != nil {
		return fmt.Errorf("sim: node %d: %w", i, err)
	}
	if err := n.Start(context.Background()); err != nil {
		return fmt.Errorf("sim: node %d: start: %w", i, err)
	}
	s.nodes = append(s.nodes, n)
	return nil
}

func (s *sim) drop(n *node.Node) {
	if s.gone == nil {
		s.gone = map[*node.Node]bool{}
	}
	s.gone[n] = true
}

func (s *sim) live() []*node.Node {
	var out []*node.Node
	for _, n := range s.nodes {
		if !s.gone[n] {
			out = append(out, n)
		}
	}
	return out
}

// stopAll aborts every live node, all at once.
func (s *sim) stopAll() {
	var wg sync.WaitGroup
	for _, n := range s.live() {
		wg.Go(n.Abort)
	}
	wg.Wait()
}

// waitAgreed polls until every live node has a table of want members with
// the same hash (placement) and, if epoch, the same epoch, and returns that
// table.
func (s *sim) waitAgreed(ctx context.Context, want int, epoch bool, since time.Time, timeout time.Duration) (*ring.Table, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	why := ""
	for {
		t, w := agreed(s.live(), want, epoch)
		if t != nil {
			return t, nil
		}
		why = w
		if time.Since(since) > timeout {
			return nil, fmt.Errorf("no agreement after %v: %s", timeout, why)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func agreed(nodes []*node.Node, want int, epoch bool) (*ring.Table, string) {
	first := nodes[0].Table()
	if len(first.Members()) != want {
		return nil, fmt.Sprintf("%s has %d members, want %d", nodes[0].ID(), len(first.Members()), want)
	}
	for _, n := range nodes[1:] {
		t := n.Table()
		if (epoch && t.Epoch() != first.Epoch()) || t.Hash() != first.Hash() {
			return nil, fmt.Sprintf("%s has epoch %d/%x, %s %d/%x", n.ID(), t.Epoch(), t.Hash(), nodes[0].ID(), first.Epoch(), first.Hash())
		}
	}
	return first, ""
}

// waitReady polls until every live node is ready.
func (s *sim) waitReady(ctx context.Context, since time.Time, timeout time.Duration) (time.Duration, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		why := ""
		for _, n := range s.live() {
			if ok, w := n.Ready(); !ok {
				why = n.ID() + ": " + w
				break
			}
		}
		if why == "" {
			return time.Since(since), nil
		}
		if time.Since(since) > timeout {
			return 0, fmt.Errorf("not ready after %v: %s", timeout, why)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// event runs do, then measures until every live node agrees on a table of
// members members and is ready.
func (s *sim) event(ctx context.Context, name string, members int, do func() error) (ev Event) {
	ev.Name, ev.Members = name, members
	before, why := agreed(s.live(), len(s.live()), false)
	if before == nil {
		ev.Err = "no agreement before the event: " + why
		return ev
	}
	s.progress("%s (%d members after it)", name, members)
	m := s.meter()
	begin := time.Now()
	if err := do(); err != nil {
		ev.Err = err.Error()
		return ev
	}
	after, err := s.waitAgreed(ctx, members, false, begin, s.cfg.Timeout)
	if err != nil {
		ev.Err = err.Error()
		ev.Traffic = m.read(len(s.live()))
		return ev
	}
	ev.Placement = time.Since(begin)
	if _, err := s.waitAgreed(ctx, members, true, begin, s.cfg.Timeout); err != nil {
		ev.Err = err.Error()
	} else {
		ev.Agree = time.Since(begin)
	}
	if d, err := s.waitReady(ctx, begin, s.cfg.Timeout); err != nil {
		ev.NotReady = err.Error()
	} else {
		ev.Ready = d
	}
	ev.Traffic = m.read(len(s.live()))
	for _, mv := range ring.Diff(before, after) {
		ev.Changed++
		if mv.OwnerChanged() {
			ev.Moved++
		}
	}
	p := float64(s.cfg.Partitions)
	if name == "join" {
		ev.Ideal = p / float64(members)
	} else {
		ev.Ideal = p / float64(members+1)
	}
	s.progress("%s: same placement in %v, same table in %v, ready in %v, %d partitions moved (ideal %.1f)", name, ev.Placement.Round(time.Millisecond), ev.Agree.Round(time.Millisecond), ev.Ready.Round(time.Millisecond), ev.Moved, ev.Ideal)
	return ev
}

// meter is a starting point for Traffic.
type meter struct {
	net   *memnet.Network
	at    time.Time
	stats memnet.Stats
	cpu   time.Duration
}

func (s *sim) meter() meter {
	return meter{net: s.gossip, at: time.Now(), stats: s.gossip.Stats(), cpu: processCPU()}
}

func (m meter) read(nodes int) Traffic {
	d := time.Since(m.at)
	st := m.net.Stats()
	sec := d.Seconds()
	per := func(v uint64) float64 { return float64(v) / sec / float64(nodes) }
	cpu := (processCPU() - m.cpu).Seconds() / sec
	return Traffic{
		Window:        d,
		Packets:       per(st.Packets - m.stats.Packets),
		PacketBytes:   per(st.PacketBytes - m.stats.PacketBytes),
		Streams:       per(st.Streams - m.stats.Streams),
		StreamBytes:   per(st.StreamBytes - m.stats.StreamBytes),
		CPUPerNode:    cpu / float64(nodes),
		ProcessCPU:    cpu,
		DroppedPerSec: float64(st.Dropped-m.stats.Dropped) / sec,
	}
}

// processCPU returns the user and system CPU time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("sim: heap profile: %w", err)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("sim: heap profile: %w", err)
	}
	return f.Close()
}
