package node

import (
	"context"
	"errors"
	"time"

	"github.com/nothingshared/ns/ring"
	"github.com/nothingshared/ns/worker"
)

// Leave starts a graceful shutdown in the background; Done is closed when
// it has finished.
func (n *Node) Leave() {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*n.cfg.LeaveTimeout+10*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
	}()
}

// Shutdown leaves the cluster gracefully: it stops reporting ready, tells
// the cluster it leaves, lets running calls finish (until ctx ends), drains
// the workers of everything they accepted, and releases every socket. It
// may be called more than once; later calls wait and return the first
// result.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdownOnce.Do(func() {
		n.shutdownErr = n.shutdown(ctx)
		close(n.done)
	})
	<-n.done
	return n.shutdownErr
}

func (n *Node) shutdown(ctx context.Context) error {
	n.leaving.Store(true)
	n.log.Info("leaving the cluster")
	var errs []error
	n.server.SetServing(false)
	atLeave := n.table.Load()
	if err := n.members.Leave(n.cfg.LeaveTimeout); err != nil {
		errs = append(errs, err)
	}
	if len(atLeave.Members()) > 1 && n.started != (time.Time{}) {
		n.waitHandedOff(ctx, atLeave)
	}
	n.pullMu.Lock()
	n.stopping = true
	n.pullMu.Unlock()
	n.repl.close()
	// Everything is handed off: end the clients' streams so they move on,
	// let running calls finish (briefly), then close.
	if n.resp != nil {
		_ = n.resp.Close()
	}
	gctx, gcancel := context.WithTimeout(ctx, 2*time.Second)
	n.server.GracefulStop(gctx)
	gcancel()
	if n.httpSrv != nil {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		_ = n.httpSrv.Shutdown(hctx)
		cancel()
	}
	if n.cancel != nil {
		n.cancel()
	}
	n.pullWG.Wait()
	n.closeListeners()
	if err := n.pool.Close(); err != nil && !errors.Is(err, worker.ErrNotRunning) {
		errs = append(errs, err)
	}
	n.closeLogs()
	if err := n.members.Shutdown(); err != nil {
		errs = append(errs, err)
	}
	n.peers.close()
	n.wg.Wait()
	tctx, tcancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = n.tracing.Shutdown(tctx)
	tcancel()
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// waitHandedOff waits until every partition this node owned has been pulled
// by its new owner (or ctx ends), serving and forwarding meanwhile.
func (n *Node) waitHandedOff(ctx context.Context, t *ring.Table) {
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		left := n.ownedCount(t)
		if left == 0 {
			n.log.Info("every partition handed off", "took", time.Since(start))
			break
		}
		select {
		case <-ctx.Done():
			n.log.Warn("shutdown deadline passed before every partition was handed off", "left", left)
			return
		case <-tick.C:
		}
	}
	// Let replication of the last writes finish.
	for n.repl.pending() > 0 && ctx.Err() == nil {
		<-tick.C
	}
}

// retryViewAfter re-applies the latest view after d (once), so a node whose
// seeds never answer still forms its own cluster at the join timeout.
func (n *Node) retryViewAfter(d time.Duration) {
	if !n.retryArmed.CompareAndSwap(false, true) {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		select {
		case <-time.After(d):
			n.retryArmed.Store(false)
			n.onView(n.members.View())
		case <-n.runCtx.Done():
		}
	}()
}

// Abort stops the node at once, as a crash would: no leave, no handoff, no
// draining. Peers detect the failure. It is for tests and fatal errors;
// Shutdown is the normal way out. Done is closed when it returns.
func (n *Node) Abort() {
	n.shutdownOnce.Do(func() {
		n.leaving.Store(true)
		_ = n.members.Shutdown()
		n.server.Stop()
		if n.resp != nil {
			_ = n.resp.Close()
		}
		if n.httpSrv != nil {
			_ = n.httpSrv.Close()
		}
		if n.cancel != nil {
			n.cancel()
		}
		n.pullMu.Lock()
		n.stopping = true
		n.pullMu.Unlock()
		n.pool.Stop()
		n.closeLogs()
		n.repl.close()
		n.pullWG.Wait()
		n.closeListeners()
		n.peers.close()
		n.wg.Wait()
		close(n.done)
	})
	<-n.done
}
