package client_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nothingshared/ns/client"
	"github.com/nothingshared/ns/kv"
	"github.com/nothingshared/ns/transport"
	"github.com/nothingshared/ns/wire"
)

// TestErrorsAcrossPackages checks the promise of errors.go: the errors the
// client re-exports are the server's (package transport) and the wire's
// values, so errors.Is holds across the packages in both directions, before
// and after the trip over the wire.
func TestErrorsAcrossPackages(t *testing.T) {
	cases := []struct {
		name                    string
		client, transport, wire error
	}{
		{"unavailable", client.ErrUnavailable, transport.ErrUnavailable, wire.ErrUnavailable},
		{"backpressure", client.ErrBackpressure, transport.ErrBackpressure, wire.ErrBackpressure},
		{"moved", client.ErrMoved, transport.ErrMoved, wire.ErrMoved},
		{"limit", client.ErrLimitExceeded, transport.ErrLimitExceeded, wire.ErrLimitExceeded},
		{"key-empty", client.ErrKeyEmpty, transport.ErrKeyEmpty, wire.ErrKeyEmpty},
		{"unknown-service", client.ErrUnknownService, transport.ErrUnknownService, wire.ErrUnknownService},
		{"kv-not-found", client.ErrNotFound, kv.ErrNotFound, kv.ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			all := []error{c.client, c.transport, c.wire}
			for _, err := range all {
				wrapped := fmt.Errorf("call: %w", err)
				tripped := wire.ErrorFromResult(transport.ResultError(wrapped))
				for _, target := range all {
					if !errors.Is(wrapped, target) {
						t.Errorf("errors.Is(%v, %v) = false", wrapped, target)
					}
					if !errors.Is(tripped, target) {
						t.Errorf("after the wire: errors.Is(%v, %v) = false", tripped, target)
					}
				}
			}
		})
	}
	// A sentinel of one kind never matches another's.
	if errors.Is(client.ErrUnavailable, transport.ErrMoved) || errors.Is(client.ErrMoved, wire.ErrBackpressure) {
		t.Fatal("distinct sentinels match each other")
	}
	// The breaker's error, as a call returns it, matches ErrUnavailable of
	// every package.
	open := fmt.Errorf("send: %w", client.ErrBreakerOpen)
	for _, target := range []error{client.ErrUnavailable, transport.ErrUnavailable, wire.ErrUnavailable} {
		if !errors.Is(open, target) {
			t.Errorf("%v does not match %v", open, target)
		}
	}
}

// TestTypedErrorsAcrossPackages checks that client.MovedError and
// client.LimitError are the server's types: errors.As finds one through the
// other's name, and the fields survive the wire.
func TestTypedErrorsAcrossPackages(t *testing.T) {
	sent := &transport.MovedError{Epoch: 7, Partition: 3, OwnerID: "n2", OwnerAddr: "127.0.0.1:7701"}
	got := wire.FromStatus(transport.ToStatus(fmt.Errorf("send: %w", sent)))
	var me *client.MovedError
	if !errors.As(got, &me) || *me != *sent {
		t.Fatalf("errors.As(%v, *client.MovedError) = %v, want %+v", got, me, sent)
	}
	if !errors.Is(got, client.ErrMoved) || !errors.Is(got, transport.ErrMoved) {
		t.Fatalf("%v does not match ErrMoved", got)
	}

	limit := &client.LimitError{Limit: "max-key-bytes", Size: 2048, Max: 1024}
	got = transport.FromError(wire.ToStatus(limit).Err())
	var le *transport.LimitError
	if !errors.As(got, &le) || *le != *limit {
		t.Fatalf("errors.As(%v, *transport.LimitError) = %v, want %+v", got, le, limit)
	}
	if !errors.Is(got, client.ErrLimitExceeded) {
		t.Fatalf("%v does not match client.ErrLimitExceeded", got)
	}
}
