package resp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// parseAll reads every command of in through r, filling as needed.
func parseAll(t testing.TB, r *Reader) ([][]string, error) {
	var out [][]string
	var args [][]byte
	for {
		var ok bool
		var err error
		args, ok, err = r.Next(args[:0])
		if err != nil {
			return out, err
		}
		if ok {
			cmd := make([]string, len(args))
			for i, a := range args {
				cmd[i] = string(a)
			}
			out = append(out, cmd)
			continue
		}
		if err := r.Fill(); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
	}
}

func TestReader(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want string // commands joined by "|", args by ","
		err  error
	}{
		{"array", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "GET,k", nil},
		{"pipeline", "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", "PING|ECHO,hi", nil},
		{"empty bulk", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", "ECHO,", nil},
		{"binary bulk", "*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", "ECHO,a\r\nb", nil},
		{"inline", "PING\r\nset  a  1\n", "PING|set,a,1", nil},
		{"inline quotes", "set \"a b\" 'c\\'d' \"\\x41\\n\"\r\n", "set,a b,c'd,A\n", nil},
		{"empty lines and arrays skipped", "\r\n*0\r\n*-1\r\nPING\r\n", "PING", nil},
		{"unbalanced quotes", "set \"a\r\n", "", ErrUnbalancedQuotes},
		{"quote then letter", "set \"a\"b\r\n", "", ErrUnbalancedQuotes},
		{"bad multibulk", "*x\r\n", "", ErrMultibulkLength},
		{"too many args", "*9\r\n", "", ErrMultibulkLength},
		{"bad bulk", "*1\r\n$x\r\n", "", ErrBulkLength},
		{"negative bulk", "*1\r\n$-1\r\n", "", ErrBulkLength},
		{"bulk over limit", "*1\r\n$65\r\n", "", ErrBulkLength},
		{"not a bulk", "*1\r\n:1\r\n", "", ErrProtocol},
		{"no CRLF after bulk", "*1\r\n$1\r\nabc\r\n", "", ErrProtocol},
		{"inline too big", strings.Repeat("a", 200), "", ErrInlineTooBig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, split := range []bool{false, true} {
				var src io.Reader = strings.NewReader(tc.in)
				if split {
					src = iotest.OneByteReader(src)
				}
				r := NewReader(src, 8, Limits{MaxBulkBytes: 64, MaxArgs: 8, MaxInlineBytes: 128, MaxCommandBytes: 256})
				cmds, err := parseAll(t, r)
				if !errors.Is(err, tc.err) {
					t.Fatalf("split=%v: err = %v, want %v", split, err, tc.err)
				}
				if tc.err != nil {
					continue
				}
				var got []string
				for _, c := range cmds {
					got = append(got, strings.Join(c, ","))
				}
				if g := strings.Join(got, "|"); g != tc.want {
					t.Fatalf("split=%v: got %q, want %q", split, g, tc.want)
				}
			}
		})
	}
}

func TestReaderCommandTooBig(t *testing.T) {
	in := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$60\r\n" + strings.Repeat("v", 60) + "\r\n"
	r := NewReader(strings.NewReader(in), 8, Limits{MaxBulkBytes: 64, MaxInlineBytes: 16, MaxCommandBytes: 100})
	if _, err := parseAll(t, r); err != nil {
		t.Fatalf("a command of 87 bytes, 100 max: %v", err)
	}
	in = "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$60\r\n" + strings.Repeat("v", 60) + "\r\n$60\r\n" + strings.Repeat("v", 60) + "\r\n"
	r = NewReader(strings.NewReader(in), 8, Limits{MaxBulkBytes: 64, MaxInlineBytes: 16, MaxCommandBytes: 100})
	if _, err := parseAll(t, r); !errors.Is(err, ErrCommandTooBig) {
		t.Fatalf("err = %v, want ErrCommandTooBig", err)
	}
}

func TestWriter(t *testing.T) {
	for _, proto := range []int{2, 3} {
		w := NewWriter(0)
		w.Proto = proto
		w.Status("OK")
		w.Error("ERR bad\r\nthing")
		w.Int(-7)
		w.Bulk([]byte("ab"))
		w.BulkString("")
		w.BulkInt(42)
		w.Null()
		w.NullArray()
		w.Array(2)
		w.Map(1)
		w.Set(1)
		want := "+OK\r\n-ERR bad  thing\r\n:-7\r\n$2\r\nab\r\n$0\r\n\r\n$2\r\n42\r\n"
		if proto == 2 {
			want += "$-1\r\n*-1\r\n*2\r\n*2\r\n*1\r\n"
		} else {
			want += "_\r\n_\r\n*2\r\n%1\r\n~1\r\n"
		}
		if got := string(w.Bytes()); got != want {
			t.Fatalf("proto %d: got %q, want %q", proto, got, want)
		}
		var out bytes.Buffer
		if err := w.Flush(&out, 0); err != nil || out.String() != want || w.Len() != 0 {
			t.Fatalf("flush: %v %q %d", err, out.String(), w.Len())
		}
	}
}

func TestBuffersRecycled(t *testing.T) {
	buf := make([]byte, 64)
	r := NewReaderBuffer(strings.NewReader(cmd2("GET", "k")), buf, Limits{})
	var args [][]byte
	if err := r.Fill(); err != nil {
		t.Fatal(err)
	}
	args, ok, err := r.Next(args)
	if !ok || err != nil || string(args[1]) != "k" || &r.Buffer()[0] != &buf[0] {
		t.Fatalf("Next: %q %v %v; buffer reused: %v", args, ok, err, &r.Buffer()[0] == &buf[0])
	}
	var w Writer
	wb := make([]byte, 0, 32)
	w.Use(wb)
	w.Status("OK")
	if b := w.Buffer(); cap(b) != 32 || len(b) != 0 {
		t.Fatalf("Buffer: len %d cap %d", len(b), cap(b))
	}
	w.Bulk(make([]byte, 100))
	w.Trim(64)
	if w.Len() != 0 || cap(w.Bytes()) > 64 {
		t.Fatalf("Trim: len %d cap %d", w.Len(), cap(w.Bytes()))
	}
}

// cmd2 encodes a command as a RESP array.
func cmd2(args ...string) string {
	s := "*" + string(rune('0'+len(args))) + "\r\n"
	for _, a := range args {
		s += "$" + string(rune('0'+len(a))) + "\r\n" + a + "\r\n"
	}
	return s
}

// FuzzReader feeds arbitrary bytes, in arbitrary read sizes, to a Reader:
// it must never panic, never return an argument longer than the limits,
// and parse the same commands however the input is split.
func FuzzReader(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), uint8(3))
	f.Add([]byte("PING\r\nset \"a\\x41\" 'b'\r\n"), uint8(1))
	f.Add([]byte("*1\r\n$-1\r\n*0\r\n"), uint8(7))
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		lim := Limits{MaxBulkBytes: 64, MaxArgs: 16, MaxInlineBytes: 64, MaxCommandBytes: 256}
		whole, werr := parseAll(t, NewReader(bytes.NewReader(in), 4, lim))
		src := iotest.HalfReader(bytes.NewReader(in))
		if chunk%2 == 0 {
			src = iotest.OneByteReader(bytes.NewReader(in))
		}
		split, serr := parseAll(t, NewReader(src, 4, lim))
		for _, c := range whole {
			if len(c) == 0 || len(c) > lim.MaxArgs {
				t.Fatalf("command of %d args", len(c))
			}
			for _, a := range c {
				if len(a) > max(lim.MaxBulkBytes, lim.MaxInlineBytes) {
					t.Fatalf("argument of %d bytes", len(a))
				}
			}
		}
		if (werr == nil) != (serr == nil) || len(whole) != len(split) {
			// Splitting may only change where an over-long line is noticed.
			if !errors.Is(werr, ErrInlineTooBig) && !errors.Is(serr, ErrInlineTooBig) &&
				!errors.Is(werr, ErrBulkLength) && !errors.Is(serr, ErrBulkLength) &&
				!errors.Is(werr, ErrMultibulkLength) && !errors.Is(serr, ErrMultibulkLength) {
				t.Fatalf("whole: %d cmds, %v; split: %d cmds, %v", len(whole), werr, len(split), serr)
			}
		}
	})
}

// BenchmarkParseEncode is the per-command cost of the protocol path: parse a
// pipeline of GET or SET commands and encode their replies. It allocates
// nothing per command.
func BenchmarkParseEncode(b *testing.B) {
	val := strings.Repeat("v", 64)
	for _, bc := range []struct {
		name, cmd string
	}{
		{"GET", "*2\r\n$3\r\nGET\r\n$10\r\nkey:000042\r\n"},
		{"SET", "*3\r\n$3\r\nSET\r\n$10\r\nkey:000042\r\n$64\r\n" + val + "\r\n"},
	} {
		for _, depth := range []int{1, 16} {
			b.Run(bc.name+"/P"+string(rune('0'+depth/10))+string(rune('0'+depth%10)), func(b *testing.B) {
				in := []byte(strings.Repeat(bc.cmd, depth))
				src := bytes.NewReader(in)
				r := NewReader(src, 0, Limits{})
				w := NewWriter(4096)
				var args [][]byte
				b.ReportAllocs()
				b.SetBytes(int64(len(bc.cmd)))
				for i := 0; i < b.N; i += depth {
					src.Reset(in)
					r.Reset(src)
					if err := r.Fill(); err != nil {
						b.Fatal(err)
					}
					for {
						var ok bool
						args, ok, _ = r.Next(args[:0])
						if !ok {
							break
						}
						if len(args[0]) == 3 && (args[0][0]|0x20) == 'g' {
							w.Bulk([]byte(val))
						} else {
							w.Status("OK")
						}
					}
					_ = w.Flush(io.Discard, 0)
				}
			})
		}
	}
}
