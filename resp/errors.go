package resp

import "errors"

// Protocol errors of the Reader. Their messages are the ones Redis sends
// (after "-ERR "), so a server can reply with err.Error() before closing the
// connection, as Redis does.
var (
	// ErrProtocol is wrapped by every protocol error: the client sent bytes
	// that are not RESP, and the connection cannot be resynchronised.
	ErrProtocol = errors.New("resp: Protocol error")
	// ErrBulkLength means a bulk string's length is not a number, is
	// negative, or is over Limits.MaxBulkBytes.
	ErrBulkLength = &protoError{"invalid bulk length"}
	// ErrMultibulkLength means an array's length is not a number or is over
	// Limits.MaxArgs.
	ErrMultibulkLength = &protoError{"invalid multibulk length"}
	// ErrInlineTooBig means an inline command (or a header line) is longer
	// than Limits.MaxInlineBytes.
	ErrInlineTooBig = &protoError{"too big inline request"}
	// ErrCommandTooBig means one command is larger than
	// Limits.MaxCommandBytes.
	ErrCommandTooBig = &protoError{"command larger than the server's max command size"}
	// ErrUnbalancedQuotes means an inline command has an unterminated quote.
	ErrUnbalancedQuotes = &protoError{"unbalanced quotes in request"}
)

// protoError is a protocol error with Redis's wording.
type protoError struct{ msg string }

// Error returns the message Redis sends after "-ERR ".
func (e *protoError) Error() string { return "Protocol error: " + e.msg }

// Is makes every protocol error match ErrProtocol.
func (e *protoError) Is(target error) bool { return target == ErrProtocol }

// expectedBulk returns the error for an array element that is not a bulk
// string.
func expectedBulk(got byte) error {
	return &protoError{"expected '$', got '" + string(rune(got)) + "'"}
}
