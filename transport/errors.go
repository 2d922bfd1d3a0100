package transport

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/wire"
)

// The wire's sentinel errors, defined in package wire (which the client SDK
// imports without importing this server package). They are the same values:
// errors.Is(err, transport.ErrMoved) and errors.Is(err, wire.ErrMoved) agree.
// See wire's documentation for their codes.
var (
	// ErrKeyNotFound is wire.ErrKeyNotFound (NOT_FOUND).
	ErrKeyNotFound = wire.ErrKeyNotFound
	// ErrUnknownService is wire.ErrUnknownService (INVALID_ARGUMENT).
	ErrUnknownService = wire.ErrUnknownService
	// ErrKeyEmpty is wire.ErrKeyEmpty (INVALID_ARGUMENT).
	ErrKeyEmpty = wire.ErrKeyEmpty
	// ErrInvalidArgument is wire.ErrInvalidArgument (INVALID_ARGUMENT).
	ErrInvalidArgument = wire.ErrInvalidArgument
	// ErrLimitExceeded is wire.ErrLimitExceeded, matched by every *LimitError.
	ErrLimitExceeded = wire.ErrLimitExceeded
	// ErrBackpressure is wire.ErrBackpressure (RESOURCE_EXHAUSTED).
	ErrBackpressure = wire.ErrBackpressure
	// ErrLeaving is wire.ErrLeaving (UNAVAILABLE).
	ErrLeaving = wire.ErrLeaving
	// ErrUnavailable is wire.ErrUnavailable (UNAVAILABLE).
	ErrUnavailable = wire.ErrUnavailable
	// ErrNotOwner is wire.ErrNotOwner (FAILED_PRECONDITION).
	ErrNotOwner = wire.ErrNotOwner
	// ErrMoved is wire.ErrMoved, matched by every *MovedError.
	ErrMoved = wire.ErrMoved
	// ErrTooManyHops is wire.ErrTooManyHops (ABORTED).
	ErrTooManyHops = wire.ErrTooManyHops
)

// ErrorDomain is wire.ErrorDomain, the google.rpc.ErrorInfo domain of ns
// errors.
const ErrorDomain = wire.ErrorDomain

// Reasons of the typed errors (wire.ReasonMoved, wire.ReasonLimitExceeded).
const (
	ReasonMoved         = wire.ReasonMoved
	ReasonLimitExceeded = wire.ReasonLimitExceeded
)

// LimitError is wire.LimitError: a request over one of the node's limits.
type LimitError = wire.LimitError

// MovedError is wire.MovedError: the sender's partition table is stale.
type MovedError = wire.MovedError

// ToStatus is wire.ToStatus: the gRPC status for err.
func ToStatus(err error) *status.Status { return wire.ToStatus(err) }

// FromStatus is wire.FromStatus: the error a status stands for.
func FromStatus(st *status.Status) error { return wire.FromStatus(st) }

// FromError is wire.FromError: FromStatus for a status error, err otherwise.
func FromError(err error) error { return wire.FromError(err) }

// Code is wire.Code: the gRPC code ToStatus(err) would have.
func Code(err error) codes.Code { return wire.Code(err) }

// ResultError is wire.ResultError: the ns.v1.Result carrying err.
func ResultError(err error) *nsv1.Result { return wire.ResultError(err) }

// ErrorFromResult is wire.ErrorFromResult: the error a result carries.
func ErrorFromResult(r *nsv1.Result) error { return wire.ErrorFromResult(r) }

// KVResultError is wire.KVResultError: the ns.v1.KVResult of a failed batch
// operation.
func KVResultError(err error) *nsv1.KVResult { return wire.KVResultError(err) }

// ErrorFromKVResult is wire.ErrorFromKVResult: the error a batch operation's
// result carries.
func ErrorFromKVResult(r *nsv1.KVResult) error { return wire.ErrorFromKVResult(r) }

// UnaryServerInterceptor is wire.UnaryServerInterceptor: it converts a
// handler's error with ToStatus.
func UnaryServerInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return wire.UnaryServerInterceptor(ctx, req, info, handler)
}

// StreamServerInterceptor is wire.StreamServerInterceptor: it converts a
// stream handler's error with ToStatus.
func StreamServerInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return wire.StreamServerInterceptor(srv, ss, info, handler)
}

// UnaryClientInterceptor is wire.UnaryClientInterceptor: it converts a call's
// status error with FromError.
func UnaryClientInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return wire.UnaryClientInterceptor(ctx, method, req, reply, cc, invoker, opts...)
}

// StreamClientInterceptor is wire.StreamClientInterceptor: it converts the
// status errors of a client stream with FromError.
func StreamClientInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return wire.StreamClientInterceptor(ctx, desc, cc, method, streamer, opts...)
}
