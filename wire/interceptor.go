package wire

import (
	"context"
	"io"

	"google.golang.org/grpc"
)

// UnaryServerInterceptor converts a handler's error with ToStatus, so that
// handlers can return sentinels and typed errors as they are.
func UnaryServerInterceptor(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	resp, err := handler(ctx, req)
	if err != nil {
		return resp, ToStatus(err).Err()
	}
	return resp, nil
}

// StreamServerInterceptor converts a stream handler's error with ToStatus.
func StreamServerInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := handler(srv, ss); err != nil {
		return ToStatus(err).Err()
	}
	return nil
}

// UnaryClientInterceptor converts a call's status error with FromError, so
// that callers get back the sentinel or typed error the server meant.
func UnaryClientInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return FromError(invoker(ctx, method, req, reply, cc, opts...))
}

// StreamClientInterceptor converts the status errors of a stream (opening it,
// SendMsg, RecvMsg) with FromError; io.EOF is passed through.
func StreamClientInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, FromError(err)
	}
	return decodingStream{cs}, nil
}

// decodingStream decodes the errors of a client stream.
type decodingStream struct{ grpc.ClientStream }

func (s decodingStream) SendMsg(m any) error { return fromStreamError(s.ClientStream.SendMsg(m)) }
func (s decodingStream) RecvMsg(m any) error { return fromStreamError(s.ClientStream.RecvMsg(m)) }

func fromStreamError(err error) error {
	if err == io.EOF {
		return err
	}
	return FromError(err)
}
