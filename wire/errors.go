package wire

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// Sentinel errors of the wire. Each has one gRPC code and one reason in
// errorTable; ToStatus and FromStatus carry them across gRPC so that a client
// gets back, by errors.Is, the sentinel the server returned. Check them with
// errors.Is, never by message. Their messages keep the "transport:" prefix
// they had when they lived in package transport: they cross the wire (and
// reach RESP clients as they are), so a node and a client of different
// versions still agree on them.
var (
	// ErrKeyNotFound means a service found no value for the key (NOT_FOUND).
	ErrKeyNotFound = errors.New("transport: key not found")

	// ErrUnknownService means an item named a service the node does not run
	// (INVALID_ARGUMENT).
	ErrUnknownService = errors.New("transport: unknown service")

	// ErrKeyEmpty means an item had an empty key (INVALID_ARGUMENT).
	ErrKeyEmpty = errors.New("transport: empty key")

	// ErrInvalidArgument is the generic bad request (INVALID_ARGUMENT); a
	// status with that code and no ns reason decodes to it.
	ErrInvalidArgument = errors.New("transport: invalid argument")

	// ErrLimitExceeded is matched by every *LimitError (INVALID_ARGUMENT).
	ErrLimitExceeded = errors.New("transport: limit exceeded")

	// ErrBackpressure means a worker's queue stayed full until the request's
	// deadline (RESOURCE_EXHAUSTED). Retry later, or send less at once.
	ErrBackpressure = errors.New("transport: backpressure: worker queue full")

	// ErrLeaving means the node is leaving the cluster and accepts no new work
	// (UNAVAILABLE). Retry on another node.
	ErrLeaving = errors.New("transport: node is leaving")

	// ErrUnavailable means a node could not be reached or could not serve
	// (UNAVAILABLE); a status with that code and no ns reason, such as a
	// refused connection, decodes to it. Retry.
	ErrUnavailable = errors.New("transport: node unavailable")

	// ErrNotOwner means the node does not own the item's partition and may
	// not forward it (FAILED_PRECONDITION). A *MovedError says who does.
	ErrNotOwner = errors.New("transport: node does not own the partition")

	// ErrMoved is matched by every *MovedError (FAILED_PRECONDITION): the
	// sender's partition table is stale.
	ErrMoved = errors.New("transport: partition moved")

	// ErrTooManyHops means an item was forwarded more than once, i.e. nodes
	// disagree on the table (ABORTED). Refresh the table and retry.
	ErrTooManyHops = errors.New("transport: too many forwarding hops")
)

// ErrorDomain is the google.rpc.ErrorInfo domain of ns errors. A status whose
// ErrorInfo has another domain is decoded by its code alone.
const ErrorDomain = "ns"

// Reasons of the typed errors, and the metadata keys of a LimitError.
const (
	ReasonMoved         = "MOVED"
	ReasonLimitExceeded = "LIMIT_EXCEEDED"

	metaLimit = "limit"
	metaSize  = "size"
	metaMax   = "max"
)

// LimitError reports a request over one of the node's limits (see Limits).
// It maps to INVALID_ARGUMENT and matches ErrLimitExceeded; its fields
// survive the trip across gRPC.
type LimitError struct {
	// Limit is the limit's name, which is also its nsnode flag, e.g.
	// "max-key-bytes".
	Limit string
	// Size is the offending size (bytes, or items for max-batch).
	Size int
	// Max is the limit's value.
	Max int
}

// Error names the limit and says how to get under it.
func (e *LimitError) Error() string {
	return fmt.Sprintf("transport: %s limit exceeded: got %d, max %d (send less, or raise the node's --%s)",
		e.Limit, e.Size, e.Max, e.Limit)
}

// Is reports whether target is ErrLimitExceeded.
func (e *LimitError) Is(target error) bool { return target == ErrLimitExceeded }

// MovedError tells a client its partition table is stale: the answering node's
// table puts the partition elsewhere. It maps to FAILED_PRECONDITION with a
// ns.v1.Moved detail (ns.v1.Result.moved on streams) and matches ErrMoved.
type MovedError struct {
	// Epoch is the epoch of the answering node's table.
	Epoch uint64
	// Partition is the key's partition.
	Partition int
	// OwnerID is the partition's owner in that table.
	OwnerID string
	// OwnerAddr is the owner's gRPC address.
	OwnerAddr string
}

// Error says where the partition went.
func (e *MovedError) Error() string {
	return fmt.Sprintf("transport: partition %d moved to %s (%s) at table epoch %d; refresh the table",
		e.Partition, e.OwnerID, e.OwnerAddr, e.Epoch)
}

// Is reports whether target is ErrMoved.
func (e *MovedError) Is(target error) bool { return target == ErrMoved }

func (e *MovedError) proto() *nsv1.Moved {
	return &nsv1.Moved{Epoch: e.Epoch, Partition: uint32(e.Partition), OwnerId: e.OwnerID, OwnerAddr: e.OwnerAddr}
}

func movedFromProto(m *nsv1.Moved) *MovedError {
	return &MovedError{Epoch: m.GetEpoch(), Partition: int(m.GetPartition()), OwnerID: m.GetOwnerId(), OwnerAddr: m.GetOwnerAddr()}
}

// errorEntry maps one sentinel to its gRPC code and its reason, the
// google.rpc.ErrorInfo reason (and ns.v1.Result.reason) that tells sentinels
// sharing a code apart on the wire.
type errorEntry struct {
	err    error
	code   codes.Code
	reason string
	// fallback marks the sentinel that a status with this code but no known
	// ns reason (e.g. one made by grpc-go itself) decodes to. At most one per
	// code.
	fallback bool
}

// errorTable is the one mapping between errors and gRPC status codes (olric's
// routingtable.go registerErrors, without a global registry). Encoding takes
// the first entry the error matches with errors.Is, so an error wrapping two
// sentinels gets the earlier one's code. Reasons are part of the wire
// protocol: never change or reuse one.
var errorTable = []errorEntry{
	// node and transport
	{err: ErrMoved, code: codes.FailedPrecondition, reason: ReasonMoved},
	{err: ErrNotOwner, code: codes.FailedPrecondition, reason: "NOT_OWNER"},
	{err: ErrTooManyHops, code: codes.Aborted, reason: "TOO_MANY_HOPS"},
	{err: ErrLeaving, code: codes.Unavailable, reason: "LEAVING"},
	{err: ErrUnavailable, code: codes.Unavailable, reason: "UNAVAILABLE", fallback: true},
	{err: ErrBackpressure, code: codes.ResourceExhausted, reason: "BACKPRESSURE"},
	{err: ErrLimitExceeded, code: codes.InvalidArgument, reason: ReasonLimitExceeded},
	{err: ErrKeyEmpty, code: codes.InvalidArgument, reason: "KEY_EMPTY"},
	{err: ErrUnknownService, code: codes.InvalidArgument, reason: "UNKNOWN_SERVICE"},
	{err: ErrInvalidArgument, code: codes.InvalidArgument, reason: "INVALID_ARGUMENT", fallback: true},
	{err: ErrKeyNotFound, code: codes.NotFound, reason: "KEY_NOT_FOUND"},

	// ---- kv: the built-in store's sentinels. Add new kv sentinels here. ----
	{err: kv.ErrNotFound, code: codes.NotFound, reason: "KV_NOT_FOUND"},
	{err: kv.ErrNotInteger, code: codes.FailedPrecondition, reason: "KV_NOT_INTEGER"},
	{err: kv.ErrOverflow, code: codes.OutOfRange, reason: "KV_OVERFLOW"},
	{err: kv.ErrInvalidTTL, code: codes.InvalidArgument, reason: "KV_INVALID_TTL"},
	{err: kv.ErrUnknownOp, code: codes.InvalidArgument, reason: "KV_UNKNOWN_OP"},
	{err: kv.ErrCorrupt, code: codes.InvalidArgument, reason: "KV_CORRUPT"},
	{err: kv.ErrMemoryFull, code: codes.ResourceExhausted, reason: "KV_MEMORY_FULL"},
	// ---- end of kv ----

	// context, last: an error that wraps both a sentinel above and a context
	// error (say, ErrBackpressure and context.DeadlineExceeded for a queue that
	// stayed full until the deadline) is reported as the sentinel.
	{err: context.DeadlineExceeded, code: codes.DeadlineExceeded, reason: "DEADLINE_EXCEEDED", fallback: true},
	{err: context.Canceled, code: codes.Canceled, reason: "CANCELED", fallback: true},
}

// byReason and fallbackByCode index errorTable for decoding.
var byReason, fallbackByCode = indexErrorTable(errorTable)

func indexErrorTable(table []errorEntry) (map[string]*errorEntry, map[codes.Code]*errorEntry) {
	reasons := make(map[string]*errorEntry, len(table))
	fallbacks := make(map[codes.Code]*errorEntry)
	for i := range table {
		e := &table[i]
		if _, dup := reasons[e.reason]; dup {
			panic("wire: duplicate error reason " + e.reason)
		}
		reasons[e.reason] = e
		if e.fallback {
			if _, dup := fallbacks[e.code]; dup {
				panic("wire: two fallback errors for code " + e.code.String())
			}
			fallbacks[e.code] = e
		}
	}
	return reasons, fallbacks
}

// wireError is the parts of an error that cross the wire, in a status or in a
// ns.v1.Result.
type wireError struct {
	code     codes.Code
	msg      string
	reason   string
	metadata map[string]string
	moved    *nsv1.Moved
}

func encode(err error) wireError {
	if err == nil {
		return wireError{code: codes.OK}
	}
	msg := err.Error()
	var me *MovedError
	if errors.As(err, &me) {
		return wireError{code: codes.FailedPrecondition, msg: msg, reason: ReasonMoved, moved: me.proto()}
	}
	var le *LimitError
	if errors.As(err, &le) {
		return wireError{code: codes.InvalidArgument, msg: msg, reason: ReasonLimitExceeded, metadata: map[string]string{
			metaLimit: le.Limit, metaSize: strconv.Itoa(le.Size), metaMax: strconv.Itoa(le.Max),
		}}
	}
	for i := range errorTable {
		if errors.Is(err, errorTable[i].err) {
			return wireError{code: errorTable[i].code, msg: msg, reason: errorTable[i].reason}
		}
	}
	if st, ok := status.FromError(err); ok {
		// Already a status, e.g. from grpc-go: keep its code. (status.FromError
		// also accepts a wrapped status and then keeps the full message.)
		return wireError{code: st.Code(), msg: st.Message()}
	}
	return wireError{code: codes.Unknown, msg: msg}
}

func (w wireError) decode() error {
	if w.code == codes.OK {
		return nil
	}
	var known error
	switch e := byReason[w.reason]; {
	case w.moved != nil:
		known = movedFromProto(w.moved)
	case e == nil:
		if f := fallbackByCode[w.code]; f != nil {
			known = f.err
		}
	case e.reason == ReasonLimitExceeded:
		known = limitFromMetadata(w.metadata)
	default:
		known = e.err
	}
	if known == nil {
		return status.Error(w.code, w.msg)
	}
	if known.Error() == w.msg {
		return known
	}
	return &decodedError{msg: w.msg, err: known}
}

func limitFromMetadata(md map[string]string) error {
	size, err1 := strconv.Atoi(md[metaSize])
	limit, err2 := strconv.Atoi(md[metaMax])
	if md[metaLimit] == "" || err1 != nil || err2 != nil {
		return ErrLimitExceeded
	}
	return &LimitError{Limit: md[metaLimit], Size: size, Max: limit}
}

// decodedError is a known error received with a message of its own, e.g.
// "get "k": kv: key not found": it keeps the server's message and matches the
// sentinel (errors.Is) or typed error (errors.As) the server meant.
type decodedError struct {
	msg string
	err error
}

func (e *decodedError) Error() string { return e.msg }
func (e *decodedError) Unwrap() error { return e.err }

// ToStatus returns the gRPC status for err: the code of err's entry in the
// error table, err's message, and a google.rpc.ErrorInfo detail (domain
// ErrorDomain) naming the entry's reason; a *MovedError also gets a
// ns.v1.Moved detail, a *LimitError ErrorInfo metadata "limit", "size" and
// "max". An error already carrying a status keeps it; any other error is
// UNKNOWN with its message. ToStatus(nil) is OK.
func ToStatus(err error) *status.Status {
	if err == nil {
		return status.New(codes.OK, "")
	}
	w := encode(err)
	st := status.New(w.code, w.msg)
	if w.reason == "" {
		if s, ok := status.FromError(err); ok {
			return s // a status passed through keeps its details
		}
		return st
	}
	details := []protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: w.reason, Domain: ErrorDomain, Metadata: w.metadata}}
	if w.moved != nil {
		details = append(details, w.moved)
	}
	if withDetails, err := st.WithDetails(details...); err == nil {
		st = withDetails
	}
	return st
}

// FromStatus returns the error a status stands for, the inverse of ToStatus:
// the table's sentinel (or *MovedError, *LimitError) for the status's reason,
// or for its code when it has no ns reason and the code has a fallback
// (UNAVAILABLE: ErrUnavailable, INVALID_ARGUMENT: ErrInvalidArgument,
// DEADLINE_EXCEEDED and CANCELED: the context errors). The error's message is
// the status's; it is the sentinel itself when the messages are equal. Any
// other status comes back as st.Err(). FromStatus of nil or OK is nil.
func FromStatus(st *status.Status) error {
	if st == nil || st.Code() == codes.OK {
		return nil
	}
	w := wireError{code: st.Code(), msg: st.Message()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == ErrorDomain {
				w.reason, w.metadata = d.GetReason(), d.GetMetadata()
			}
		case *nsv1.Moved:
			w.moved = d
		}
	}
	known := w.decode()
	if _, isStatus := status.FromError(known); isStatus {
		return st.Err() // unknown to the table: the status itself, details and all
	}
	return known
}

// FromError decodes err with FromStatus when it is (or wraps) a gRPC status
// error, as a generated client returns, and returns it unchanged otherwise.
func FromError(err error) error {
	st, ok := status.FromError(err)
	if err == nil || !ok {
		return err
	}
	return FromStatus(st)
}

// Code returns the gRPC code ToStatus(err) would have, without building the
// status. Code(nil) is OK.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var me *MovedError
	if errors.As(err, &me) {
		return codes.FailedPrecondition
	}
	var le *LimitError
	if errors.As(err, &le) {
		return codes.InvalidArgument
	}
	for i := range errorTable {
		if errors.Is(err, errorTable[i].err) {
			return errorTable[i].code
		}
	}
	return status.Code(err) // Unknown for a non-status error
}

// ResultError returns the ns.v1.Result that carries err in a stream or
// forward response: code, message, reason and metadata as ToStatus would
// put them in a status, and Moved for a *MovedError. ResultError(nil) is an
// OK result with no payload.
func ResultError(err error) *nsv1.Result {
	w := encode(err)
	return &nsv1.Result{Code: int32(w.code), Message: w.msg, Reason: w.reason, Metadata: w.metadata, Moved: w.moved}
}

// ErrorFromResult returns the error a result carries, the inverse of
// ResultError (see FromStatus); nil when its code is OK. A Result with Moved
// set decodes to a *MovedError whatever its code.
func ErrorFromResult(r *nsv1.Result) error {
	if r.GetMoved() == nil && r.GetCode() == int32(codes.OK) {
		return nil
	}
	code := codes.Code(r.GetCode())
	if code == codes.OK { // a Moved with no code
		code = codes.FailedPrecondition
	}
	return wireError{code: code, msg: r.GetMessage(), reason: r.GetReason(), metadata: r.GetMetadata(), moved: r.GetMoved()}.decode()
}

// KVResultError returns the ns.v1.KVResult of a failed batch operation: code,
// message, reason and metadata as in ResultError. KVResultError(nil) is an
// OK result with no reply.
func KVResultError(err error) *nsv1.KVResult {
	w := encode(err)
	return &nsv1.KVResult{Code: int32(w.code), Message: w.msg, Reason: w.reason, Metadata: w.metadata}
}

// ErrorFromKVResult returns the error a batch operation's result carries,
// the inverse of KVResultError; nil when its code is OK.
func ErrorFromKVResult(r *nsv1.KVResult) error {
	if r.GetCode() == int32(codes.OK) {
		return nil
	}
	return wireError{code: codes.Code(r.GetCode()), msg: r.GetMessage(), reason: r.GetReason(), metadata: r.GetMetadata()}.decode()
}
