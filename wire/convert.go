package wire

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
)

// TableToProto converts a table for the wire.
func TableToProto(t *ring.Table) *nsv1.Table {
	members := t.Members()
	pt := &nsv1.Table{
		Epoch:       t.Epoch(),
		Hash:        t.Hash(),
		Partitions:  uint32(t.Partitions()),
		BackupCount: uint32(t.BackupCount()),
		Members:     make([]*nsv1.TableMember, len(members)),
		Owners:      make([]uint32, t.Partitions()),
	}
	for i, m := range members {
		pt.Members[i] = &nsv1.TableMember{Id: m.ID, GrpcAddr: m.Addr, Zone: m.Zone}
	}
	for p := range pt.Owners {
		pt.Owners[p] = uint32(t.OwnerIndex(p))
	}
	if t.BackupCount() > 0 {
		pt.Backups = make([]*nsv1.PartitionBackups, t.Partitions())
		for p := range pt.Backups {
			idx := t.BackupIndexes(p)
			b := &nsv1.PartitionBackups{Members: make([]uint32, len(idx))}
			for i, x := range idx {
				b.Members[i] = uint32(x)
			}
			pt.Backups[p] = b
		}
	}
	return pt
}

// TableFromProto rebuilds a table received over the wire, validating every
// index, and checks that its content hash matches the one sent.
func TableFromProto(pt *nsv1.Table) (*ring.Table, error) {
	if pt == nil {
		return nil, errors.New("wire: empty table")
	}
	cfg := ring.DefaultConfig()
	cfg.Partitions = int(pt.GetPartitions())
	cfg.Backups = int(pt.GetBackupCount())
	members := make([]ring.Member, len(pt.GetMembers()))
	for i, m := range pt.GetMembers() {
		members[i] = ring.Member{ID: m.GetId(), Addr: m.GetGrpcAddr(), Zone: m.GetZone()}
	}
	owners := make([]int, len(pt.GetOwners()))
	for i, o := range pt.GetOwners() {
		owners[i] = int(o)
	}
	var backups [][]int
	if len(pt.GetBackups()) > 0 {
		backups = make([][]int, len(pt.GetBackups()))
		for p, b := range pt.GetBackups() {
			backups[p] = make([]int, len(b.GetMembers()))
			for i, x := range b.GetMembers() {
				backups[p][i] = int(x)
			}
		}
	}
	t, err := ring.FromAssignment(cfg, pt.GetEpoch(), members, owners, backups)
	if err != nil {
		return nil, err
	}
	if t.Hash() != pt.GetHash() {
		return nil, fmt.Errorf("wire: table hash mismatch: sent %x, computed %x", pt.GetHash(), t.Hash())
	}
	return t, nil
}

// KVRequestFromProto converts one typed KV operation into a kv.Request; nil
// when op has no operation set.
func KVRequestFromProto(op *nsv1.KVOperation) *kv.Request {
	switch o := op.GetOp().(type) {
	case *nsv1.KVOperation_Get:
		return &kv.Request{Op: kv.OpGet, Key: o.Get.GetKey()}
	case *nsv1.KVOperation_Put:
		return &kv.Request{Op: kv.OpPut, Key: o.Put.GetKey(), Value: o.Put.GetValue(),
			TTL: time.Duration(o.Put.GetTtlMs()) * time.Millisecond, RequestID: o.Put.GetRequestId()}
	case *nsv1.KVOperation_Delete:
		return &kv.Request{Op: kv.OpDelete, Key: o.Delete.GetKey(), RequestID: o.Delete.GetRequestId()}
	case *nsv1.KVOperation_Incr:
		return &kv.Request{Op: kv.OpIncr, Key: o.Incr.GetKey(), Delta: o.Incr.GetDelta(), RequestID: o.Incr.GetRequestId()}
	case *nsv1.KVOperation_CompareAndSwap:
		c := o.CompareAndSwap
		return &kv.Request{Op: kv.OpCompareAndSwap, Key: c.GetKey(), Expected: c.GetExpected(),
			ExpectAbsent: c.GetExpectAbsent(), Value: c.GetValue(),
			TTL: time.Duration(c.GetTtlMs()) * time.Millisecond, RequestID: c.GetRequestId()}
	}
	return nil
}

// KVResultFromResponse encodes a successful batch operation's reply in the
// shape of the operation.
func KVResultFromResponse(op *nsv1.KVOperation, r kv.Response) *nsv1.KVResult {
	out := &nsv1.KVResult{Code: int32(codes.OK)}
	switch op.GetOp().(type) {
	case *nsv1.KVOperation_Get:
		out.Result = &nsv1.KVResult_Get{Get: &nsv1.GetResponse{Value: r.Value, TtlMs: r.TTL.Milliseconds()}}
	case *nsv1.KVOperation_Put:
		out.Result = &nsv1.KVResult_Put{Put: &nsv1.PutResponse{}}
	case *nsv1.KVOperation_Delete:
		out.Result = &nsv1.KVResult_Delete{Delete: &nsv1.DeleteResponse{Deleted: r.Found}}
	case *nsv1.KVOperation_Incr:
		out.Result = &nsv1.KVResult_Incr{Incr: &nsv1.IncrResponse{Value: r.Counter}}
	case *nsv1.KVOperation_CompareAndSwap:
		out.Result = &nsv1.KVResult_CompareAndSwap{CompareAndSwap: &nsv1.CompareAndSwapResponse{
			Swapped: r.Swapped, Current: r.Value, Found: r.Found}}
	}
	return out
}

// KVServiceName is the name the built-in key-value service registers under:
// the service of every item the KV API and the RESP port send.
const KVServiceName = "kv"
