package transport

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// HandshakeTimeout bounds the set-up of a connection: the TLS handshake and
// the HTTP/2 preface and settings. A connection that has not completed it
// in time (a client that connects and says nothing) is closed, so idle
// sockets cannot hold connection slots for long.
const HandshakeTimeout = 10 * time.Second

// LimitListener wraps l so that at most max accepted connections are open
// at once. A connection past the limit is closed as soon as it is accepted:
// the client sees the connection end (gRPC: Unavailable) instead of waiting
// in the kernel's backlog, and the server keeps serving the others. Refusals
// are counted and logged (at most once every 10 seconds) on log, which may
// be nil.
func LimitListener(l net.Listener, max int, log *slog.Logger) *LimitedListener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LimitedListener{Listener: l, sem: make(chan struct{}, max), log: log}
}

// LimitedListener is a net.Listener with a connection limit; see
// LimitListener. It is safe for concurrent use.
type LimitedListener struct {
	net.Listener
	sem     chan struct{} // one token per open connection
	log     *slog.Logger
	refused atomic.Uint64
	lastLog atomic.Int64 // unix nanos of the last refusal logged
}

// Accept returns the next connection within the limit, closing those past it.
func (l *LimitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
		}
		_ = c.Close()
		n := l.refused.Add(1)
		now := time.Now().UnixNano()
		if last := l.lastLog.Load(); now-last > int64(10*time.Second) && l.lastLog.CompareAndSwap(last, now) {
			l.log.Warn("connection refused: too many open connections (max-connections)", "max", cap(l.sem), "refused_total", n)
		}
	}
}

// Open returns the connections open now.
func (l *LimitedListener) Open() int { return len(l.sem) }

// Refused returns the connections closed for being past the limit.
func (l *LimitedListener) Refused() uint64 { return l.refused.Load() }

// limitedConn gives its slot back once, on the first Close.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
