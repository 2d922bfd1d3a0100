package cluster

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"time"

	"github.com/nothingshared/ns/internal/ratelog"
)

// newMemberlistLogger returns a *log.Logger that forwards memberlist's log
// lines to l at debug level, with memberlist's own level ("[WARN]", ...) as
// the attribute "ml_level".
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(memberlistLogWriter{l: l, refused: ratelog.New(l, 10*time.Second)}, "", 0)
}

type memberlistLogWriter struct {
	l       *slog.Logger
	refused *ratelog.Logger // gossip refused for its key or label: a warning, rate-limited
}

// refusalMarks are in memberlist's log lines about gossip it dropped for a
// wrong key, missing encryption or a wrong cluster label.
var refusalMarks = [][]byte{[]byte("decrypt"), []byte("not encrypted"), []byte("encryption is not configured"), []byte("label")}

// Write handles one log line. It never fails.
func (w memberlistLogWriter) Write(p []byte) (int, error) {
	for _, m := range refusalMarks {
		if w.refused != nil && bytes.Contains(p, m) {
			w.refused.Warn("cluster: gossip refused: wrong gossip key or cluster label, or a node without encryption (--gossip-key-file, --cluster-label)",
				"reason", string(bytes.TrimSpace(p)))
			break
		}
	}
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
