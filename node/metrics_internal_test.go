package node

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// healthPair serves grpc.health.v1 with sopts and dials it with dopts.
func healthPair(t testing.TB, sopts []grpc.ServerOption, dopts []grpc.DialOption) (healthpb.HealthClient, *health.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(sopts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), append(dopts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-done
	})
	return healthpb.NewHealthClient(conn), hs
}

func TestGRPCInterceptors(t *testing.T) {
	n := &Node{}
	n.observer = newObserver(n)
	o := n.obs()
	c, hs := healthPair(t, n.grpcServerOptions(), n.grpcDialOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown service: %v", err)
	}
	// A stream: Watch sends the current status; the client cancels.
	hs.SetServingStatus("s", healthpb.HealthCheckResponse_SERVING)
	wctx, wcancel := context.WithCancel(ctx)
	w, err := c.Watch(wctx, &healthpb.HealthCheckRequest{Service: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	wcancel()
	if _, err := w.Recv(); err == nil || err == io.EOF {
		t.Fatalf("Recv after cancel: %v", err)
	}

	for _, tc := range []struct {
		name string
		got  float64
		want float64
	}{
		{"server Check OK", counterValue(o.srvHandled.WithLabelValues("grpc.health.v1.Health", "Check", "OK")), 1},
		{"server Check NotFound", counterValue(o.srvHandled.WithLabelValues("grpc.health.v1.Health", "Check", "NotFound")), 1},
		{"client Check OK", counterValue(o.cliHandled.WithLabelValues("grpc.health.v1.Health", "Check", "OK")), 1},
		{"client Check NotFound", counterValue(o.cliHandled.WithLabelValues("grpc.health.v1.Health", "Check", "NotFound")), 1},
		{"client Watch Canceled", counterValue(o.cliHandled.WithLabelValues("grpc.health.v1.Health", "Watch", "Canceled")), 1},
		{"server Watch sent", counterValue(o.srvMsgsSent.WithLabelValues("grpc.health.v1.Health", "Watch")), 1},
		{"server Watch received", counterValue(o.srvMsgsRecv.WithLabelValues("grpc.health.v1.Health", "Watch")), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	// The server-side Watch ends (Canceled) asynchronously after the client.
	deadline := time.Now().Add(5 * time.Second)
	for counterValue(o.srvHandled.WithLabelValues("grpc.health.v1.Health", "Watch", "Canceled")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("server Watch never counted as Canceled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := collectCount(o.srvSeconds); got != 2 {
		t.Errorf("server histograms: %d series, want 2 (Check, Watch)", got)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func collectCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	c.Collect(ch)
	close(ch)
	return len(ch)
}

func TestSplitMethod(t *testing.T) {
	for _, tc := range []struct{ in, svc, m string }{
		{"/ns.v1.KVService/Get", "ns.v1.KVService", "Get"},
		{"weird", "unknown", "weird"},
	} {
		if s, m := splitMethod(tc.in); s != tc.svc || m != tc.m {
			t.Errorf("splitMethod(%q) = %q, %q", tc.in, s, m)
		}
	}
}

// BenchmarkInterceptors measures a unary call on loopback with and without
// the metric interceptors on both ends.
func BenchmarkInterceptors(b *testing.B) {
	o := newObserver(&Node{})
	for _, bc := range []struct {
		name  string
		sopts []grpc.ServerOption
		dopts []grpc.DialOption
	}{
		{"baseline=none", nil, nil},
		{"metrics", []grpc.ServerOption{grpc.ChainUnaryInterceptor(o.unaryServer)}, []grpc.DialOption{grpc.WithChainUnaryInterceptor(o.unaryClient)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c, _ := healthPair(b, bc.sopts, bc.dopts)
			ctx := context.Background()
			req := &healthpb.HealthCheckRequest{}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Check(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnaryServerInterceptor is the interceptor alone around a no-op
// handler: what it adds to every unary call.
func BenchmarkUnaryServerInterceptor(b *testing.B) {
	o := newObserver(&Node{})
	info := &grpc.UnaryServerInfo{FullMethod: "/ns.v1.KVService/Get"}
	h := func(ctx context.Context, req any) (any, error) { return nil, nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = o.unaryServer(ctx, nil, info, h)
	}
}
