package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/nothingshared/ns/cluster/memnet"
)

// fastMemberlist is memberlist's LAN configuration sped up for in-memory
// tests: a crashed node is declared dead within about a second.
func fastMemberlist(tr memberlist.Transport) *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Transport = tr
	mc.ProbeInterval = 200 * time.Millisecond
	mc.ProbeTimeout = 100 * time.Millisecond
	mc.SuspicionMult = 2
	mc.GossipInterval = 20 * time.Millisecond
	mc.PushPullInterval = 2 * time.Second
	mc.TCPTimeout = 2 * time.Second
	mc.DeadNodeReclaimTime = time.Nanosecond // a restarted node may reuse its id at once
	return mc
}

type testNet struct {
	t   *testing.T
	net *memnet.Network
}

func newTestNet(t *testing.T) *testNet { return &testNet{t: t, net: &memnet.Network{}} }

// config returns a Config for node id on the in-memory network.
func (n *testNet) config(id string) Config {
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.Memberlist = fastMemberlist(n.net.NewTransport(id))
	cfg.Logger = testLogger(n.t)
	cfg.Meta = Meta{GRPCAddr: "grpc-" + id + ":7700", Zone: "z1", Workers: 2, Version: "test"}
	cfg.JoinRetryInterval = 10 * time.Millisecond
	return cfg
}

// start creates and starts a node; Shutdown runs at the end of the test.
func (n *testNet) start(cfg Config) *Cluster {
	n.t.Helper()
	c, err := New(cfg)
	if err != nil {
		n.t.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	n.t.Cleanup(func() {
		if err := c.Shutdown(); err != nil {
			n.t.Errorf("Shutdown(%s): %v", cfg.NodeID, err)
		}
	})
	if err := c.Start(ctxT(n.t)); err != nil {
		n.t.Fatalf("Start(%s): %v", cfg.NodeID, err)
	}
	return c
}

// viewRecorder records the views passed to OnView and checks their order.
type viewRecorder struct {
	mu    sync.Mutex
	views []View
	err   error
}

func (r *viewRecorder) onView(v View) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.views); n > 0 && v.Epoch < r.views[n-1].Epoch && r.err == nil {
		r.err = fmt.Errorf("epoch went down: %d after %d", v.Epoch, r.views[n-1].Epoch)
	}
	r.views = append(r.views, v)
}

func (r *viewRecorder) snapshot() ([]View, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.views), r.err
}

func TestSingleNode(t *testing.T) {
	n := newTestNet(t)
	cfg := n.config("solo")
	var rec viewRecorder
	cfg.OnView = rec.onView
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	v := c.View()
	if v.Epoch != 1 || v.Local != "solo" || !slices.Equal(v.IDs(), []string{"solo"}) {
		t.Fatalf("initial view %+v", v)
	}
	if m := v.Members[0]; m.GossipAddr != c.LocalAddr() || m.Meta != cfg.Meta || m.State != StateAlive {
		t.Fatalf("local member %+v, addr %s", m, c.LocalAddr())
	}
	if c.Joined() {
		t.Fatal("Joined before Start")
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !c.Joined() {
		t.Fatal("a node without seeds is not Joined after Start")
	}
	waitFor(t, 5*time.Second, "first OnView", func() (bool, string) {
		vs, _ := rec.snapshot()
		return len(vs) == 1 && vs[0].equal(v), fmt.Sprintf("views %+v", vs)
	})
	if err := c.Start(context.Background()); !errors.Is(err, ErrAlreadyStarted) {
		t.Fatalf("second Start: %v", err)
	}
	if got := c.Members(); len(got) != 1 || got[0].ID != "solo" {
		t.Fatalf("Members() = %+v", got)
	}
	if c.LocalID() != "solo" || c.HealthScore() != 0 {
		t.Fatalf("LocalID %q HealthScore %d", c.LocalID(), c.HealthScore())
	}
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := c.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := c.Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Leave after Shutdown: %v", err)
	}
	if _, err := c.Join(context.Background(), []string{"127.0.0.1:1"}); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Join after Shutdown: %v", err)
	}
	if err := c.Start(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Start after Shutdown: %v", err)
	}
	if err := c.SetMeta(Meta{}); !errors.Is(err, ErrShutdown) {
		t.Fatalf("SetMeta after Shutdown: %v", err)
	}
}

// TestJoinConverge starts five nodes in a random order, each seeded with a
// random earlier node (some at once), and checks that all agree on one view
// with everyone's metadata, and that OnView saw epochs only increase.
func TestJoinConverge(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			n := newTestNet(t)
			ids := []string{"n1", "n2", "n3", "n4", "n5"}
			rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
			var (
				cs   []*Cluster
				recs []*viewRecorder
			)
			for i, id := range ids {
				cfg := n.config(id)
				if i > 0 {
					cfg.Join = []string{cs[rand.IntN(len(cs))].LocalAddr()}
				}
				rec := &viewRecorder{}
				cfg.OnView = rec.onView
				cs = append(cs, n.start(cfg))
				recs = append(recs, rec)
			}
			sorted := slices.Sorted(slices.Values(ids))
			start := time.Now()
			waitFor(t, 10*time.Second, "convergence", func() (bool, string) { return converged(cs, sorted...) })
			t.Logf("converged %v after the last start, epoch %d", time.Since(start), cs[0].View().Epoch)
			for _, c := range cs {
				if !c.Joined() {
					t.Errorf("%s not Joined", c.LocalID())
				}
				for _, m := range c.View().Members {
					if want := "grpc-" + m.ID + ":7700"; m.Meta.GRPCAddr != want || m.Meta.Workers != 2 || m.State != StateAlive {
						t.Errorf("%s sees %+v", c.LocalID(), m)
					}
				}
			}
			for i, rec := range recs {
				vs, err := rec.snapshot()
				if err != nil {
					t.Errorf("%s OnView: %v", ids[i], err)
				}
				if len(vs) == 0 || vs[0].Epoch < 1 {
					t.Errorf("%s OnView got %d views", ids[i], len(vs))
				}
			}
		})
	}
}

// TestJoinAllAtOnce starts five nodes concurrently, each seeded with every
// address (as with a headless service), and checks that they agree.
func TestJoinAllAtOnce(t *testing.T) {
	n := newTestNet(t)
	ids := []string{"n1", "n2", "n3", "n4", "n5"}
	var cfgs []Config
	var seeds []string
	for _, id := range ids {
		cfg := n.config(id)
		seeds = append(seeds, cfg.Memberlist.Transport.(*memnet.Transport).Addr())
		cfgs = append(cfgs, cfg)
	}
	cs := make([]*Cluster, len(ids))
	for i := range cfgs {
		cfgs[i].Join = seeds
		c, err := New(cfgs[i])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Shutdown() })
		cs[i] = c
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			if err := c.Start(ctxT(t)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "convergence", func() (bool, string) { return converged(cs, ids...) })
}

// startN starts n nodes joined through the first and waits for agreement.
func startN(t *testing.T, n *testNet, count int) []*Cluster {
	t.Helper()
	var cs []*Cluster
	var ids []string
	for i := range count {
		cfg := n.config(fmt.Sprintf("n%d", i+1))
		if i > 0 {
			cfg.Join = []string{cs[0].LocalAddr()}
		}
		cs = append(cs, n.start(cfg))
		ids = append(ids, cfg.NodeID)
	}
	waitFor(t, 10*time.Second, "convergence", func() (bool, string) { return converged(cs, ids...) })
	return cs
}

func memberState(c *Cluster, id string) State {
	for _, m := range c.Members() {
		if m.ID == id {
			return m.State
		}
	}
	return -1
}

func TestLeave(t *testing.T) {
	n := newTestNet(t)
	cs := startN(t, n, 3)
	before := cs[0].View().Epoch
	start := time.Now()
	if err := cs[2].Leave(2 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	rest := cs[:2]
	waitFor(t, 5*time.Second, "view without n3", func() (bool, string) { return converged(rest, "n1", "n2") })
	t.Logf("left node dropped after %v", time.Since(start))
	if e := cs[0].View().Epoch; e <= before {
		t.Fatalf("epoch %d after leave, was %d", e, before)
	}
	for _, c := range rest {
		if st := memberState(c, "n3"); st != StateLeft {
			t.Errorf("%s reports n3 %v, want left", c.LocalID(), st)
		}
	}
	if err := cs[2].Shutdown(); err != nil {
		t.Fatalf("Shutdown after Leave: %v", err)
	}
}

func TestCrash(t *testing.T) {
	n := newTestNet(t)
	cs := startN(t, n, 3)
	before := cs[0].View().Epoch
	start := time.Now()
	if err := cs[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	rest := cs[:2]
	waitFor(t, 10*time.Second, "view without n3", func() (bool, string) { return converged(rest, "n1", "n2") })
	t.Logf("crashed node dropped after %v", time.Since(start))
	if e := cs[0].View().Epoch; e <= before {
		t.Fatalf("epoch %d after crash, was %d", e, before)
	}
	for _, c := range rest {
		if st := memberState(c, "n3"); st != StateDead {
			t.Errorf("%s reports n3 %v, want dead", c.LocalID(), st)
		}
	}
	if ms := cs[0].Members(); len(ms) != 3 {
		t.Fatalf("Members() = %+v, want 3 including the dead one", ms)
	}
}

// TestRestartRejoin: a node that crashed and comes back under the same id
// (a new process at a new address, as a Kubernetes StatefulSet pod does)
// rejoins, and the epoch keeps growing.
func TestRestartRejoin(t *testing.T) {
	n := newTestNet(t)
	cs := startN(t, n, 3)
	first := cs[0].View().Epoch
	if err := cs[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "view without n3", func() (bool, string) { return converged(cs[:2], "n1", "n2") })
	mid := cs[0].View().Epoch
	cfg := n.config("n3")
	cfg.Join = []string{cs[0].LocalAddr()}
	again := n.start(cfg)
	all := []*Cluster{cs[0], cs[1], again}
	waitFor(t, 10*time.Second, "view with n3 again", func() (bool, string) { return converged(all, "n1", "n2", "n3") })
	if last := again.View().Epoch; !(first < mid && mid < last) {
		t.Fatalf("epochs %d, %d, %d: want increasing", first, mid, last)
	}
}

func TestMetaPropagation(t *testing.T) {
	n := newTestNet(t)
	cs := startN(t, n, 3)
	epoch := cs[0].View().Epoch
	m := Meta{GRPCAddr: "10.9.9.9:7701", Zone: "z2", Workers: 16, Version: "v2"}
	if err := cs[1].SetMeta(m); err != nil {
		t.Fatal(err)
	}
	if err := cs[1].SetMeta(Meta{Workers: -1}); !errors.Is(err, ErrBadMeta) {
		t.Fatalf("SetMeta(bad) = %v", err)
	}
	waitFor(t, 5*time.Second, "new metadata everywhere", func() (bool, string) {
		for _, c := range cs {
			got, _ := c.View().Member("n2")
			if got.Meta != m {
				return false, fmt.Sprintf("%s sees %+v", c.LocalID(), got.Meta)
			}
		}
		return true, ""
	})
	for _, c := range cs {
		if e := c.View().Epoch; e != epoch {
			t.Errorf("%s: epoch %d after a metadata change, want %d", c.LocalID(), e, epoch)
		}
	}
}

// TestDNSJoin joins through a name resolving to every node, this one
// included, without a port: the gossip port is assumed and the node's own
// address skipped.
func TestDNSJoin(t *testing.T) {
	n := newTestNet(t)
	var (
		mu    sync.Mutex
		ips   []string
		calls int
	)
	resolver := func(ctx context.Context, host string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if host != "ns-headless.default.svc.cluster.local" {
			return nil, fmt.Errorf("no such host %q", host)
		}
		return slices.Clone(ips), nil
	}
	var cs []*Cluster
	for _, id := range []string{"a", "b", "c"} {
		cfg := n.config(id)
		cfg.Join = []string{"ns-headless.default.svc.cluster.local"}
		cfg.Resolver = resolver
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Shutdown() })
		ap := netip.MustParseAddrPort(c.LocalAddr())
		if ap.Port() != 7946 {
			t.Fatalf("memnet port %d", ap.Port())
		}
		mu.Lock()
		ips = append(ips, ap.Addr().String())
		mu.Unlock()
		cs = append(cs, c)
	}
	// Only itself in DNS: not joined, keeps trying.
	if _, err := cs[0].Join(context.Background(), []string{cs[0].LocalAddr()}); !errors.Is(err, ErrNoPeers) || !errors.Is(err, ErrJoinFailed) {
		t.Fatalf("joining only itself: %v", err)
	}
	for _, c := range cs {
		if err := c.Start(ctxT(t)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "convergence", func() (bool, string) { return converged(cs, "a", "b", "c") })
	// A node can see the others (they joined it) a moment before its own
	// join call returns.
	waitFor(t, 10*time.Second, "every node joined", func() (bool, string) {
		for _, c := range cs {
			if !c.Joined() {
				return false, c.LocalID() + " not Joined"
			}
		}
		return true, ""
	})
	mu.Lock()
	defer mu.Unlock()
	if calls == 0 {
		t.Fatal("resolver never called")
	}
}

// TestJoinRetry: seeds that fail at first are retried until they answer.
func TestJoinRetry(t *testing.T) {
	n := newTestNet(t)
	seed := n.start(n.config("seed"))
	var (
		mu    sync.Mutex
		fails = 3
	)
	cfg := n.config("late")
	cfg.Join = []string{"seed.example:7946"}
	cfg.Resolver = func(ctx context.Context, host string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			return nil, errors.New("temporary DNS failure")
		}
		return []string{netip.MustParseAddrPort(seed.LocalAddr()).Addr().String()}, nil
	}
	late := n.start(cfg)
	waitFor(t, 10*time.Second, "join after retries", func() (bool, string) {
		return late.Joined(), "not joined"
	})
	waitFor(t, 5*time.Second, "convergence", func() (bool, string) { return converged([]*Cluster{seed, late}, "late", "seed") })
	mu.Lock()
	defer mu.Unlock()
	if fails != 0 {
		t.Fatalf("%d failures left", fails)
	}
}

// TestJoinedByOtherKeepsJoining: a node joined by another keeps trying its own
// seeds, so three nodes seeded in a chain (c -> b -> a) started before their
// seeds end in one cluster, not two.
func TestJoinedByOtherKeepsJoining(t *testing.T) {
	n := newTestNet(t)
	cfgA, cfgB, cfgC := n.config("a"), n.config("b"), n.config("c")
	addrOf := func(cfg Config) string { return cfg.Memberlist.Transport.(*memnet.Transport).Addr() }
	cfgB.Join = []string{addrOf(cfgA)}
	cfgC.Join = []string{addrOf(cfgB)}
	c := n.start(cfgC)
	b := n.start(cfgB)
	waitFor(t, 5*time.Second, "c joined b", func() (bool, string) { return c.Joined(), "not joined" })
	if b.Joined() {
		t.Fatal("b joined a before a started")
	}
	a := n.start(cfgA)
	waitFor(t, 10*time.Second, "convergence", func() (bool, string) { return converged([]*Cluster{a, b, c}, "a", "b", "c") })
	if !b.Joined() {
		t.Fatal("b not joined")
	}
}

// TestJoinGivesUp: the join loop ends with Start's context.
func TestJoinGivesUp(t *testing.T) {
	n := newTestNet(t)
	cfg := n.config("x")
	cfg.Join = []string{"127.0.9.9:7946"}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	if c.Joined() {
		t.Fatal("joined an address nobody has")
	}
	n2, err := c.Join(context.Background(), []string{"127.0.9.9:7946", "bad seed:x"})
	if n2 != 0 || !errors.Is(err, ErrJoinFailed) {
		t.Fatalf("Join = %d, %v", n2, err)
	}
}

// TestForeignNodeRejected: a memberlist node without ns metadata cannot join.
func TestForeignNodeRejected(t *testing.T) {
	n := newTestNet(t)
	cfg := n.config("ns")
	logs := &captureHandler{}
	cfg.Logger = slog.New(logs)
	c := n.start(cfg)
	mc := fastMemberlist(n.net.NewTransport("foreign"))
	mc.Name = "foreign"
	mc.Logger = newMemberlistLogger(testLogger(t))
	ml, err := memberlist.Create(mc)
	if err != nil {
		t.Fatal(err)
	}
	defer ml.Shutdown()
	if _, err := ml.Join([]string{c.LocalAddr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "rejection", func() (bool, string) {
		return logs.contains("ignoring alive message for 'foreign'"), "not logged"
	})
	for _, m := range c.Members() {
		if m.ID == "foreign" {
			t.Fatalf("foreign node admitted: %+v", m)
		}
	}
	if ids := c.View().IDs(); !slices.Equal(ids, []string{"ns"}) {
		t.Fatalf("view %v", ids)
	}
}

// captureHandler is a slog.Handler keeping every message.
type captureHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *captureHandler) WithGroup(string) slog.Handler            { return h }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}

func (h *captureHandler) contains(s string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func TestConfigValidate(t *testing.T) {
	base := func() Config { c := DefaultConfig(); c.NodeID = "n"; return c }
	tests := []struct {
		name string
		mod  func(*Config)
		want error
	}{
		{"default", func(*Config) {}, nil},
		{"zero ports and addr", func(c *Config) { c.BindAddr, c.BindPort, c.JoinRetryInterval, c.ReapTimeout = "", 0, 0, 0 }, nil},
		{"no id", func(c *Config) { c.NodeID = "" }, ErrNoNodeID},
		{"long id", func(c *Config) { c.NodeID = strings.Repeat("n", maxNodeID+1) }, ErrInvalidConfig},
		{"control in id", func(c *Config) { c.NodeID = "a\tb" }, ErrInvalidConfig},
		{"bind hostname", func(c *Config) { c.BindAddr = "localhost" }, ErrInvalidConfig},
		{"advertise hostname", func(c *Config) { c.AdvertiseAddr = "pod.example" }, ErrInvalidConfig},
		{"bind port", func(c *Config) { c.BindPort = 70000 }, ErrInvalidConfig},
		{"advertise port", func(c *Config) { c.AdvertisePort = -1 }, ErrInvalidConfig},
		{"advertise port on 0.0.0.0", func(c *Config) { c.BindAddr, c.AdvertisePort = "0.0.0.0", 9000 }, ErrInvalidConfig},
		{"advertise port with addr", func(c *Config) { c.BindAddr, c.AdvertiseAddr, c.AdvertisePort = "0.0.0.0", "10.0.0.1", 9000 }, nil},
		{"seeds", func(c *Config) { c.Join = []string{"10.0.0.1:7946", "ns.svc", "[::1]:1", "::1", "[fe80::1]"} }, nil},
		{"empty seed", func(c *Config) { c.Join = []string{""} }, ErrInvalidConfig},
		{"bad seed port", func(c *Config) { c.Join = []string{"ns.svc:http"} }, ErrInvalidConfig},
		{"negative retry", func(c *Config) { c.JoinRetryInterval = -1 }, ErrInvalidConfig},
		{"bad meta", func(c *Config) { c.Meta.GRPCAddr = "nope" }, ErrBadMeta},
		{"large meta", func(c *Config) { c.Meta.Zone = strings.Repeat("z", 300) }, ErrMetaTooLarge},
		{"key size", func(c *Config) { c.SecretKey = make([]byte, 10) }, ErrInvalidConfig},
		{"label size", func(c *Config) { c.Label = strings.Repeat("l", memberlist.LabelMaxSize+1) }, ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mod(&c)
			err := c.validate()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("validate() = %v, want %v", err, tt.want)
			}
			if err == nil && (c.BindAddr == "" || c.JoinRetryInterval <= 0 || c.ReapTimeout <= 0 || c.Resolver == nil || c.Logger == nil) {
				t.Fatalf("defaults not filled in: %+v", c)
			}
		})
	}
}

func TestMemberlistConfig(t *testing.T) {
	c := DefaultConfig()
	c.NodeID = "n"
	c.BindAddr, c.AdvertiseAddr = "0.0.0.0", "10.1.1.1"
	c.Label = "prod"
	custom := memberlist.DefaultLANConfig()
	custom.ProbeInterval = 42 * time.Millisecond
	c.Memberlist = custom
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	mc := c.memberlistConfig()
	if mc == custom || mc.Name != "n" || mc.BindAddr != "0.0.0.0" || mc.BindPort != 7946 || mc.AdvertiseAddr != "10.1.1.1" || mc.AdvertisePort != 7946 ||
		mc.ProbeInterval != 42*time.Millisecond || mc.Label != "prod" || mc.Logger == nil || mc.LogOutput != nil {
		t.Fatalf("memberlist config %+v", mc)
	}
	if custom.Name == "n" {
		t.Fatal("caller's memberlist config modified")
	}
	c.AdvertiseAddr, c.AdvertisePort, c.BindAddr = "", 9000, "127.0.0.1"
	if mc := c.memberlistConfig(); mc.AdvertiseAddr != "127.0.0.1" || mc.AdvertisePort != 9000 {
		t.Fatalf("advertise %s:%d", mc.AdvertiseAddr, mc.AdvertisePort)
	}
}

func TestResolveSeeds(t *testing.T) {
	resolver := func(ctx context.Context, host string) ([]string, error) {
		switch host {
		case "ns.svc":
			return []string{"10.0.0.1", "10.0.0.2", "fd00::3", "10.0.0.1"}, nil
		case "empty.svc":
			return nil, nil
		case "junk.svc":
			return []string{"not-an-ip"}, nil
		}
		return nil, errors.New("NXDOMAIN")
	}
	self := netip.MustParseAddrPort("10.0.0.2:7946")
	isSelf := func(ap netip.AddrPort) bool { return ap == self }
	tests := []struct {
		name    string
		seeds   []string
		want    []string
		errs    int
		errText string
	}{
		{"ip:port", []string{"10.0.0.9:8000"}, []string{"10.0.0.9:8000"}, 0, ""},
		{"bare ip gets default port", []string{"10.0.0.9"}, []string{"10.0.0.9:7946"}, 0, ""},
		{"ipv6", []string{"[fd00::1]:8000", "fd00::2", "[fd00::3]"}, []string{"[fd00::1]:8000", "[fd00::2]:7946", "[fd00::3]:7946"}, 0, ""},
		{"v4-mapped is unmapped", []string{"[::ffff:10.0.0.9]:1"}, []string{"10.0.0.9:1"}, 0, ""},
		{"dns, every record, self and duplicates dropped", []string{"ns.svc"}, []string{"10.0.0.1:7946", "[fd00::3]:7946"}, 0, ""},
		{"dns with port", []string{"ns.svc:9000"}, []string{"10.0.0.1:9000", "10.0.0.2:9000", "[fd00::3]:9000"}, 0, ""},
		{"self only", []string{"10.0.0.2"}, nil, 0, ""},
		{"errors are per seed", []string{"gone.svc", "empty.svc", "junk.svc", "x:y", "10.0.0.7"}, []string{"10.0.0.7:7946"}, 4, "NXDOMAIN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := resolveSeeds(context.Background(), tt.seeds, 7946, resolver, isSelf)
			if !slices.Equal(got, tt.want) || len(errs) != tt.errs {
				t.Fatalf("resolveSeeds = %v, %v; want %v and %d errors", got, errs, tt.want, tt.errs)
			}
			if tt.errText != "" && !strings.Contains(errors.Join(errs...).Error(), tt.errText) {
				t.Fatalf("errors %v lack %q", errs, tt.errText)
			}
		})
	}
}

// TestPlacementRefused: nodes that place partitions differently never
// share a view. Joining fails with ErrIncompatible, both sides record the
// refusal, and a node of the same placement still joins.
func TestPlacementRefused(t *testing.T) {
	n := newTestNet(t)
	cfgA := n.config("a")
	cfgA.Meta.Placement = 2
	a := n.start(cfgA)
	b := n.start(n.config("b")) // placement 0: version 1

	if _, err := b.Join(ctxT(t), []string{a.LocalAddr()}); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("join across placements: %v, want ErrIncompatible", err)
	}
	if err := b.Refused(); !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "--placement") {
		t.Fatalf("b.Refused() = %v", err)
	}
	waitFor(t, 5*time.Second, "a refuses b", func() (bool, string) {
		return a.Refused() != nil, "a.Refused() = nil"
	})

	cfgC := n.config("c")
	cfgC.Meta.Placement = 2
	c := n.start(cfgC)
	if _, err := c.Join(ctxT(t), []string{a.LocalAddr()}); err != nil {
		t.Fatalf("join with the same placement: %v", err)
	}
	waitFor(t, 5*time.Second, "a and c together", func() (bool, string) {
		va, vc := a.View(), c.View()
		return len(va.Members) == 2 && len(vc.Members) == 2, fmt.Sprintf("a sees %v, c sees %v", va.IDs(), vc.IDs())
	})
	if v := b.View(); len(v.Members) != 1 {
		t.Fatalf("b sees %v", v.IDs())
	}
	if err := a.SetMeta(Meta{Placement: 1}); !errors.Is(err, ErrBadMeta) {
		t.Fatalf("SetMeta changing the placement: %v, want ErrBadMeta", err)
	}
	// Placement v3 (ring.PlacementV3, --placement v3) and v2 refuse each
	// other the same way: a cluster moves from v2 to v3 only as a whole.
	cfgD := n.config("d")
	cfgD.Meta.Placement = 3
	d := n.start(cfgD)
	if _, err := d.Join(ctxT(t), []string{a.LocalAddr()}); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("a v3 node joining v2 nodes: %v, want ErrIncompatible", err)
	}
	if v := d.View(); len(v.Members) != 1 {
		t.Fatalf("d (v3) sees %v", v.IDs())
	}
}

// TestKeyHashRefused: a node placing keys by Redis Cluster slots and one
// placing them by xxhash never share a view; two of the same key hash do,
// and see each other's RESP address.
func TestKeyHashRefused(t *testing.T) {
	n := newTestNet(t)
	cfgA := n.config("a")
	cfgA.Meta.KeyHash, cfgA.Meta.RESPAddr = 1, "127.0.0.1:7379"
	a := n.start(cfgA)
	b := n.start(n.config("b"))
	if _, err := b.Join(ctxT(t), []string{a.LocalAddr()}); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("join across key hashes: %v, want ErrIncompatible", err)
	}
	if err := b.Refused(); !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "--resp-cluster") {
		t.Fatalf("b.Refused() = %v", err)
	}
	cfgC := n.config("c")
	cfgC.Meta.KeyHash, cfgC.Meta.RESPAddr = 1, "127.0.0.1:7380"
	c := n.start(cfgC)
	if _, err := c.Join(ctxT(t), []string{a.LocalAddr()}); err != nil {
		t.Fatalf("join with the same key hash: %v", err)
	}
	waitFor(t, 5*time.Second, "a sees c's RESP address", func() (bool, string) {
		for _, m := range a.View().Members {
			if m.ID == "c" && m.Meta.RESPAddr == "127.0.0.1:7380" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("a sees %+v", a.View().Members)
	})
	if err := a.SetMeta(Meta{RESPAddr: "127.0.0.1:1"}); !errors.Is(err, ErrBadMeta) {
		t.Fatalf("SetMeta changing the key hash: %v, want ErrBadMeta", err)
	}
}

// TestPing: Ping reaches a live member at the address this node's member
// table holds for it, reports the contact, and refuses an unknown or dead
// member. It reads the address from the table, not from
// memberlist.Members: memberlist rewrites the records that returns while
// alive messages arrive (a data race the lease's pings hit under -race).
func TestPing(t *testing.T) {
	n := newTestNet(t)
	var contacts atomic.Int32
	var cs []*Cluster
	for i := range 3 {
		cfg := n.config(fmt.Sprintf("n%d", i+1))
		if i == 0 {
			cfg.OnContact = func(id string, _ time.Time) {
				if id == "n2" {
					contacts.Add(1)
				}
			}
		} else {
			cfg.Join = []string{cs[0].LocalAddr()}
		}
		cs = append(cs, n.start(cfg))
	}
	waitFor(t, 10*time.Second, "convergence", func() (bool, string) { return converged(cs, "n1", "n2", "n3") })
	before := contacts.Load()
	for range 5 {
		if _, err := cs[0].Ping("n2"); err != nil {
			t.Fatalf("ping n2: %v", err)
		}
	}
	if got := contacts.Load() - before; got < 5 {
		t.Errorf("OnContact reported %d contacts with n2 over 5 pings, want at least 5", got)
	}
	if _, err := cs[0].Ping("nobody"); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("ping of an unknown member: %v, want ErrUnknownMember", err)
	}
	if err := cs[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n3 dead", func() (bool, string) {
		st := memberState(cs[0], "n3")
		return st == StateDead, st.String()
	})
	if _, err := cs[0].Ping("n3"); !errors.Is(err, ErrUnknownMember) {
		t.Errorf("ping of a dead member: %v, want ErrUnknownMember", err)
	}
}
