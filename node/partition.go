package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"

	"github.com/nothingshared/ns/transport"
)

// parkedItem is an item waiting in its worker for its partition's state.
type parkedItem struct {
	env *envelope
	j   int
}

// partState is one partition as its owning worker sees it. Only that worker
// touches it.
type partState struct {
	status  owner.Status
	epoch   uint64 // ownership epoch of the data: the epoch its owner wrote it at
	fence   uint64 // fenced: the epoch it was handed over at
	lsn     uint64 // sequence number of the last applied write
	svcs    []Partition
	dedup   dedup
	movedTo moved // fenced: where the state went
	parked  []parkedItem
	// gen is the serving-lease generation under which this copy was
	// installed or verified (lease.go): an owned copy is served only while
	// it equals the current one.
	gen uint64
	// unacked is the latest write not yet known to be on every backup;
	// reads wait for it (holdRead).
	unacked *writeAck
	since   time.Time // when the status last changed

	// dormant: owned, but a table gave the partition to another node since:
	// if it comes back, others may hold newer state (see plan).
	dormant bool
	// fallback: incoming, this node's own earlier copy, installed if no
	// newer one is found.
	fallback *partState
	// fromReplica: fallback is this node's backup copy (taken over whole
	// when installed).
	fromReplica bool
	// fetching: incoming, and a pull is asking holders right now (a holder
	// asked for it answers "arriving").
	fetching bool
	// servedAt: the newest table epoch (with quorum) under which this copy
	// was owned and served: it holds every write acknowledged up to that
	// table (owner.Reply.Covers).
	servedAt uint64
}

type moved struct{ id, addr string }

// replicaState is a backup copy of a partition another node owns.
type replicaState struct {
	epoch    uint64 // ownership epoch of the data: the newest owner epoch applied
	fence    uint64 // a puller took this copy at this epoch: older owners are refused
	lsn      uint64 // last applied write
	svcs     []Partition
	dedup    dedup
	syncing  bool // waiting for a snapshot; ops wait in buffered
	buffered []parkedOp
	orphan   time.Time // set when the table no longer names this node a backup
	// syncedAt: the newest table epoch (with quorum) under which this copy
	// followed its owner in sync (owner.Reply.Covers).
	syncedAt uint64
	// source: the owner replicating to this copy while it waits for a
	// snapshot (a gap, or no copy yet): the replica pull asks it first.
	source string
}

// parkedOp is a replicated op waiting for its replica's snapshot.
type parkedOp struct {
	env *envelope
	j   int
}

// Snapshot format of one partition, node level (the services' own snapshots
// are embedded):
//
//	"NSP1" | epoch uvarint | lsn uvarint |
//	nsvc uvarint | nsvc * (name bytes | data bytes) |
//	ndedup uvarint | ndedup * (id uvarint | lsn uvarint | code uvarint | payload bytes) |
//	crc32c of everything before, 4 bytes big endian
//
// where "bytes" is a uvarint length then the bytes.
var partMagic = []byte("NSP1")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadSnapshot wraps every decoding failure of a partition snapshot.
var errBadSnapshot = errors.New("node: bad partition snapshot")

// encodePartition snapshots a partition's services and dedup table.
func (n *Node) encodePartition(epoch, lsn uint64, svcs []Partition, d *dedup) ([]byte, error) {
	var buf bytes.Buffer
	buf.Write(partMagic)
	var tmp [binary.MaxVarintLen64]byte
	uv := func(v uint64) { buf.Write(tmp[:binary.PutUvarint(tmp[:], v)]) }
	bs := func(b []byte) { uv(uint64(len(b))); buf.Write(b) }
	uv(epoch)
	uv(lsn)
	var count uint64
	for _, p := range svcs {
		if _, ok := p.(Snapshotter); ok {
			count++
		}
	}
	uv(count)
	var sb bytes.Buffer
	for i, p := range svcs {
		s, ok := p.(Snapshotter)
		if !ok {
			continue
		}
		sb.Reset()
		if err := s.Snapshot(&sb); err != nil {
			return nil, fmt.Errorf("node: snapshot of service %s: %w", n.svcList[i].Name(), err)
		}
		bs([]byte(n.svcList[i].Name()))
		bs(sb.Bytes())
	}
	uv(uint64(d.len()))
	// Oldest first, so a decoded table forgets them first too.
	d.each(func(id uint64, e *dedupEntry) {
		uv(id)
		uv(e.lsn)
		uv(uint64(e.code))
		uv(uint64(e.resultLen()))
		if e.payload != nil {
			buf.Write(e.payload)
		} else {
			buf.Write(e.inl[:e.inlLen])
		}
	})
	sum := crc32.Checksum(buf.Bytes(), castagnoli)
	buf.Write(binary.BigEndian.AppendUint32(nil, sum))
	return buf.Bytes(), nil
}

// decodedPartition is a snapshot ready to install.
type decodedPartition struct {
	epoch, lsn uint64
	svcs       []Partition
	dedup      dedup
}

// decodePartition verifies and decodes a snapshot into fresh service states.
func (n *Node) decodePartition(p int, b []byte) (*decodedPartition, error) {
	if len(b) < len(partMagic)+4 || !bytes.Equal(b[:len(partMagic)], partMagic) {
		return nil, fmt.Errorf("%w: no header", errBadSnapshot)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", errBadSnapshot)
	}
	r := bytes.NewReader(body[len(partMagic):])
	var err error
	uv := func() uint64 {
		if err != nil {
			return 0
		}
		var v uint64
		v, err = binary.ReadUvarint(r)
		return v
	}
	bs := func() []byte {
		l := uv()
		if err != nil {
			return nil
		}
		if l > uint64(r.Len()) {
			err = fmt.Errorf("%w: length %d past the end", errBadSnapshot, l)
			return nil
		}
		out := make([]byte, l)
		_, _ = r.Read(out)
		return out
	}
	d := &decodedPartition{svcs: make([]Partition, len(n.svcList))}
	d.epoch = uv()
	d.lsn = uv()
	nsvc := uv()
	for i := uint64(0); i < nsvc && err == nil; i++ {
		name := string(bs())
		data := bs()
		if err != nil {
			break
		}
		si, ok := n.services[name]
		if !ok {
			n.log.Warn("snapshot holds state of a service this node does not host; dropped", "service", name, "partition", p)
			continue
		}
		st := n.svcList[si].NewPartition(p)
		s, ok := st.(Snapshotter)
		if !ok {
			continue
		}
		if rerr := s.Restore(bytes.NewReader(data)); rerr != nil {
			return nil, fmt.Errorf("%w: service %s: %v", errBadSnapshot, name, rerr)
		}
		d.svcs[si] = st
	}
	ndedup := uv()
	for i := uint64(0); i < ndedup && err == nil; i++ {
		id := uv()
		e := dedupEntry{lsn: uv(), code: int32(uv())}
		e.payload = bs()
		if err == nil {
			d.dedup.put(n.mem, id, e, true) // charged even past the limit, like the data
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadSnapshot, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadSnapshot, r.Len())
	}
	return d, nil
}

// orphanTTL is how long a backup copy is kept after the table stopped
// naming this node a backup of it: a new owner may still need to pull it.
const orphanTTL = time.Minute

// tick is the worker's periodic housekeeping, run through its priority
// lane: expire keys, answer parked items and ops whose deadline passed, and
// drop backup copies nobody needs any more.
func (s *shard) tick(n *Node, now time.Time) {
	n.walTick(s, now)
	for _, ps := range s.parts {
		if ps.status == owner.Owned {
			for _, p := range ps.svcs {
				if e, ok := p.(Expirer); ok {
					e.ExpireSome(now, 64)
				}
			}
		}
		if len(ps.parked) > 0 {
			kept := ps.parked[:0]
			for _, pk := range ps.parked {
				err := pk.env.ctx.Err()
				if err == nil {
					err = n.expired(pk.env.items[pk.j], now)
				}
				if err != nil {
					pk.env.results[pk.env.pos[pk.j]] = transport.ResultError(fmt.Errorf("%w: partition state still incoming (handoff under way)", err))
					pk.env.call.finish()
					continue
				}
				kept = append(kept, pk)
			}
			ps.parked = kept
		}
	}
	for p, rs := range s.replicas {
		if len(rs.buffered) > 0 {
			kept := rs.buffered[:0]
			for _, b := range rs.buffered {
				if err := b.env.ctx.Err(); err != nil {
					b.env.results[b.env.pos[b.j]] = transport.ResultError(err)
					b.env.call.finish()
					continue
				}
				kept = append(kept, b)
			}
			rs.buffered = kept
		}
		if !rs.orphan.IsZero() && now.Sub(rs.orphan) > orphanTTL && len(rs.buffered) == 0 {
			delete(s.replicas, p)
		}
	}
}

// peekPartition reads a snapshot's epoch and LSN without decoding it.
func peekPartition(b []byte) (epoch, lsn uint64, ok bool) {
	if len(b) < len(partMagic)+4 || !bytes.Equal(b[:len(partMagic)], partMagic) {
		return 0, 0, false
	}
	r := b[len(partMagic):]
	e, n := binary.Uvarint(r)
	if n <= 0 {
		return 0, 0, false
	}
	l, m := binary.Uvarint(r[n:])
	if m <= 0 {
		return 0, 0, false
	}
	return e, l, true
}

// exec runs fn on worker w's goroutine like worker.Pool.Exec, with one
// more promise: when it returns, fn has either run to its end or will
// never run. Pool.Exec may return on ctx's end with fn still queued, and fn
// writes variables its caller reads; without this, that caller would race
// with a late fn (seen under -race when a busy worker made a 5 s Exec time
// out). After an error, whether fn ran is still unknown: callers that must
// know have fn record it.
func (n *Node) exec(ctx context.Context, w int, fn func(s *shard)) error {
	var mu sync.Mutex // held while fn runs; guards abandoned
	abandoned := false
	err := n.pool.Exec(ctx, w, func(s *shard) {
		mu.Lock()
		defer mu.Unlock()
		if !abandoned {
			fn(s)
		}
	})
	if err != nil {
		mu.Lock()
		abandoned = true
		mu.Unlock()
	}
	return err
}
