package client

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nothingshared/ns/client/internal/fakecluster"
	"github.com/nothingshared/ns/kv"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"default", func(*Config) {}, true},
		{"zero fields", func(c *Config) { *c = Config{Endpoints: []string{"x:1"}} }, true},
		{"no endpoints", func(c *Config) { c.Endpoints = nil }, false},
		{"empty endpoint", func(c *Config) { c.Endpoints = []string{""} }, false},
		{"batch too large", func(c *Config) { c.MaxBatch = MaxBatchLimit + 1 }, false},
		{"batch at limit", func(c *Config) { c.MaxBatch = MaxBatchLimit }, true},
		{"negative timeout", func(c *Config) { c.RequestTimeout = -1 }, false},
		{"negative in flight", func(c *Config) { c.MaxInFlight = -1 }, false},
		{"negative breaker", func(c *Config) { c.BreakerFailures = -1 }, false},
		{"negative retries means none", func(c *Config) { c.MaxRetries = -1 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mod(&cfg)
			err := cfg.validate()
			if (err == nil) != tt.ok {
				t.Fatalf("validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not match ErrInvalidConfig", err)
			}
		})
	}
}

func TestNewNoEndpoint(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	_, err = New(ctxT(t), Config{Endpoints: []string{addr}, Logger: testLogger(t)})
	if !errors.Is(err, ErrNoEndpoint) {
		t.Fatalf("New = %v, want ErrNoEndpoint", err)
	}
	want := "cannot reach " + addr + ": is nsnode running? use --endpoints"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
	if _, err := New(ctxT(t), Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New without endpoints = %v, want ErrInvalidConfig", err)
	}
}

func TestNewSkipsDeadEndpoint(t *testing.T) {
	fc := newCluster(t, fakecluster.TCP, 2)
	fc.Nodes()[0].Stop()
	cfg := testConfig(t, fc)
	cfg.Endpoints = fc.Addrs() // the first is down
	c := newClient(t, cfg)
	if got := c.Table().Epoch(); got != 1 {
		t.Fatalf("epoch %d, want 1", got)
	}
}

func TestKV(t *testing.T) {
	for _, nw := range networks {
		t.Run(nw.name, func(t *testing.T) {
			fc := newCluster(t, nw.net, 2)
			c := newClient(t, testConfig(t, fc))
			ctx := ctxT(t)
			k := []byte("greeting")

			if _, err := c.Get(ctx, k); !errors.Is(err, ErrNotFound) || !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("Get absent = %v, want ErrNotFound", err)
			}
			if err := c.Put(ctx, k, []byte("hello")); err != nil {
				t.Fatal(err)
			}
			if v, err := c.Get(ctx, k); err != nil || string(v) != "hello" {
				t.Fatalf("Get = %q, %v", v, err)
			}
			if err := c.PutTTL(ctx, k, []byte("bye"), time.Hour); err != nil {
				t.Fatal(err)
			}
			if v, ttl, err := c.GetWithTTL(ctx, k); err != nil || string(v) != "bye" || ttl <= 0 || ttl > time.Hour {
				t.Fatalf("GetWithTTL = %q, %v, %v", v, ttl, err)
			}
			if err := c.PutTTL(ctx, k, []byte("x"), -time.Second); !errors.Is(err, ErrInvalidTTL) {
				t.Fatalf("PutTTL negative = %v, want ErrInvalidTTL", err)
			}
			if existed, err := c.Delete(ctx, k); err != nil || !existed {
				t.Fatalf("Delete = %v, %v", existed, err)
			}
			if existed, err := c.Delete(ctx, k); err != nil || existed {
				t.Fatalf("Delete again = %v, %v", existed, err)
			}
			if n, err := c.Incr(ctx, []byte("n"), 5); err != nil || n != 5 {
				t.Fatalf("Incr = %d, %v", n, err)
			}
			if n, err := c.Incr(ctx, []byte("n"), -7); err != nil || n != -2 {
				t.Fatalf("Incr = %d, %v", n, err)
			}
			if _, err := c.Incr(ctx, []byte("greeting2"), 1); err != nil {
				t.Fatal(err)
			}
			if err := c.Put(ctx, []byte("text"), []byte("abc")); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Incr(ctx, []byte("text"), 1); !errors.Is(err, ErrNotInteger) {
				t.Fatalf("Incr on text = %v, want ErrNotInteger", err)
			}
			sw, cur, err := c.CompareAndSwapAbsent(ctx, []byte("lock"), []byte("me"))
			if err != nil || !sw || string(cur) != "me" {
				t.Fatalf("CompareAndSwapAbsent = %v, %q, %v", sw, cur, err)
			}
			sw, cur, err = c.CompareAndSwapAbsent(ctx, []byte("lock"), []byte("you"))
			if err != nil || sw || string(cur) != "me" {
				t.Fatalf("CompareAndSwapAbsent taken = %v, %q, %v", sw, cur, err)
			}
			sw, cur, err = c.CompareAndSwap(ctx, []byte("lock"), []byte("you"), []byte("them"))
			if err != nil || sw || string(cur) != "me" {
				t.Fatalf("CompareAndSwap mismatch = %v, %q, %v", sw, cur, err)
			}
			sw, cur, err = c.CompareAndSwap(ctx, []byte("lock"), []byte("me"), []byte("them"))
			if err != nil || !sw || string(cur) != "them" {
				t.Fatalf("CompareAndSwap = %v, %q, %v", sw, cur, err)
			}
			if _, err := c.Get(ctx, nil); !errors.Is(err, ErrKeyEmpty) {
				t.Fatalf("Get empty key = %v, want ErrKeyEmpty", err)
			}
		})
	}
}

func TestSendBatchAndDo(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 2)
	c := newClient(t, testConfig(t, fc))
	ctx := ctxT(t)

	if got, err := c.Send(ctx, fakecluster.EchoService, []byte("k"), []byte("ping")); err != nil || string(got) != "ping" {
		t.Fatalf("Send echo = %q, %v", got, err)
	}
	if _, err := c.Send(ctx, "nope", []byte("k"), nil); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("Send to unknown service = %v, want ErrUnknownService", err)
	}

	var msgs []Message
	for i := range 500 {
		msgs = append(msgs, Message{Service: fakecluster.EchoService, Key: []byte{byte(i), byte(i >> 8), 1}, Payload: []byte{byte(i)}})
	}
	msgs = append(msgs, Message{Service: fakecluster.EchoService}, Message{Service: "nope", Key: []byte("k")})
	replies := c.SendBatch(ctx, msgs)
	if len(replies) != len(msgs) {
		t.Fatalf("%d replies for %d messages", len(replies), len(msgs))
	}
	for i, r := range replies[:500] {
		if r.Err != nil || !bytes.Equal(r.Payload, []byte{byte(i)}) {
			t.Fatalf("reply %d = %q, %v", i, r.Payload, r.Err)
		}
	}
	if !errors.Is(replies[500].Err, ErrKeyEmpty) || !errors.Is(replies[501].Err, ErrUnknownService) {
		t.Fatalf("bad messages: %v, %v", replies[500].Err, replies[501].Err)
	}
	if got := c.SendBatch(ctx, nil); len(got) != 0 {
		t.Fatalf("SendBatch(nil) = %v", got)
	}

	reqs := []kv.Request{
		{Op: kv.OpPut, Key: []byte("a"), Value: []byte("1")},
		{Op: kv.OpIncr, Key: []byte("c"), Delta: 3},
		{Op: kv.OpGet, Key: []byte("missing")},
		{Op: kv.Op(99), Key: []byte("bad")},
	}
	resps, errs := c.Do(ctx, reqs)
	if errs[0] != nil || errs[1] != nil || resps[1].Counter != 3 {
		t.Fatalf("Do = %+v, %v", resps, errs)
	}
	if !errors.Is(errs[2], ErrNotFound) || !errors.Is(errs[3], kv.ErrUnknownOp) {
		t.Fatalf("Do errors = %v", errs)
	}
	if reqs[0].RequestID != 0 {
		t.Fatal("Do modified the caller's requests")
	}
	if v, err := c.Get(ctx, []byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("Get after Do = %q, %v", v, err)
	}
}

func TestRoutesToOwner(t *testing.T) {
	for _, nw := range networks {
		t.Run(nw.name, func(t *testing.T) {
			fc := newCluster(t, nw.net, 3)
			for _, n := range fc.Nodes() {
				n.Strict.Store(true)
			}
			c := newClient(t, testConfig(t, fc))
			ctx := ctxT(t)
			want := map[string]int64{}
			var msgs []Message
			for i := range 300 {
				k := []byte{'k', byte(i), byte(i >> 8)}
				_, owner := c.Locate(k)
				want[owner.ID]++
				if i%2 == 0 {
					if err := c.Put(ctx, k, k); err != nil {
						t.Fatal(err)
					}
				} else {
					msgs = append(msgs, Message{Service: KVService, Key: k, Payload: mustEncode(t, kv.Request{Op: kv.OpGet, Key: k})})
				}
			}
			for _, r := range c.SendBatch(ctx, msgs) {
				if !errors.Is(r.Err, ErrNotFound) {
					t.Fatalf("batch get = %v, want ErrNotFound", r.Err)
				}
			}
			for _, n := range fc.Nodes() {
				if n.Moved.Load() != 0 || n.Foreign.Load() != 0 || n.Owned.Load() != want[n.ID] {
					t.Errorf("node %s: owned %d (want %d), foreign %d, moved %d",
						n.ID, n.Owned.Load(), want[n.ID], n.Foreign.Load(), n.Moved.Load())
				}
			}
			if s := c.Stats(); s.Retries != 0 || s.Moved != 0 || s.Calls != 300 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func mustEncode(t testing.TB, r kv.Request) []byte {
	t.Helper()
	b, err := r.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBatching holds the node's first frame, queues many calls behind it,
// and checks that they all leave in one more frame.
func TestBatching(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 2)
	cfg := testConfig(t, fc)
	cfg.MaxInFlight = 1
	c := newClient(t, cfg)
	ctx := ctxT(t)
	a := fc.Node("a")
	keys := keysOf(c.Table(), "a", 101)
	a.Hold()
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	put := func(k []byte) {
		defer wg.Done()
		if err := c.Put(ctx, k, k); err != nil {
			errs <- err
		}
	}
	wg.Add(1)
	go put(keys[0])
	waitFor(t, 5*time.Second, "the first frame", func() bool { return a.Frames.Load() == 1 })
	for _, k := range keys[1:] {
		wg.Add(1)
		go put(k)
	}
	n := (*c.nodes.Load())[a.Addr]
	// The batcher holds the second call while it waits for the slot; the
	// other 99 queue behind it.
	waitFor(t, 5*time.Second, "99 queued calls", func() bool { return len(n.queue) == 99 })
	a.Release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if f, i := a.Frames.Load(), a.Items.Load(); f != 2 || i != 101 {
		t.Fatalf("node a got %d items in %d frames, want 101 in 2", i, f)
	}
	if s, _ := c.Stats().Node(a.Addr); s.Frames != 2 || s.Items != 101 {
		t.Fatalf("client stats for a: %+v", s)
	}
}

// TestBatchingConcurrent checks that free-running concurrent callers share
// frames: with more callers than frames in flight, some must wait and leave
// together.
func TestBatchingConcurrent(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 1)
	cfg := testConfig(t, fc)
	cfg.MaxInFlight = 2
	c := newClient(t, cfg)
	ctx := ctxT(t)
	const workers, each = 64, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := c.Incr(ctx, []byte{byte(w)}, 1); err != nil {
					t.Error(err)
					return
				}
				_ = i
			}
		}()
	}
	wg.Wait()
	a := fc.Nodes()[0]
	if f, i := a.Frames.Load(), a.Items.Load(); i != workers*each || f >= i {
		t.Fatalf("%d items in %d frames: no batching", i, f)
	} else {
		t.Logf("%d items in %d frames (%.1f per frame)", i, f, float64(i)/float64(f))
	}
	for w := range workers {
		if n, err := c.Incr(ctx, []byte{byte(w)}, 0); err != nil || n != each {
			t.Fatalf("counter %d = %d, %v; want %d", w, n, err, each)
		}
	}
}

// TestMovedRefreshRetry grows the cluster behind the client's back (no
// watch): strict nodes answer "moved" for the keys that went to the new
// node; the client fetches the new table and retries there.
func TestMovedRefreshRetry(t *testing.T) {
	for _, nw := range networks {
		t.Run(nw.name, func(t *testing.T) {
			fc := newCluster(t, nw.net, 3)
			a, b, cc := fc.Node("a"), fc.Node("b"), fc.Node("c")
			t1, err := fc.TableOf(1, a, b)
			if err != nil {
				t.Fatal(err)
			}
			fc.SetTable(t1)
			for _, n := range fc.Nodes() {
				n.Strict.Store(true)
			}
			cfg := testConfig(t, fc)
			cfg.DisableWatch = true
			c := newClient(t, cfg)
			t2, err := fc.TableOf(2, a, b, cc)
			if err != nil {
				t.Fatal(err)
			}
			fc.SetTable(t2)
			ctx := ctxT(t)
			keys := keysOf(t2, "c", 20)
			for _, k := range keys {
				if err := c.Put(ctx, k, k); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.Table().Epoch(); got != 2 {
				t.Fatalf("client table epoch %d, want 2", got)
			}
			if got := cc.Owned.Load(); got != int64(len(keys)) {
				t.Fatalf("node c served %d items, want %d", got, len(keys))
			}
			if s := c.Stats(); s.Moved == 0 || s.Refreshes == 0 {
				t.Fatalf("stats %+v: no moved/refresh counted", s)
			}
			if a.Moved.Load()+b.Moved.Load() == 0 {
				t.Fatal("no node answered moved")
			}
		})
	}
}

// TestMovedExhausted: a node that keeps saying "moved" to a stale owner
// exhausts the retries and the caller gets the *MovedError.
func TestMovedExhausted(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 2)
	a, b := fc.Node("a"), fc.Node("b")
	cfg := testConfig(t, fc)
	cfg.DisableWatch = true
	cfg.MaxRetries = 2
	c := newClient(t, cfg)
	// a believes b owns everything, b believes a does: they disagree forever.
	ta, _ := fc.TableOf(3, b)
	tb, _ := fc.TableOf(3, a)
	a.SetTable(ta)
	b.SetTable(tb)
	a.Strict.Store(true)
	b.Strict.Store(true)
	err := c.Put(ctxT(t), []byte("k"), []byte("v"))
	var me *MovedError
	if !errors.Is(err, ErrMoved) || !errors.As(err, &me) || me.Epoch != 3 {
		t.Fatalf("Put = %v, want a *MovedError at epoch 3", err)
	}
}

func TestWatch(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 3)
	a, b, cc := fc.Node("a"), fc.Node("b"), fc.Node("c")
	t1, _ := fc.TableOf(1, a, b)
	fc.SetTable(t1)
	c := newClient(t, testConfig(t, fc))
	t2, _ := fc.TableOf(2, a, b, cc)
	fc.SetTable(t2)
	waitFor(t, 5*time.Second, "the watch to deliver epoch 2", func() bool { return c.Table().Epoch() == 2 })
	if c.Table().Hash() != t2.Hash() {
		t.Fatal("watched table differs from the cluster's")
	}
	// An older table pushed by a confused node is ignored.
	fc.SetTable(t1)
	t3, _ := fc.TableOf(3, a, cc)
	fc.SetTable(t3)
	waitFor(t, 5*time.Second, "the watch to deliver epoch 3", func() bool { return c.Table().Epoch() == 3 })
	if got := c.Stats().TableEpoch; got != 3 {
		t.Fatalf("stats epoch %d", got)
	}
}

func TestRefreshTable(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 2)
	cfg := testConfig(t, fc)
	cfg.DisableWatch = true
	c := newClient(t, cfg)
	t2, _ := fc.TableOf(7, fc.Nodes()...)
	fc.SetTable(t2)
	if err := c.RefreshTable(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if c.Table().Epoch() != 7 {
		t.Fatalf("epoch %d after refresh, want 7", c.Table().Epoch())
	}
	// A restarted cluster (lower epoch, other content) is taken on an explicit refresh.
	t3, _ := fc.TableOf(1, fc.Node("a"))
	fc.SetTable(t3)
	if err := c.RefreshTable(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if c.Table().Hash() != t3.Hash() {
		t.Fatal("explicit refresh did not take the restarted cluster's table")
	}
}

// TestBreaker stops a node: its keys go to the other node (which forwards,
// here: serves), its breaker opens; after a restart on the same address a
// half-open probe closes the breaker and its keys go home.
func TestBreaker(t *testing.T) {
	fc := newCluster(t, fakecluster.TCP, 2)
	a, b := fc.Node("a"), fc.Node("b")
	cfg := testConfig(t, fc)
	cfg.BreakerFailures = 2
	cfg.BreakerOpenFor = 50 * time.Millisecond
	cfg.DisableWatch = true
	c := newClient(t, cfg)
	ctx := ctxT(t)
	keys := keysOf(c.Table(), "b", 10)
	for _, k := range keys {
		if err := c.Put(ctx, k, []byte("1")); err != nil {
			t.Fatal(err)
		}
	}
	if b.Owned.Load() != int64(len(keys)) {
		t.Fatalf("b served %d", b.Owned.Load())
	}

	b.Stop()
	waitFor(t, 10*time.Second, "b's breaker to open", func() bool {
		for _, k := range keys {
			if err := c.Put(ctx, k, []byte("2")); err != nil {
				t.Fatalf("Put with b down = %v", err) // a takes over
			}
		}
		s, _ := c.Stats().Node(b.Addr)
		return s.Breaker != BreakerClosed
	})
	if a.Foreign.Load() == 0 {
		t.Fatal("a served none of b's keys while b was down")
	}
	for _, k := range keys {
		if v, err := c.Get(ctx, k); err != nil || string(v) != "2" {
			t.Fatalf("Get %s = %q, %v", k, v, err)
		}
	}

	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	before := b.Owned.Load()
	waitFor(t, 10*time.Second, "b to serve its keys again", func() bool {
		if err := c.Put(ctx, keys[0], []byte("3")); err != nil {
			t.Fatal(err)
		}
		s, _ := c.Stats().Node(b.Addr)
		return s.Breaker == BreakerClosed && b.Owned.Load() > before
	})
}

// TestBreakerOpenSingleNode: with nowhere else to go, calls fail with
// ErrBreakerOpen (which matches ErrUnavailable).
func TestBreakerOpenSingleNode(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 1)
	cfg := testConfig(t, fc)
	cfg.BreakerFailures = 1
	cfg.BreakerOpenFor = time.Hour
	cfg.DisableWatch = true
	c := newClient(t, cfg)
	fc.Nodes()[0].Stop()
	err := c.Put(ctxT(t), []byte("k"), []byte("v"))
	if !errors.Is(err, ErrBreakerOpen) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put = %v, want ErrBreakerOpen", err)
	}
}

func TestDeadline(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 1)
	cfg := testConfig(t, fc)
	cfg.RequestTimeout = 100 * time.Millisecond
	c := newClient(t, cfg)
	a := fc.Nodes()[0]
	a.Hold()
	defer a.Release()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Get(ctx, []byte("k"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Get took %v past a 50ms deadline", d)
	}
	// No deadline: Config.RequestTimeout applies.
	if _, err := c.Get(context.Background(), []byte("k")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get without deadline = %v, want DeadlineExceeded", err)
	}
	// Batches too.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	for _, r := range c.SendBatch(ctx2, []Message{{Service: "kv", Key: []byte("x")}, {Service: "kv", Key: []byte("y")}}) {
		if !errors.Is(r.Err, context.DeadlineExceeded) {
			t.Fatalf("batch = %v, want DeadlineExceeded", r.Err)
		}
	}
	// An expired context never leaves.
	frames := a.Frames.Load()
	dead, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if _, err := c.Get(dead, []byte("k")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with canceled ctx = %v", err)
	}
	a.Release()
	if _, err := c.Get(ctxT(t), []byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after release = %v", err)
	}
	_ = frames
}

func TestClose(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 2)
	c, err := New(ctxT(t), testConfig(t, fc))
	if err != nil {
		t.Fatal(err)
	}
	a := fc.Node("a")
	a.Hold()
	defer a.Release()
	k := keysOf(c.Table(), "a", 1)[0]
	errc := make(chan error, 1)
	go func() { errc <- c.Put(ctxT(t), k, k) }()
	waitFor(t, 5*time.Second, "the held frame", func() bool { return a.Frames.Load() == 1 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("Put in flight at Close = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := c.Put(ctxT(t), k, k); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close = %v, want ErrClosed", err)
	}
	if err := c.RefreshTable(ctxT(t)); !errors.Is(err, ErrClosed) {
		t.Fatalf("RefreshTable after Close = %v, want ErrClosed", err)
	}
	if _, err := c.Conn("x:1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Conn after Close = %v, want ErrClosed", err)
	}
}

func TestConnAndLocate(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 2)
	c := newClient(t, testConfig(t, fc))
	cc1, err := c.Conn(fc.Node("b").Addr)
	if err != nil {
		t.Fatal(err)
	}
	cc2, _ := c.Conn(fc.Node("b").Addr)
	if cc1 != cc2 {
		t.Fatal("Conn is not pooled")
	}
	p, owner := c.Locate([]byte("k"))
	if p != c.Table().PartitionOf([]byte("k")) || owner != c.Table().Owner(p) {
		t.Fatalf("Locate = %d, %+v", p, owner)
	}
	if eps := c.Endpoints(); len(eps) != 1 || eps[0] != fc.Node("a").Addr {
		t.Fatalf("Endpoints = %v", eps)
	}
}

// TestRetryKeepsRequestID: a write retried after "moved" and after
// backpressure carries the same non-zero request id every time.
func TestRetryKeepsRequestID(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 2)
	a, b := fc.Node("a"), fc.Node("b")
	cfg := testConfig(t, fc)
	cfg.DisableWatch = true
	c := newClient(t, cfg)
	ctx := ctxT(t)

	k := keysOf(c.Table(), "a", 1)[0]
	a.Backpressure.Store(2)
	if err := c.Put(ctx, k, k); err != nil {
		t.Fatal(err)
	}
	if n := a.Backpressure.Load(); n != 0 {
		t.Fatalf("%d backpressure answers left", n)
	}
	// Backpressured items are refused before the store sees them: one id.
	if ids := fc.RequestIDs(k); len(ids) != 1 || ids[0] == 0 {
		t.Fatalf("request ids %v", ids)
	}
	if s := c.Stats(); s.Retries != 2 {
		t.Fatalf("retries %d, want 2", s.Retries)
	}

	// Moved: b now owns everything; a says so. a serves nothing foreign,
	// so each attempt that reaches the store is recorded.
	tb, _ := fc.TableOf(2, b)
	a.SetTable(tb)
	b.SetTable(tb)
	a.Strict.Store(true)
	k2 := keysOf(c.Table(), "a", 2)[1]
	if _, err := c.Incr(ctx, k2, 1); err != nil {
		t.Fatal(err)
	}
	if a.Moved.Load() == 0 {
		t.Fatal("a never answered moved")
	}
	if ids := fc.RequestIDs(k2); len(ids) != 1 || ids[0] == 0 {
		t.Fatalf("request ids %v", ids)
	}

	// Retries exhausted: the caller gets the backpressure error.
	cfg2 := cfg
	cfg2.MaxRetries = 1
	c2 := newClient(t, cfg2)
	b.Backpressure.Store(10)
	if err := c2.Put(ctx, k, k); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("Put = %v, want ErrBackpressure", err)
	}
	// Reads carry no request id; final errors are not retried.
	b.Backpressure.Store(0)
	before := c2.Stats().Retries
	if _, err := c2.Get(ctx, []byte("absent")); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if got := c2.Stats().Retries; got != before {
		t.Fatalf("NotFound was retried (%d -> %d)", before, got)
	}
}

// TestWatchReconnects stops the node the watch follows; the watch moves to
// another node and still delivers tables.
func TestWatchReconnects(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 3)
	c := newClient(t, testConfig(t, fc))
	for i, n := range fc.Nodes() {
		n.Stop() // one node at a time: the watch must find a live one
		next, _ := fc.TableOf(uint64(10+i), fc.Nodes()...)
		fc.SetTable(next)
		waitFor(t, 10*time.Second, "the watch to deliver the next table", func() bool {
			return c.Table().Epoch() == uint64(10+i)
		})
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWatchSilentNode: one node at a time keeps its watch streams open but
// pushes nothing (as a SIGSTOPped node does) while the others move on to a
// new table; the client must learn it anyway. With a single watch, the
// round that silences the watched node never delivers the table.
func TestWatchSilentNode(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 3)
	c := newClient(t, testConfig(t, fc))
	for i, silent := range fc.Nodes() {
		next, _ := fc.TableOf(uint64(10+i), fc.Nodes()...)
		for _, n := range fc.Nodes() {
			if n != silent {
				n.SetTable(next)
			}
		}
		waitFor(t, 5*time.Second, "a table pushed while "+silent.ID+" is silent", func() bool {
			return c.Table().Epoch() == uint64(10+i)
		})
		silent.SetTable(next)
	}
}

// TestStalledNodeFailsOver: a node that leaves a call unanswered and does
// not answer a probe either (paused, or cut off while its TCP connection
// stays open) has its stream closed after about two StallTimeouts, and the
// call is retried elsewhere with its request id. Without the probe the
// call would wait for its deadline.
func TestStalledNodeFailsOver(t *testing.T) {
	for _, nw := range networks {
		t.Run(nw.name, func(t *testing.T) {
			fc := newCluster(t, nw.net, 3)
			cfg := testConfig(t, fc)
			cfg.StallTimeout = 200 * time.Millisecond
			c := newClient(t, cfg)
			a := fc.Nodes()[0]
			key := keysOf(c.Table(), a.ID, 1)[0]
			if err := c.Put(ctxT(t), key, []byte("v1")); err != nil {
				t.Fatal(err)
			}
			a.Silent.Store(true)
			a.Hold()
			defer a.Release()
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
			defer cancel()
			start := time.Now()
			if err := c.Put(ctx, key, []byte("v2")); err != nil {
				t.Fatalf("put to a silent owner: %v after %v", err, time.Since(start))
			}
			took := time.Since(start)
			st, _ := c.Stats().Node(a.Addr)
			if st.Stalls != 1 {
				t.Fatalf("stalls on %s = %d, want 1", a.ID, st.Stalls)
			}
			if took > 4*time.Second {
				t.Fatalf("failover took %v with a 200ms StallTimeout", took)
			}
			foreign := int64(0)
			for _, n := range fc.Nodes()[1:] {
				foreign += n.Foreign.Load()
			}
			if foreign == 0 {
				t.Fatalf("no other node served the retried put")
			}
			t.Logf("failed over in %v", took.Round(time.Millisecond))
		})
	}
}

// TestSlowNodeNotFailedOver: a node that is slow but answers the probe
// keeps its stream and its calls: they are answered when it catches up,
// not retried elsewhere.
func TestSlowNodeNotFailedOver(t *testing.T) {
	fc := newCluster(t, fakecluster.Bufconn, 3)
	cfg := testConfig(t, fc)
	cfg.StallTimeout = 100 * time.Millisecond
	c := newClient(t, cfg)
	a := fc.Nodes()[0]
	key := keysOf(c.Table(), a.ID, 1)[0]
	a.Hold()
	time.AfterFunc(600*time.Millisecond, a.Release) // six StallTimeouts
	if err := c.Put(ctxT(t), key, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Stats().Node(a.Addr); st.Stalls != 0 || st.Failures != 0 {
		t.Fatalf("a slow node that answers probes: %d stalls, %d failures; want 0", st.Stalls, st.Failures)
	}
	for _, n := range fc.Nodes()[1:] {
		if n.Foreign.Load() != 0 {
			t.Fatalf("%s served a call of the slow node", n.ID)
		}
	}
	if a.Owned.Load() != 1 {
		t.Fatalf("the slow node served %d calls, want 1", a.Owned.Load())
	}
}
