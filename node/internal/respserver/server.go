package respserver

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
	"github.com/nothingshared/ns/resp"
)

// Server serves the Redis protocol on one listener. Each connection has one
// goroutine that reads every command the client has sent so far, runs them
// as one batch through Backend.Dispatch, and writes the replies with one
// write. It is safe for concurrent use; Close stops it.
type Server struct {
	cfg Config
	lim resp.Limits

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	connsMu sync.Mutex // guards conns and closed
	conns   map[*conn]struct{}
	closed  bool
	wg      sync.WaitGroup // Serve and every connection's goroutine

	nextID   atomic.Int64
	open     atomic.Int64
	accepted atomic.Uint64
	rejected atomic.Uint64
	commands atomic.Uint64
	batches  atomic.Uint64
	started  time.Time
}

// Stats are a Server's counters.
type Stats struct {
	// Connections is the number of connections open now.
	Connections int64
	// Accepted counts connections accepted since start.
	Accepted uint64
	// Rejected counts connections refused over MaxConnections.
	Rejected uint64
	// Commands counts commands processed.
	Commands uint64
	// Batches counts the batches (pipelines) they were processed in.
	Batches uint64
}

// New validates cfg and returns a Server; it serves nothing until Serve.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg,
		// A bulk string may be as large as a command: a value over
		// max-value-bytes is refused by the command, naming the limit,
		// and the connection goes on.
		lim: resp.Limits{
			MaxBulkBytes:    cfg.MaxCommandBytes - resp.DefaultMaxInlineBytes,
			MaxCommandBytes: cfg.MaxCommandBytes,
		},
		ctx:     ctx,
		cancel:  cancel,
		conns:   map[*conn]struct{}{},
		started: time.Now(),
	}
	return s, nil
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{Connections: s.open.Load(), Accepted: s.accepted.Load(), Rejected: s.rejected.Load(),
		Commands: s.commands.Load(), Batches: s.batches.Load()}
}

// Serve accepts connections on lis until Close, which closes lis. It
// returns nil after Close.
func (s *Server) Serve(lis net.Listener) error {
	s.connsMu.Lock()
	if s.closed {
		s.connsMu.Unlock()
		_ = lis.Close()
		return nil
	}
	s.wg.Add(1)
	s.connsMu.Unlock()
	defer s.wg.Done()
	stop := context.AfterFunc(s.ctx, func() { _ = lis.Close() })
	defer stop()
	var delay time.Duration
	for {
		nc, err := lis.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.accepted.Add(1)
		if max := s.cfg.MaxConnections; max > 0 && s.open.Load() >= int64(max) {
			s.rejected.Add(1)
			_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(nc, "-ERR max number of clients reached\r\n")
			_ = nc.Close()
			continue
		}
		c := s.newConn(nc)
		s.connsMu.Lock()
		if s.closed {
			s.connsMu.Unlock()
			_ = nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.open.Add(1)
		s.wg.Add(1)
		s.connsMu.Unlock()
		go func() {
			defer s.wg.Done()
			c.serve()
			s.connsMu.Lock()
			delete(s.conns, c)
			s.connsMu.Unlock()
			s.open.Add(-1)
			_ = c.nc.Close()
			c.release()
		}()
	}
}

// Close stops accepting, closes every connection (a batch being dispatched
// finishes, its replies are lost), and waits for their goroutines. It may be
// called more than once.
func (s *Server) Close() error {
	s.cancel()
	s.connsMu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.nc.Close() // ends a blocked read; the goroutine returns
	}
	s.connsMu.Unlock()
	s.wg.Wait()
	return nil
}

// conn is one client connection, owned by its goroutine.
type conn struct {
	s     *Server
	nc    net.Conn
	id    int64
	rd    *resp.Reader
	wr    resp.Writer // replies of the batch
	imm   resp.Writer // replies computed before the dispatch, in any order
	proto int
	// authed is true when the server needs no authentication, the client
	// presented a verified certificate, or AUTH succeeded.
	authed  bool
	name    string
	libName string
	libVer  string
	quit    bool

	args  [][]byte // arguments of the batch's commands, aliasing rd
	ops   []op     // one per command of the batch, in order
	items []*nsv1.Item
	// deadline is the batch's: no node applies its items later.
	deadline int64
	// itemChunk and byteChunk are what is left of the chunks kv items and
	// payloads are carved from (batch.go).
	itemChunk []nsv1.Item
	byteChunk []byte
	// scratch for lower-casing command names
	lower [32]byte
}

func (s *Server) newConn(nc net.Conn) *conn {
	if s.cfg.TLS != nil {
		nc = tls.Server(nc, s.cfg.TLS)
	}
	c := &conn{s: s, nc: nc, id: s.nextID.Add(1), proto: 2, authed: s.cfg.Tokens == nil}
	c.rd = resp.NewReaderBuffer(nc, getBuf(&readBufs, readBufSize)[:readBufSize], s.lim)
	c.wr.Use(getBuf(&writeBufs, writeBufSize))
	c.wr.Proto = 2
	return c
}

// readBufs and writeBufs recycle the buffers of closed connections (as
// *[]byte of capacity readBufSize and writeBufSize).
var readBufs, writeBufs sync.Pool

func getBuf(p *sync.Pool, size int) []byte {
	if b, ok := p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 0, size)
}

// release recycles the connection's buffers if they have their initial
// size (a buffer grown for a big command or reply is left to the GC).
func (c *conn) release() {
	if b := c.rd.Buffer(); cap(b) == readBufSize {
		b = b[:0]
		readBufs.Put(&b)
	}
	if b := c.wr.Buffer(); cap(b) == writeBufSize {
		writeBufs.Put(&b)
	}
	c.rd, c.args, c.ops, c.items = nil, nil, nil, nil
}

// Buffer sizes: a connection's read buffer starts at readBufSize (it grows
// for a big command and shrinks back, resp.Reader.Fill); its write buffer
// grows with the replies of a batch and is given back past writeBufMax (a
// big MGET).
const (
	readBufSize  = 8 << 10
	writeBufSize = 8 << 10
	writeBufMax  = 64 << 10
)

// serve runs the connection until the client leaves, a protocol error, the
// idle timeout or Close.
func (c *conn) serve() {
	s := c.s
	if tc, ok := c.nc.(*tls.Conn); ok {
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.HandshakeContext(s.ctx); err != nil {
			return
		}
		_ = tc.SetDeadline(time.Time{})
		if st := tc.ConnectionState(); len(st.VerifiedChains) > 0 {
			c.authed = true
		}
	}
	maxDepth := s.cfg.Limits.MaxBatch
	for s.ctx.Err() == nil && !c.quit {
		c.args = c.args[:0]
		c.ops = c.ops[:0]
		c.items = c.items[:0]
		c.imm.Reset()
		c.deadline = time.Now().Add(s.cfg.RequestTimeout).UnixNano()
		nitems := 0
		var perr error
		for len(c.ops) < maxDepth && nitems < maxDepth {
			start := len(c.args)
			var ok bool
			c.args, ok, perr = c.rd.Next(c.args)
			if perr != nil || !ok {
				break
			}
			nitems += len(c.args) - start - 1
			c.plan(int32(start), int32(len(c.args)))
			if c.quit {
				break
			}
		}
		if len(c.ops) > 0 {
			// Counted per batch, not per command: one shared atomic add
			// per command cost 4% of the node's CPU at -P 16.
			s.commands.Add(uint64(len(c.ops)))
			c.run()
			c.imm.Trim(writeBufMax)
			if err := c.wr.Flush(c.nc, writeBufMax); err != nil {
				return
			}
		}
		if perr != nil {
			c.wr.Error("ERR " + perr.Error())
			_ = c.wr.Flush(c.nc, writeBufMax)
			return
		}
		if len(c.ops) > 0 || c.quit {
			continue // more may be buffered already
		}
		if s.cfg.IdleTimeout > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		}
		if err := c.rd.Fill(); err != nil {
			if errors.Is(err, resp.ErrProtocol) {
				c.wr.Error("ERR " + err.Error())
				_ = c.wr.Flush(c.nc, writeBufMax)
			}
			return
		}
	}
}
