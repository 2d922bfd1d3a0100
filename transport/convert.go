package transport

import (
	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/wire"
)

// KVServiceName is wire.KVServiceName, the name the built-in key-value
// service registers under.
const KVServiceName = wire.KVServiceName

// TableToProto is wire.TableToProto: a table for the wire.
func TableToProto(t *ring.Table) *nsv1.Table { return wire.TableToProto(t) }

// TableFromProto is wire.TableFromProto: a table received over the wire,
// validated.
func TableFromProto(pt *nsv1.Table) (*ring.Table, error) { return wire.TableFromProto(pt) }

// KVRequestFromProto is wire.KVRequestFromProto: one typed KV operation as a
// kv.Request; nil when op has no operation set.
func KVRequestFromProto(op *nsv1.KVOperation) *kv.Request { return wire.KVRequestFromProto(op) }

// KVResultFromResponse is wire.KVResultFromResponse: a successful batch
// operation's reply in the shape of the operation.
func KVResultFromResponse(op *nsv1.KVOperation, r kv.Response) *nsv1.KVResult {
	return wire.KVResultFromResponse(op, r)
}
