// Package ratelog rate-limits log records on hot paths: each message logs at
// most once per interval, and the next record that gets through says how
// many were suppressed (after nats-server's RateLimitWarnf).
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Logger wraps a *slog.Logger and lets each distinct message through at
// most once per interval. It is safe for concurrent use; a suppressed call
// costs a map lookup and two atomic operations, no lock and no allocation
// beyond the variadic arguments the caller builds.
type Logger struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time
	msgs  sync.Map // message -> *limit
}

type limit struct {
	next       atomic.Int64 // unix nanos before which the message is suppressed
	suppressed atomic.Uint64
}

// New returns a Logger that lets each message through at most once per
// every. every <= 0 means one second. A nil log discards everything.
func New(log *slog.Logger, every time.Duration) *Logger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if every <= 0 {
		every = time.Second
	}
	return &Logger{log: log, every: every, now: time.Now}
}

// Warn logs msg at warning level, rate-limited by msg.
func (l *Logger) Warn(msg string, args ...any) { l.Log(slog.LevelWarn, msg, args...) }

// Error logs msg at error level, rate-limited by msg.
func (l *Logger) Error(msg string, args ...any) { l.Log(slog.LevelError, msg, args...) }

// Log logs msg at level, rate-limited by msg (not by its arguments). A
// record that follows suppressed ones carries "suppressed", their count.
func (l *Logger) Log(level slog.Level, msg string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	v, ok := l.msgs.Load(msg)
	if !ok {
		v, _ = l.msgs.LoadOrStore(msg, &limit{})
	}
	lim := v.(*limit)
	now := l.now().UnixNano()
	next := lim.next.Load()
	if now < next || !lim.next.CompareAndSwap(next, now+int64(l.every)) {
		lim.suppressed.Add(1)
		return
	}
	if n := lim.suppressed.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Log(context.Background(), level, msg, args...)
}
