// Package tracing sets up OpenTelemetry tracing for a node's gRPC server
// and clients. It is off by default; when on, spans go to an OTLP/gRPC
// collector (otlptracegrpc). Nothing here touches the OpenTelemetry
// globals: the provider and propagator are handed to otelgrpc's stats
// handlers explicitly, so two nodes in one process trace independently.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
)

// ErrInvalidConfig wraps every configuration error of Setup.
var ErrInvalidConfig = errors.New("tracing: invalid config")

// Config configures tracing. The zero value disables it.
type Config struct {
	// Endpoint is the OTLP/gRPC collector address, "host:port" or a URL
	// ("http://host:4317"). "" disables tracing unless Exporter is set.
	// Flag: --otlp-endpoint.
	Endpoint string
	// Insecure sends spans to Endpoint in plaintext; a URL's http scheme
	// implies it. Flag: --otlp-insecure.
	Insecure bool
	// SampleRatio is the fraction of new traces recorded, in [0, 1]; calls
	// that arrive inside a sampled trace are always recorded. 0 means 1
	// (every trace). Flag: --trace-sample-ratio.
	SampleRatio float64
	// ServiceName is the service.name resource attribute. "" means "nsnode".
	ServiceName string
	// NodeID is the service.instance.id resource attribute.
	NodeID string
	// Exporter, when set, receives spans instead of an OTLP collector
	// (tests use sdk/trace/tracetest's in-memory exporter). Spans are
	// exported synchronously as they end.
	Exporter sdktrace.SpanExporter
}

// Enabled reports whether c turns tracing on.
func (c Config) Enabled() bool { return c.Endpoint != "" || c.Exporter != nil }

func (c Config) validate() error {
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		return fmt.Errorf("%w: --trace-sample-ratio %v is not in [0, 1]", ErrInvalidConfig, c.SampleRatio)
	}
	return nil
}

// Tracing is the tracing of one node: a tracer provider and the gRPC
// options that record a span per call. A disabled Tracing returns no
// options and a no-op provider. Safe for concurrent use.
type Tracing struct {
	tp   *sdktrace.TracerProvider // nil when disabled
	prop propagation.TextMapPropagator
}

// Setup builds the tracing cfg asks for. It does not block on the
// collector: the exporter connects lazily and retries. Call Shutdown to
// flush spans on exit.
func Setup(ctx context.Context, cfg Config) (*Tracing, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t := &Tracing{prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
	if !cfg.Enabled() {
		return t, nil
	}
	name := cfg.ServiceName
	if name == "" {
		name = "nsnode"
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", name)}
	if cfg.NodeID != "" {
		attrs = append(attrs, attribute.String("service.instance.id", cfg.NodeID))
	}
	ratio := cfg.SampleRatio
	if ratio == 0 {
		ratio = 1
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
	}
	if cfg.Exporter != nil {
		opts = append(opts, sdktrace.WithSyncer(cfg.Exporter))
	} else {
		var eo []otlptracegrpc.Option
		if strings.Contains(cfg.Endpoint, "://") {
			eo = append(eo, otlptracegrpc.WithEndpointURL(cfg.Endpoint))
		} else {
			eo = append(eo, otlptracegrpc.WithEndpoint(cfg.Endpoint))
			if cfg.Insecure {
				eo = append(eo, otlptracegrpc.WithInsecure())
			}
		}
		exp, err := otlptracegrpc.New(ctx, eo...)
		if err != nil {
			return nil, fmt.Errorf("tracing: otlp exporter for %s: %w", cfg.Endpoint, err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	t.tp = sdktrace.NewTracerProvider(opts...)
	return t, nil
}

// Enabled reports whether spans are recorded.
func (t *Tracing) Enabled() bool { return t != nil && t.tp != nil }

// TracerProvider returns the provider for spans of one's own (a no-op
// provider when disabled).
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if !t.Enabled() {
		return tracenoop.NewTracerProvider()
	}
	return t.tp
}

func (t *Tracing) otelOptions() []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(t.tp),
		otelgrpc.WithPropagators(t.prop),
		otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()), // metrics are Prometheus' job
	}
}

// ServerOptions returns the gRPC server options that trace every call
// (an otelgrpc stats handler); none when disabled.
func (t *Tracing) ServerOptions() []grpc.ServerOption {
	if !t.Enabled() {
		return nil
	}
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(t.otelOptions()...))}
}

// DialOptions returns the gRPC dial options that trace every outgoing
// call and propagate the trace to the peer; none when disabled.
func (t *Tracing) DialOptions() []grpc.DialOption {
	if !t.Enabled() {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(t.otelOptions()...))}
}

// Shutdown flushes pending spans and stops the exporter. It may be called
// more than once and on a disabled Tracing.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	return t.tp.Shutdown(ctx)
}
