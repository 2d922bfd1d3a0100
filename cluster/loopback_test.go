package cluster

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"
)

// Tests over real UDP and TCP sockets on loopback, with memberlist's LAN
// timings unchanged.

func loopbackConfig(t *testing.T, id, addr string, port int) Config {
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.BindAddr = addr
	cfg.BindPort = port
	cfg.Logger = testLogger(t)
	cfg.Meta = Meta{GRPCAddr: addr + ":7700", Workers: 1, Version: "test"}
	cfg.JoinRetryInterval = 50 * time.Millisecond
	return cfg
}

func startLoopback(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	if err := c.Start(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLoopback: three nodes on 127.0.0.1 with free ports join in a chain
// started in reverse order (the first to start has nobody to join yet), agree
// on one epoch, then agree again after one leaves.
func TestLoopback(t *testing.T) {
	ports := freePorts(t, "127.0.0.1", 3)
	addr := func(i int) string { return fmt.Sprintf("127.0.0.1:%d", ports[i]) }
	cfgs := []Config{
		loopbackConfig(t, "c", "127.0.0.1", ports[2]),
		loopbackConfig(t, "b", "127.0.0.1", ports[1]),
		loopbackConfig(t, "a", "127.0.0.1", ports[0]),
	}
	cfgs[0].Join = []string{addr(1)} // c joins b, which starts later
	cfgs[1].Join = []string{addr(0)} // b joins a, which starts last
	var cs []*Cluster
	for _, cfg := range cfgs {
		cs = append(cs, startLoopback(t, cfg))
	}
	start := time.Now()
	waitFor(t, 10*time.Second, "convergence", func() (bool, string) { return converged(cs, "a", "b", "c") })
	t.Logf("3 loopback nodes converged %v after the last start, epoch %d", time.Since(start), cs[0].View().Epoch)
	for _, c := range cs {
		if !c.Joined() {
			t.Errorf("%s not joined", c.LocalID())
		}
	}
	if err := cs[1].Leave(2 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	start = time.Now()
	rest := []*Cluster{cs[0], cs[2]}
	waitFor(t, 10*time.Second, "view without b", func() (bool, string) { return converged(rest, "a", "c") })
	t.Logf("leave seen everywhere after %v", time.Since(start))
}

// TestLoopbackDNSDefaultPort: nodes on 127.0.0.2-4 share one port and join
// through a name resolving to all three addresses, without a port.
func TestLoopbackDNSDefaultPort(t *testing.T) {
	ips := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	port := freePorts(t, ips[0], 1)[0]
	for _, ip := range ips {
		if !canBind(ip, port) {
			t.Skipf("cannot bind %s:%d", ip, port)
		}
	}
	resolve := func(ctx context.Context, host string) ([]string, error) {
		if host != "ns.test" {
			return nil, fmt.Errorf("no such host %s", host)
		}
		return ips, nil
	}
	var cs []*Cluster
	for i, ip := range ips {
		cfg := loopbackConfig(t, fmt.Sprintf("n%d", i), ip, port)
		cfg.Join = []string{"ns.test"}
		cfg.Resolver = resolve
		cs = append(cs, startLoopback(t, cfg))
	}
	waitFor(t, 10*time.Second, "convergence", func() (bool, string) { return converged(cs, "n0", "n1", "n2") })
}

// freePorts returns n ports free for both TCP and UDP on ip.
func freePorts(t *testing.T, ip string, n int) []int {
	t.Helper()
	var ports []int
	for len(ports) < n {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Skipf("cannot listen on %s: %v", ip, err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if canBind(ip, p) {
			ports = append(ports, p)
		}
	}
	return ports
}

func canBind(ip string, port int) bool {
	hp := net.JoinHostPort(ip, fmt.Sprint(port))
	l, err := net.Listen("tcp", hp)
	if err != nil {
		return false
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", hp)
	if err != nil {
		return false
	}
	_ = u.Close()
	return true
}

func TestBindPortZero(t *testing.T) {
	c := startLoopback(t, loopbackConfig(t, "z", "127.0.0.1", 0))
	host, port, err := net.SplitHostPort(c.LocalAddr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("LocalAddr %q, %v", c.LocalAddr(), err)
	}
	if _, err := c.Join(context.Background(), []string{c.LocalAddr()}); err == nil {
		t.Fatal("joined itself")
	}
}
