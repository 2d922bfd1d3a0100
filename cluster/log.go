package cluster

import (
	"bytes"
	"context"
	"log"
	"log/slog"
)

// newMemberlistLogger returns a *log.Logger that forwards memberlist's log
// lines to l at debug level, with memberlist's own level ("[WARN]", ...) as
// the attribute "ml_level".
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(memberlistLogWriter{l: l}, "", 0)
}

type memberlistLogWriter struct{ l *slog.Logger }

// Write handles one log line. It never fails.
func (w memberlistLogWriter) Write(p []byte) (int, error) {
	if !w.l.Enabled(context.Background(), slog.LevelDebug) {
		return len(p), nil
	}
	line := bytes.TrimSpace(p)
	var level []byte
	if len(line) > 0 && line[0] == '[' {
		if i := bytes.IndexByte(line, ']'); i > 0 {
			level, line = line[1:i], bytes.TrimSpace(line[i+1:])
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	w.l.LogAttrs(context.Background(), slog.LevelDebug, string(line),
		slog.String("component", "memberlist"), slog.String("ml_level", string(level)))
	return len(p), nil
}
