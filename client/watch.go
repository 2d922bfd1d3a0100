package client

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/wire"
)

// Watch reconnect delays.
const (
	watchMinBackoff = 100 * time.Millisecond
	watchMaxBackoff = 2 * time.Second
)

// watchers is how many table watches a client keeps open, each to a
// different node. One is not enough: a node that is paused (SIGSTOP, a long
// GC) keeps its stream open but pushes nothing, and a client watching only
// it would route to the paused node until a call failed. With two, a single
// stalled node cannot hide a new table.
const watchers = 2

// watch keeps a ClusterService.WatchTable stream open to one node and
// installs every table it pushes. When the stream fails it moves on to the
// next candidate (table members, then endpoints) after a growing delay,
// skipping nodes another watcher follows while there are others. It runs
// until Close.
func (c *Client) watch() {
	defer c.wg.Done()
	delay := watchMinBackoff
	next := rand.IntN(1 << 16) // spread clients over the nodes
	for c.ctx.Err() == nil {
		addr := c.claimWatch(&next)
		got, err := c.watchOnce(addr)
		c.releaseWatch(addr)
		if c.ctx.Err() != nil {
			return
		}
		if got {
			delay = watchMinBackoff
		}
		c.log.Debug("client: table watch ended; reconnecting", "node", addr, "err", err, "in", delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return
		}
		delay = min(2*delay, watchMaxBackoff)
	}
}

// claimWatch picks the next candidate to watch, from *next on, preferring
// one no other watcher follows, and marks it watched.
func (c *Client) claimWatch(next *int) string {
	cands := c.candidates("")
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	addr := cands[*next%len(cands)]
	for range cands {
		a := cands[*next%len(cands)]
		*next++
		if c.watching[a] == 0 {
			addr = a
			break
		}
	}
	c.watching[addr]++
	return addr
}

// releaseWatch undoes claimWatch.
func (c *Client) releaseWatch(addr string) {
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	if c.watching[addr]--; c.watching[addr] <= 0 {
		delete(c.watching, addr)
	}
}

// watchOnce follows one node's table until the stream ends. got reports
// whether it received any table.
func (c *Client) watchOnce(addr string) (got bool, err error) {
	n, err := c.node(addr)
	if err != nil {
		return false, err
	}
	// Diffs: a node sends each new table as a diff against the one it sent
	// last on this stream when that is smaller (a join at 1,000 members
	// changes a few hundred bytes of a 150 KB table).
	s, err := nsv1.NewClusterServiceClient(n.cc).WatchTable(c.ctx, &nsv1.WatchTableRequest{KnownEpoch: c.epoch(), AcceptDiffs: true})
	if err != nil {
		return false, wire.FromError(err)
	}
	var last *ring.Table // what this stream carried last: the base of a diff
	for {
		resp, err := s.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("stream closed by the node")
			}
			return got, wire.FromError(err)
		}
		got = true
		var t *ring.Table
		if d := resp.GetDiff(); d != nil {
			if t, err = wire.ApplyTableDiff(last, d); err != nil {
				// The stream and this client disagree on the base: start
				// again, with a whole table first.
				return got, fmt.Errorf("client: table diff from %s: %w", addr, err)
			}
		} else if t, err = wire.TableFromProto(resp.GetTable()); err != nil {
			c.log.Warn("client: bad table from watch", "node", addr, "err", err)
			continue
		}
		last = t
		c.install(t, false)
	}
}
