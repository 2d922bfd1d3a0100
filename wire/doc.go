// Package wire is what the server (package transport) and the client SDK
// (package client) must agree on, and nothing else: neither imports the
// other, both import wire.
//
// It holds:
//
//   - the error table: the wire's sentinel errors (ErrMoved, ErrBackpressure,
//     ErrUnavailable, ...), the typed errors whose fields cross the wire
//     (*MovedError, *LimitError), and the one mapping between them, the kv
//     store's sentinels and the context errors on one side and gRPC status
//     codes on the other. Encoding (ToStatus, ResultError, KVResultError)
//     puts a code, the message and a google.rpc.ErrorInfo reason (domain
//     ErrorDomain) on the wire, plus a ns.v1.Moved detail for a *MovedError;
//     decoding (FromStatus, FromError, ErrorFromResult, ErrorFromKVResult)
//     returns the very sentinel or typed error the server meant, so callers
//     test errors with errors.Is and errors.As on either side. Reasons are
//     part of the protocol: never change or reuse one.
//   - interceptors installing that mapping on a gRPC server or client.
//   - the conversions between protobuf messages and our types that both
//     sides use: the partition table (TableToProto, TableFromProto, which
//     validates what it receives) and the typed KV operations.
//   - the bearer-token call credentials (TokenCredentials) and the name of
//     the built-in KV service.
//
// Package transport re-exports the errors and functions under their old
// names; they are the same values and types.
package wire
