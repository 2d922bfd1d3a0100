package node

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
	"time"

	"github.com/nothingshared/ns/node/internal/owner"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"

	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/transport"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"
)

// fetch pulls a partition's state from m. found is false when m holds none.
// fetchMeta is what a holder says of its copy with its first answer.
type fetchMeta struct {
	history []owner.Holding // HandoffResponse.history
	covers  uint64          // HandoffResponse.covers
}

// A holder the failure detector declared dead (owner.Member.Dead) is asked
// too, in case the declaration is false (docs/handoff.md section 13), but it
// gets deadAnswerTimeout to answer; one that did not answer is not asked
// again for deadSilence, so that the takeover pulls of a crashed or cut-off
// node's partitions do not each wait for it. A crashed node's port refuses
// at once; the wait is for a paused or cut-off one.
const (
	deadAnswerTimeout = 500 * time.Millisecond
	deadSilence       = 3 * time.Second
)

// errDeadSilent is the answer, without asking, of a dead holder that did
// not answer within the last deadSilence.
var errDeadSilent = fmt.Errorf("%w: declared dead, and silent when last asked", transport.ErrUnavailable)

// silentDead remembers, per member, until when pulls skip it (deadSilence).
type silentDead struct {
	mu    sync.Mutex // a leaf lock
	until map[string]time.Time
}

func (s *silentDead) skip(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Before(s.until[id])
}

func (s *silentDead) note(id string, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.until == nil {
		s.until = map[string]time.Time{}
	}
	s.until[id] = now.Add(deadSilence)
}

// fetchReq is what a pull asks a holder for.
type fetchReq struct {
	epoch      uint64 // the puller's table epoch (HandoffStart.epoch)
	mode       nsv1.HandoffMode
	takeFenced bool
	dead       bool   // the failure detector declared the holder dead (see deadAnswerTimeout)
	fence      uint64 // replica mode: the epoch this node's copy is fenced at (HandoffStart.fence)
}

// heldStream is the handoff stream of a copy fetched and not yet installed:
// it stays open until ack ends it (or its context does), and
// the holder keeps its copy fenced meanwhile. Each fetch owns its own: two
// pulls of one partition from one holder (an owner pull and a replica pull
// that overlap across a table change) must not answer each other's
// holder.
type heldStream struct {
	st     nsv1.PeerService_HandoffClient
	cancel context.CancelFunc
}

// meta receives what the holder says of p besides the copy. When found,
// the returned stream awaits its ack.
func (n *Node) fetch(m ring.Member, p int32, rq fetchReq, meta *fetchMeta) (data []byte, found bool, redirect ring.Member, held *heldStream, err error) {
	if rq.dead && n.silent.skip(m.ID, time.Now()) {
		return nil, false, redirect, nil, errDeadSilent
	}
	data, found, redirect, held, err = n.fetchOnce(m, p, rq, meta)
	if err != nil {
		answered := fromHolder(err)
		if rq.dead && !answered {
			n.silent.note(m.ID, time.Now())
		}
		err = transport.FromError(err)
		if answered {
			err = &holderError{err}
		}
	}
	return data, found, redirect, held, err
}

func (n *Node) fetchOnce(m ring.Member, p int32, rq fetchReq, meta *fetchMeta) (data []byte, found bool, redirect ring.Member, held *heldStream, err error) {
	conn, err := n.peers.get(m.Addr)
	if err != nil {
		return nil, false, redirect, nil, err
	}
	// The holder must answer within a few seconds (a paused or cut-off
	// node must not stall the pull); the whole transfer may take up to
	// HandoffTimeout.
	first := 5 * time.Second
	switch {
	case rq.dead:
		first = deadAnswerTimeout
	case n.table.Load().MemberIndex(m.ID) < 0:
		first = 3 * time.Second // not in the table: gone, or leaving
	}
	ctx, cancel := context.WithTimeout(n.runCtx, n.cfg.HandoffTimeout)
	answered := make(chan struct{})
	stall := time.AfterFunc(first, func() {
		select {
		case <-answered:
		default:
			cancel()
		}
	})
	defer stall.Stop()
	began := time.Now()
	st, err := nsv1.NewPeerServiceClient(conn).Handoff(ctx)
	if err != nil {
		cancel()
		return nil, false, redirect, nil, err
	}
	// The stream stays open until ack (or a failure) ends it.
	defer func() {
		if err != nil || !found {
			cancel()
		}
	}()
	if err := st.Send(&nsv1.HandoffRequest{Msg: &nsv1.HandoffRequest_Start{Start: &nsv1.HandoffStart{
		Partition: uint32(p), Epoch: rq.epoch, Mode: rq.mode, From: n.cfg.NodeID, TakeFenced: rq.takeFenced, Fence: rq.fence}}}); err != nil {
		return nil, false, redirect, nil, err
	}
	var buf []byte
	for seq := uint64(0); ; seq++ {
		resp, err := st.Recv()
		if seq == 0 {
			close(answered)
			if err == nil {
				n.lease.note(m.ID, began)
				*meta = fetchMeta{history: holdingsFromProto(resp.GetHistory()), covers: resp.GetCovers()}
			}
		}
		if err != nil {
			return nil, false, redirect, nil, err
		}
		if !resp.GetFound() {
			_ = st.CloseSend()
			return nil, false, ring.Member{ID: resp.GetMovedToId(), Addr: resp.GetMovedToAddr()}, nil, nil
		}
		if resp.GetSeq() != seq {
			return nil, false, redirect, nil, fmt.Errorf("handoff chunk %d arrived as %d", seq, resp.GetSeq())
		}
		if crc32.Checksum(resp.GetData(), castagnoli) != resp.GetCrc32C() {
			return nil, false, redirect, nil, fmt.Errorf("handoff chunk %d: checksum mismatch", seq)
		}
		buf = append(buf, resp.GetData()...)
		if resp.GetLast() {
			if uint64(len(buf)) != resp.GetTotalBytes() {
				return nil, false, redirect, nil, fmt.Errorf("handoff: got %d bytes, sender says %d", len(buf), resp.GetTotalBytes())
			}
			return buf, true, redirect, &heldStream{st: st, cancel: cancel}, nil
		}
	}
}

// ack tells the holder whether the copy it sent is installed (it can
// release its copy) or not (it keeps it, fenced), waits for the holder to
// close the stream, and ends it. It returns nil once the holder has
// closed the stream after reading the ack.
func (h *heldStream) ack(installed bool) error {
	defer h.cancel()
	_ = h.st.Send(&nsv1.HandoffRequest{Msg: &nsv1.HandoffRequest_Ack{Ack: &nsv1.HandoffAck{Installed: installed}}})
	_ = h.st.CloseSend()
	if _, err := h.st.Recv(); !errors.Is(err, io.EOF) { // wait for the holder to close
		return fmt.Errorf("handoff ack: the holder did not close the stream: %v", err)
	}
	return nil
}

// fetched is a copy a pull received, not installed yet.
type fetched struct {
	from       ring.Member
	held       *heldStream // acknowledged once installed or released
	data       []byte
	epoch, lsn uint64
	start      time.Time
}

// installFetched installs a fetched copy and acknowledges it to its holder.
func (n *Node) installFetched(k pullKey, t *ring.Table, gen uint64, mode nsv1.HandoffMode, fe *fetched, answers []string) (bool, error) {
	err := n.install(k, n.ownershipEpoch(t), gen, fe.data)
	if err != nil {
		_ = fe.held.ack(false)
		return false, fmt.Errorf("install from %s: %w", fe.from.ID, err)
	}
	_ = fe.held.ack(true)
	n.noteHandoff(true, int64(len(fe.data)), time.Since(fe.start), nil)
	n.handoffs.Add(1)
	n.handoffBytes.Add(uint64(len(fe.data)))
	n.log.Info("partition installed", "partition", k.p, "mode", mode.String(), "from", fe.from.ID, "bytes", len(fe.data), "took", time.Since(fe.start), "answers", answers)
	return true, nil
}

// holderError is an error the holder itself answered (as opposed to not
// being reachable): it is alive and may hold the state, so the pull retries.
type holderError struct{ error }

func (e *holderError) Unwrap() error { return e.error }

// fromHolder reports whether err is a status an ns node sent (it carries
// the ns ErrorInfo), not a transport failure.
func fromHolder(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == transport.ErrorDomain {
			return true
		}
	}
	return false
}
