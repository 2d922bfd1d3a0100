package resp

import (
	"bytes"
	"io"
)

// Limits bound what a Reader accepts. Zero fields take their defaults.
type Limits struct {
	// MaxBulkBytes bounds one argument (a bulk string's length). 0 means
	// DefaultMaxBulkBytes.
	MaxBulkBytes int
	// MaxArgs bounds the arguments of one command (an array's length). 0
	// means DefaultMaxArgs.
	MaxArgs int
	// MaxInlineBytes bounds an inline command and a header line. 0 means
	// DefaultMaxInlineBytes.
	MaxInlineBytes int
	// MaxCommandBytes bounds one whole command, and so the Reader's buffer.
	// 0 means DefaultMaxCommandBytes; it is raised to MaxBulkBytes plus
	// MaxInlineBytes when smaller.
	MaxCommandBytes int
}

// Default limits, Redis's where Redis has one.
const (
	// DefaultMaxBulkBytes is 512 MiB, Redis's proto-max-bulk-len.
	DefaultMaxBulkBytes = 512 << 20
	// DefaultMaxArgs is Redis's limit on an array's length.
	DefaultMaxArgs = 1 << 20
	// DefaultMaxInlineBytes is Redis's PROTO_INLINE_MAX_SIZE.
	DefaultMaxInlineBytes = 64 << 10
	// DefaultMaxCommandBytes is 1 GiB, Redis's client-query-buffer-limit.
	DefaultMaxCommandBytes = 1 << 30
)

// WithDefaults returns l with zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxBulkBytes <= 0 {
		l.MaxBulkBytes = DefaultMaxBulkBytes
	}
	if l.MaxArgs <= 0 {
		l.MaxArgs = DefaultMaxArgs
	}
	if l.MaxInlineBytes <= 0 {
		l.MaxInlineBytes = DefaultMaxInlineBytes
	}
	if l.MaxCommandBytes <= 0 {
		l.MaxCommandBytes = DefaultMaxCommandBytes
	}
	l.MaxCommandBytes = max(l.MaxCommandBytes, l.MaxBulkBytes+l.MaxInlineBytes)
	return l
}

// DefaultBufferSize is the initial size of a Reader's buffer.
const DefaultBufferSize = 16 << 10

// Reader parses commands from a connection. It is not safe for concurrent
// use.
type Reader struct {
	rd   io.Reader
	buf  []byte
	r, w int // buf[r:w] is unparsed input
	need int // bytes buf must hold from r to complete the pending command
	size int // initial buffer size, restored once a big command is done
	lim  Limits
}

// NewReader returns a Reader of rd with a buffer of size bytes (0 means
// DefaultBufferSize) and the given limits.
func NewReader(rd io.Reader, size int, lim Limits) *Reader {
	if size <= 0 {
		size = DefaultBufferSize
	}
	return &Reader{rd: rd, buf: make([]byte, size), size: size, lim: lim.WithDefaults()}
}

// NewReaderBuffer returns a Reader of rd that starts with buf (all of its
// length) as its buffer, e.g. one recycled from a closed connection's
// Reader (Buffer).
func NewReaderBuffer(rd io.Reader, buf []byte, lim Limits) *Reader {
	if len(buf) == 0 {
		buf = make([]byte, DefaultBufferSize)
	}
	return &Reader{rd: rd, buf: buf, size: len(buf), lim: lim.WithDefaults()}
}

// Buffer returns r's current buffer, to be recycled once r is no longer
// used.
func (r *Reader) Buffer() []byte { return r.buf }

// Reset makes r read from rd, discarding buffered input.
func (r *Reader) Reset(rd io.Reader) {
	r.rd = rd
	r.r, r.w, r.need = 0, 0, 0
}

// Buffered returns the number of unparsed bytes in the buffer.
func (r *Reader) Buffered() int { return r.w - r.r }

// Fill reads once from the underlying reader into the buffer, moving the
// unparsed bytes to its start and growing it as the pending command needs
// (up to Limits.MaxCommandBytes). It invalidates the arguments returned by
// Next. It returns the read's error only when no byte was read.
func (r *Reader) Fill() error {
	if r.r == r.w {
		r.r, r.w = 0, 0
		if len(r.buf) > 4*r.size {
			r.buf = make([]byte, r.size) // a big command is done: give it back
		}
	} else if r.r > 0 {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	if r.w == len(r.buf) || r.need > len(r.buf) {
		if len(r.buf) >= r.lim.MaxCommandBytes {
			return ErrCommandTooBig
		}
		n := min(max(2*len(r.buf), r.need), r.lim.MaxCommandBytes)
		nb := make([]byte, n)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	n, err := r.rd.Read(r.buf[r.w:])
	r.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// Next parses the next complete command from the buffered bytes, without
// reading, and appends its arguments (the command name first) to dst. ok is
// false when the buffer holds no complete command (call Fill); dst is then
// returned unchanged. The appended arguments alias the Reader's buffer until
// the next Fill. Empty commands (an empty inline line, "*0") are skipped. A
// non-nil error is a protocol error (it matches ErrProtocol): the
// connection cannot go on.
func (r *Reader) Next(dst [][]byte) (_ [][]byte, ok bool, err error) {
	for r.r < r.w {
		start := len(dst)
		var used int
		if r.buf[r.r] == '*' {
			dst, used, err = r.parseArray(dst)
		} else {
			dst, used, err = r.parseInline(dst)
		}
		if err != nil || used == 0 {
			return dst[:start], false, err
		}
		r.r += used
		r.need = 0
		if len(dst) > start {
			return dst, true, nil
		}
	}
	return dst, false, nil
}

// line returns the length of the header line at p (without CRLF) and the
// bytes it uses with its line end, or used == 0 if p holds no complete line.
func (r *Reader) line(p []byte) (n, used int, err error) {
	i := bytes.IndexByte(p, '\n')
	if i > r.lim.MaxInlineBytes || (i < 0 && len(p) > r.lim.MaxInlineBytes) {
		return 0, 0, ErrInlineTooBig
	}
	if i < 0 {
		return 0, 0, nil
	}
	n = i
	if n > 0 && p[n-1] == '\r' {
		n--
	}
	return n, i + 1, nil
}

// parseArray parses "*N\r\n" followed by N bulk strings.
func (r *Reader) parseArray(dst [][]byte) ([][]byte, int, error) {
	p := r.buf[r.r:r.w]
	n, pos, err := r.line(p)
	if pos == 0 || err != nil {
		if err != nil {
			err = ErrMultibulkLength
		}
		return dst, 0, err
	}
	count, ok := parseInt(p[1:n])
	if !ok || count > int64(r.lim.MaxArgs) {
		return dst, 0, ErrMultibulkLength
	}
	for k := int64(0); k < count; k++ {
		if pos >= len(p) {
			return dst, 0, nil
		}
		if p[pos] != '$' {
			return dst, 0, expectedBulk(p[pos])
		}
		ln, used, err := r.line(p[pos:])
		if err != nil || (used == 0 && len(p)-pos > 32) {
			return dst, 0, ErrBulkLength
		}
		if used == 0 {
			return dst, 0, nil
		}
		l, ok := parseInt(p[pos+1 : pos+ln])
		if !ok || l < 0 || l > int64(r.lim.MaxBulkBytes) {
			return dst, 0, ErrBulkLength
		}
		pos += used
		end := pos + int(l)
		if end+2 > len(p) {
			r.need = end + 2
			if r.need > r.lim.MaxCommandBytes {
				return dst, 0, ErrCommandTooBig
			}
			return dst, 0, nil
		}
		if p[end] != '\r' || p[end+1] != '\n' {
			return dst, 0, &protoError{"bulk string not terminated by CRLF"}
		}
		dst = append(dst, p[pos:end:end])
		pos = end + 2
	}
	return dst, pos, nil
}

// parseInline parses one inline command: arguments separated by spaces,
// with Redis's double quotes (backslash escapes \n \r \t \b \a \\ \" \xHH)
// and single quotes (only \' is an escape). Unescaping rewrites the buffer
// in place.
func (r *Reader) parseInline(dst [][]byte) ([][]byte, int, error) {
	p := r.buf[r.r:r.w]
	n, used, err := r.line(p)
	if used == 0 || err != nil {
		return dst, 0, err
	}
	line := p[:n]
	start := len(dst)
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			return dst, used, nil
		}
		var arg []byte
		arg, i, err = inlineArg(line, i)
		if err != nil {
			return dst[:start], 0, err
		}
		dst = append(dst, arg)
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// inlineArg parses the argument of line at i, unescaping it in place, and
// returns it and the index after it.
func inlineArg(line []byte, i int) ([]byte, int, error) {
	switch line[i] {
	case '"', '\'':
		q := line[i]
		out := line[i:i] // written in place: never longer than the input
		for j := i + 1; j < len(line); j++ {
			c := line[j]
			switch {
			case c == q:
				if j+1 < len(line) && !isSpace(line[j+1]) {
					return nil, 0, ErrUnbalancedQuotes // Redis: a closing quote must be followed by a space
				}
				return out[:len(out):len(out)], j + 1, nil
			case c == '\\' && j+1 < len(line) && q == '"':
				j++
				switch e := line[j]; e {
				case 'n':
					c = '\n'
				case 'r':
					c = '\r'
				case 't':
					c = '\t'
				case 'b':
					c = '\b'
				case 'a':
					c = '\a'
				case 'x':
					if j+2 < len(line) && isHex(line[j+1]) && isHex(line[j+2]) {
						c = unhex(line[j+1])<<4 | unhex(line[j+2])
						j += 2
					} else {
						c = e
					}
				default:
					c = e
				}
			case c == '\\' && j+1 < len(line) && line[j+1] == '\'' && q == '\'':
				j++
				c = '\''
			}
			out = append(out, c)
		}
		return nil, 0, ErrUnbalancedQuotes
	default:
		j := i
		for j < len(line) && !isSpace(line[j]) {
			j++
		}
		return line[i:j:j], j, nil
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// parseInt parses a decimal int64 as Redis does for lengths: an optional
// minus sign and at most 18 digits, nothing else.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
