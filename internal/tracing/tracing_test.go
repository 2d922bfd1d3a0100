package tracing

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve starts a gRPC server with the health service and returns a client.
func serve(t *testing.T, sopts []grpc.ServerOption, dopts []grpc.DialOption) healthpb.HealthClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(sopts...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
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
	return healthpb.NewHealthClient(conn)
}

func TestSpanPerCall(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := Setup(context.Background(), Config{Exporter: exp, NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	if !tr.Enabled() {
		t.Fatal("tracing with an exporter is not enabled")
	}
	c := serve(t, tr.ServerOptions(), tr.DialOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	// The server span ends before the client's reply is read; the client
	// span ends when Check returns. Poll briefly for both.
	deadline := time.Now().Add(5 * time.Second)
	var spans tracetest.SpanStubs
	for {
		spans = exp.GetSpans()
		if len(spans) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var server, client *tracetest.SpanStub
	for i := range spans {
		s := &spans[i]
		if s.Name != "grpc.health.v1.Health/Check" {
			continue
		}
		switch s.SpanKind {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindClient:
			client = s
		}
	}
	if server == nil || client == nil {
		t.Fatalf("want a client and a server span for Check, got %d spans: %+v", len(spans), spans)
	}
	if server.SpanContext.TraceID() != client.SpanContext.TraceID() {
		t.Errorf("server span in trace %s, client span in %s: context not propagated", server.SpanContext.TraceID(), client.SpanContext.TraceID())
	}
	if server.Parent.SpanID() != client.SpanContext.SpanID() {
		t.Errorf("server span's parent %s is not the client span %s", server.Parent.SpanID(), client.SpanContext.SpanID())
	}
	found := false
	for _, a := range server.Resource.Attributes() {
		if a.Key == "service.instance.id" && a.Value.AsString() == "n1" {
			found = true
		}
	}
	if !found {
		t.Errorf("resource lacks service.instance.id=n1: %v", server.Resource.Attributes())
	}
}

func TestDisabledByDefault(t *testing.T) {
	tr, err := Setup(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() || tr.ServerOptions() != nil || tr.DialOptions() != nil {
		t.Fatal("zero Config enables tracing")
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = tr.TracerProvider().Tracer("x") // a usable no-op
}

func TestOTLPExporterDoesNotBlock(t *testing.T) {
	// Nothing listens there: Setup must still return at once, and Shutdown
	// must give up when its context ends.
	tr, err := Setup(context.Background(), Config{Endpoint: "127.0.0.1:1", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = tr.Shutdown(ctx)
}

func TestInvalidConfig(t *testing.T) {
	for _, r := range []float64{-0.1, 1.5} {
		if _, err := Setup(context.Background(), Config{SampleRatio: r}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("SampleRatio %v: err = %v, want ErrInvalidConfig", r, err)
		}
	}
}
