package resp

import (
	"io"
	"strconv"
)

// Writer appends replies to a buffer in RESP2 or RESP3 and writes them out
// with Flush. Appending never fails and does not allocate once the buffer is
// large enough. It is not safe for concurrent use.
type Writer struct {
	buf []byte
	// Proto is the protocol version replies are written in: 2 (the zero
	// value counts as 2) or 3. It changes how nulls and maps are written.
	Proto int
}

// NewWriter returns a Writer for RESP2 with a buffer of size bytes.
func NewWriter(size int) *Writer { return &Writer{buf: make([]byte, 0, size), Proto: 2} }

// Use makes w append to buf's storage (from its start), e.g. a buffer
// recycled from another Writer (Buffer).
func (w *Writer) Use(buf []byte) { w.buf = buf[:0] }

// Buffer returns w's storage, empty, to be recycled once w is no longer
// used.
func (w *Writer) Buffer() []byte { return w.buf[:0] }

// Trim discards the buffered bytes and gives the storage back to the
// garbage collector if it grew beyond max.
func (w *Writer) Trim(max int) {
	if cap(w.buf) > max {
		w.buf = nil
	}
	w.buf = w.buf[:0]
}

// Len returns the number of bytes buffered.
func (w *Writer) Len() int { return len(w.buf) }

// Bytes returns the buffered bytes; they alias the buffer.
func (w *Writer) Bytes() []byte { return w.buf }

// Reset discards the buffered bytes.
func (w *Writer) Reset() { w.buf = w.buf[:0] }

// Raw appends bytes that are already RESP.
func (w *Writer) Raw(b []byte) { w.buf = append(w.buf, b...) }

// Flush writes the buffered bytes to dst and empties the buffer. A buffer
// grown far beyond max is given back to the garbage collector.
func (w *Writer) Flush(dst io.Writer, max int) error {
	_, err := dst.Write(w.buf)
	if max > 0 && cap(w.buf) > max {
		w.buf = make([]byte, 0, max)
	}
	w.buf = w.buf[:0]
	return err
}

// Status appends a simple string (+OK).
func (w *Writer) Status(s string) {
	w.buf = append(w.buf, '+')
	w.buf = appendLine(w.buf, s)
}

// Error appends an error reply. msg starts with the error code, e.g.
// "ERR syntax error" or "WRONGPASS ..."; line breaks in it become spaces.
func (w *Writer) Error(msg string) {
	w.buf = append(w.buf, '-')
	w.buf = appendLine(w.buf, msg)
}

// Int appends an integer reply.
func (w *Writer) Int(n int64) {
	w.buf = append(w.buf, ':')
	w.buf = strconv.AppendInt(w.buf, n, 10)
	w.buf = append(w.buf, '\r', '\n')
}

// Bulk appends a bulk string.
func (w *Writer) Bulk(b []byte) {
	w.buf = append(w.buf, '$')
	w.buf = strconv.AppendInt(w.buf, int64(len(b)), 10)
	w.buf = append(w.buf, '\r', '\n')
	w.buf = append(w.buf, b...)
	w.buf = append(w.buf, '\r', '\n')
}

// BulkString appends a bulk string.
func (w *Writer) BulkString(s string) {
	w.buf = append(w.buf, '$')
	w.buf = strconv.AppendInt(w.buf, int64(len(s)), 10)
	w.buf = append(w.buf, '\r', '\n')
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}

// BulkInt appends n as a bulk string of its decimal digits.
func (w *Writer) BulkInt(n int64) {
	var d [20]byte
	w.Bulk(strconv.AppendInt(d[:0], n, 10))
}

// Null appends a null: $-1 in RESP2, _ in RESP3.
func (w *Writer) Null() {
	if w.Proto == 3 {
		w.buf = append(w.buf, '_', '\r', '\n')
		return
	}
	w.buf = append(w.buf, '$', '-', '1', '\r', '\n')
}

// NullArray appends a null array: *-1 in RESP2, _ in RESP3.
func (w *Writer) NullArray() {
	if w.Proto == 3 {
		w.buf = append(w.buf, '_', '\r', '\n')
		return
	}
	w.buf = append(w.buf, '*', '-', '1', '\r', '\n')
}

// Array appends the header of an array of n elements.
func (w *Writer) Array(n int) { w.header('*', n) }

// Map appends the header of a map of n key-value pairs: %n in RESP3, an
// array of 2n elements in RESP2.
func (w *Writer) Map(n int) {
	if w.Proto == 3 {
		w.header('%', n)
		return
	}
	w.header('*', 2*n)
}

// Set appends the header of a set of n elements: ~n in RESP3, an array in
// RESP2.
func (w *Writer) Set(n int) {
	if w.Proto == 3 {
		w.header('~', n)
		return
	}
	w.header('*', n)
}

func (w *Writer) header(c byte, n int) {
	w.buf = append(w.buf, c)
	w.buf = strconv.AppendInt(w.buf, int64(n), 10)
	w.buf = append(w.buf, '\r', '\n')
}

// appendLine appends s with CR and LF replaced by spaces, then CRLF.
func appendLine(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return append(b, '\r', '\n')
}
