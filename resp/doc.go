// Package resp reads and writes the Redis serialization protocol (RESP2 and
// RESP3): a Reader that parses client commands (arrays of bulk strings, and
// inline commands) out of its own buffer without copying or allocating, and a
// Writer that appends replies to a reusable buffer.
//
// It is pure: no network, no timers, no knowledge of what a command means.
// The server that gives commands their meaning is node/internal/respserver.
//
// Pipelining: Reader.Next parses only bytes already buffered, so a server
// can take every command a client has sent so far as one batch, answer them
// all with one Writer.Flush, and call Reader.Fill (one read) only when the
// buffer holds no complete command. Arguments returned by Next alias the
// Reader's buffer and stay valid until the next Fill.
package resp
