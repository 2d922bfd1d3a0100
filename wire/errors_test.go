package wire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/nothingshared/ns/kv"
	nsv1 "github.com/nothingshared/ns/proto/ns/v1"
)

// wireTrip names one way an error crosses the wire and back.
type wireTrip struct {
	name string
	trip func(error) error
}

// wireTrips are every encoding: a status (also marshalled to bytes, as gRPC
// sends it), a stream Result, a KV batch result (also marshalled).
var wireTrips = []wireTrip{
	{"status", func(err error) error { return FromStatus(ToStatus(err)) }},
	{"status-bytes", func(err error) error {
		b, merr := proto.Marshal(ToStatus(err).Proto())
		if merr != nil {
			panic(merr)
		}
		var p spb.Status
		if uerr := proto.Unmarshal(b, &p); uerr != nil {
			panic(uerr)
		}
		return FromStatus(status.FromProto(&p))
	}},
	{"result", func(err error) error { return ErrorFromResult(ResultError(err)) }},
	{"result-bytes", func(err error) error {
		b, merr := proto.Marshal(ResultError(err))
		if merr != nil {
			panic(merr)
		}
		var r nsv1.Result
		if uerr := proto.Unmarshal(b, &r); uerr != nil {
			panic(uerr)
		}
		return ErrorFromResult(&r)
	}},
	{"kvresult", func(err error) error { return ErrorFromKVResult(KVResultError(err)) }},
}

func TestErrorTableRoundTrip(t *testing.T) {
	for _, e := range errorTable {
		for _, wrapped := range []bool{false, true} {
			err := e.err
			if wrapped {
				err = fmt.Errorf("get %q: %w", "k", e.err)
			}
			for _, w := range wireTrips {
				t.Run(fmt.Sprintf("%s/wrapped=%v/%s", e.reason, wrapped, w.name), func(t *testing.T) {
					if got := Code(err); got != e.code {
						t.Fatalf("Code = %v, want %v", got, e.code)
					}
					if got := ToStatus(err).Code(); got != e.code {
						t.Fatalf("ToStatus code = %v, want %v", got, e.code)
					}
					got := w.trip(err)
					if !errors.Is(got, e.err) {
						t.Fatalf("round trip = %v (%T), not Is %v", got, got, e.err)
					}
					if got.Error() != err.Error() {
						t.Fatalf("message = %q, want %q", got.Error(), err.Error())
					}
					if !wrapped && got != e.err {
						t.Fatalf("unwrapped round trip = %#v, want the sentinel itself", got)
					}
					if c := Code(got); c != e.code {
						t.Fatalf("Code after round trip = %v, want %v", c, e.code)
					}
					// No other sentinel of the same code matches by mistake.
					for _, o := range errorTable {
						if o.err != e.err && errors.Is(got, o.err) && !errors.Is(e.err, o.err) {
							t.Fatalf("round trip also Is %v", o.err)
						}
					}
				})
			}
		}
	}
}

func TestErrorTableInvariants(t *testing.T) {
	upperSnake := regexp.MustCompile(`^[A-Z][A-Z0-9_]*[A-Z0-9]$`)
	msgs := map[string]bool{}
	for _, e := range errorTable {
		if !upperSnake.MatchString(e.reason) {
			t.Errorf("reason %q is not UPPER_SNAKE_CASE", e.reason)
		}
		if e.code == codes.OK || e.code == codes.Unknown {
			t.Errorf("%s: code %v", e.reason, e.code)
		}
		if msgs[e.err.Error()] {
			t.Errorf("%s: message %q used twice", e.reason, e.err.Error())
		}
		msgs[e.err.Error()] = true
	}
	// The table must panic on a duplicate reason or fallback, at init.
	for name, table := range map[string][]errorEntry{
		"reason":   {{err: ErrLeaving, reason: "X"}, {err: ErrUnavailable, reason: "X"}},
		"fallback": {{err: ErrLeaving, reason: "X", fallback: true}, {err: ErrUnavailable, reason: "Y", fallback: true}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			indexErrorTable(table)
		})
	}
}

func TestErrorKVSentinels(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
	}{
		{kv.ErrNotFound, codes.NotFound},
		{kv.ErrNotInteger, codes.FailedPrecondition},
		{kv.ErrTruncated, codes.InvalidArgument}, // wraps kv.ErrCorrupt
		{kv.ErrMemoryFull, codes.ResourceExhausted},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			if got := Code(tc.err); got != tc.code {
				t.Fatalf("Code = %v, want %v", got, tc.code)
			}
			got := FromStatus(ToStatus(tc.err))
			if !errors.Is(got, tc.err) && !errors.Is(got, kv.ErrCorrupt) {
				t.Fatalf("round trip = %v", got)
			}
		})
	}
	// kv.ErrNotFound and ErrKeyNotFound share NOT_FOUND but stay apart.
	if got := FromStatus(ToStatus(kv.ErrNotFound)); errors.Is(got, ErrKeyNotFound) {
		t.Fatalf("kv.ErrNotFound came back as ErrKeyNotFound")
	}
}

func TestErrorLimitError(t *testing.T) {
	orig := &LimitError{Limit: "max-key-bytes", Size: 2048, Max: 1024}
	if !errors.Is(orig, ErrLimitExceeded) || errors.Is(orig, ErrMoved) {
		t.Fatal("LimitError Is mismatch")
	}
	for _, wrapped := range []bool{false, true} {
		var err error = orig
		if wrapped {
			err = fmt.Errorf("put: %w", orig)
		}
		for _, w := range wireTrips {
			t.Run(fmt.Sprintf("wrapped=%v/%s", wrapped, w.name), func(t *testing.T) {
				if Code(err) != codes.InvalidArgument {
					t.Fatalf("Code = %v", Code(err))
				}
				got := w.trip(err)
				var le *LimitError
				if !errors.As(got, &le) || *le != *orig {
					t.Fatalf("round trip = %#v, want %#v", got, orig)
				}
				if !errors.Is(got, ErrLimitExceeded) || got.Error() != err.Error() {
					t.Fatalf("round trip = %q, want %q Is ErrLimitExceeded", got, err)
				}
			})
		}
	}
	msg := orig.Error()
	for _, want := range []string{"max-key-bytes", "2048", "1024", "--max-key-bytes"} {
		if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(msg) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	// Metadata that does not parse still yields ErrLimitExceeded.
	bad := &nsv1.Result{Code: int32(codes.InvalidArgument), Message: "m", Reason: ReasonLimitExceeded,
		Metadata: map[string]string{"limit": "max-batch", "size": "x"}}
	if got := ErrorFromResult(bad); !errors.Is(got, ErrLimitExceeded) || got.Error() != "m" {
		t.Fatalf("bad metadata: %v", got)
	}
}

func TestErrorMovedError(t *testing.T) {
	orig := &MovedError{Epoch: 12, Partition: 7, OwnerID: "node-b", OwnerAddr: "127.0.0.2:7700"}
	if !errors.Is(orig, ErrMoved) || errors.Is(orig, ErrLimitExceeded) {
		t.Fatal("MovedError Is mismatch")
	}
	st := ToStatus(orig)
	if st.Code() != codes.FailedPrecondition {
		t.Fatalf("code = %v", st.Code())
	}
	var sawMoved, sawInfo bool
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *nsv1.Moved:
			sawMoved = d.GetEpoch() == 12 && d.GetPartition() == 7 && d.GetOwnerId() == "node-b" && d.GetOwnerAddr() == "127.0.0.2:7700"
		case *errdetails.ErrorInfo:
			sawInfo = d.GetReason() == ReasonMoved && d.GetDomain() == ErrorDomain
		}
	}
	if !sawMoved || !sawInfo {
		t.Fatalf("details = %v", st.Details())
	}
	if r := ResultError(orig); r.GetMoved().GetOwnerId() != "node-b" {
		t.Fatalf("Result.moved = %v", r.GetMoved())
	}
	for _, wrapped := range []bool{false, true} {
		var err error = orig
		if wrapped {
			err = fmt.Errorf("forward: %w", orig)
		}
		for _, w := range wireTrips {
			if w.name == "kvresult" {
				continue // KVResult has no Moved: the node routes KV batches itself
			}
			t.Run(fmt.Sprintf("wrapped=%v/%s", wrapped, w.name), func(t *testing.T) {
				got := w.trip(err)
				var me *MovedError
				if !errors.As(got, &me) || *me != *orig {
					t.Fatalf("round trip = %#v, want %#v", got, orig)
				}
				if !errors.Is(got, ErrMoved) || got.Error() != err.Error() {
					t.Fatalf("round trip = %q, want %q Is ErrMoved", got, err)
				}
			})
		}
	}
}

func TestErrorUnknown(t *testing.T) {
	err := errors.New("boom: disk on fire")
	if Code(err) != codes.Unknown {
		t.Fatalf("Code = %v", Code(err))
	}
	for _, w := range wireTrips {
		t.Run(w.name, func(t *testing.T) {
			got := w.trip(err)
			st, ok := status.FromError(got)
			if !ok || st.Code() != codes.Unknown || st.Message() != err.Error() {
				t.Fatalf("round trip = %v (%T)", got, got)
			}
			if Code(got) != codes.Unknown {
				t.Fatalf("Code after round trip = %v", Code(got))
			}
			for _, e := range errorTable {
				if errors.Is(got, e.err) {
					t.Fatalf("unknown error came back Is %v", e.err)
				}
			}
		})
	}
}

func TestErrorFromForeignStatus(t *testing.T) {
	foreignInfo, _ := status.New(codes.NotFound, "no such thing").WithDetails(
		&errdetails.ErrorInfo{Reason: "KEY_NOT_FOUND", Domain: "example.com"})
	for _, tc := range []struct {
		name string
		st   *status.Status
		want error // nil: the status itself comes back
	}{
		{"unavailable", status.New(codes.Unavailable, "connection refused"), ErrUnavailable},
		{"invalid", status.New(codes.InvalidArgument, "bad"), ErrInvalidArgument},
		{"deadline", status.New(codes.DeadlineExceeded, "context deadline exceeded"), context.DeadlineExceeded},
		{"canceled", status.New(codes.Canceled, "context canceled"), context.Canceled},
		{"not-found-no-reason", status.New(codes.NotFound, "x"), nil},
		{"resource-exhausted-no-reason", status.New(codes.ResourceExhausted, "grpc: message too large"), nil},
		{"foreign-domain", foreignInfo, nil},
		{"unimplemented", status.New(codes.Unimplemented, "unknown method"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FromStatus(tc.st)
			if got.Error() != tc.st.Message() && tc.want != nil {
				t.Fatalf("message = %q, want %q", got.Error(), tc.st.Message())
			}
			if tc.want != nil {
				if !errors.Is(got, tc.want) {
					t.Fatalf("FromStatus = %v, want Is %v", got, tc.want)
				}
				return
			}
			st, ok := status.FromError(got)
			if !ok || st.Code() != tc.st.Code() || st.Message() != tc.st.Message() || len(st.Details()) != len(tc.st.Details()) {
				t.Fatalf("FromStatus = %v, want the status itself", got)
			}
			// Passing it on keeps code and details.
			if again := ToStatus(got); again.Code() != tc.st.Code() || len(again.Details()) != len(tc.st.Details()) {
				t.Fatalf("ToStatus(FromStatus(st)) = %v", again)
			}
		})
	}
	// A reason from a newer server that this table lacks: code and message kept.
	r := &nsv1.Result{Code: int32(codes.FailedPrecondition), Message: "future", Reason: "FROM_THE_FUTURE"}
	if st, ok := status.FromError(ErrorFromResult(r)); !ok || st.Code() != codes.FailedPrecondition || st.Message() != "future" {
		t.Fatalf("unknown reason = %v", ErrorFromResult(r))
	}
}

func TestErrorNilAndOK(t *testing.T) {
	if st := ToStatus(nil); st.Code() != codes.OK {
		t.Fatalf("ToStatus(nil) = %v", st)
	}
	if FromStatus(nil) != nil || FromStatus(status.New(codes.OK, "")) != nil || FromError(nil) != nil {
		t.Fatal("FromStatus of OK is not nil")
	}
	if Code(nil) != codes.OK {
		t.Fatal("Code(nil) != OK")
	}
	if r := ResultError(nil); r.GetCode() != 0 || ErrorFromResult(r) != nil {
		t.Fatalf("ResultError(nil) = %v", r)
	}
	if ErrorFromResult(&nsv1.Result{Payload: []byte("ok")}) != nil || ErrorFromResult(nil) != nil {
		t.Fatal("OK result decodes to an error")
	}
	if ErrorFromKVResult(KVResultError(nil)) != nil || ErrorFromKVResult(nil) != nil {
		t.Fatal("OK KV result decodes to an error")
	}
	if err := errors.New("plain"); FromError(err) != err {
		t.Fatal("FromError changed a non-status error")
	}
}

// TestErrorTypedProperties: any LimitError or MovedError, wrapped any number
// of times, survives every wire trip with its fields.
func TestErrorTypedProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var orig error
		if rapid.Bool().Draw(t, "moved") {
			orig = &MovedError{
				Epoch:     rapid.Uint64().Draw(t, "epoch"),
				Partition: rapid.IntRange(0, 1<<31).Draw(t, "partition"),
				OwnerID:   rapid.String().Draw(t, "id"),
				OwnerAddr: rapid.String().Draw(t, "addr"),
			}
		} else {
			orig = &LimitError{
				Limit: rapid.StringMatching(`[a-z][a-z-]{0,20}`).Draw(t, "limit"),
				Size:  rapid.Int().Draw(t, "size"),
				Max:   rapid.Int().Draw(t, "max"),
			}
		}
		err := orig
		for i := rapid.IntRange(0, 3).Draw(t, "wraps"); i > 0; i-- {
			err = fmt.Errorf("%s: %w", rapid.String().Draw(t, "ctx"), err)
		}
		w := rapid.SampledFrom(wireTrips).Draw(t, "trip")
		if _, moved := orig.(*MovedError); moved && w.name == "kvresult" {
			t.Skip("KVResult carries no Moved")
		}
		got := w.trip(err)
		if got.Error() != err.Error() {
			t.Fatalf("message %q, want %q", got.Error(), err.Error())
		}
		switch o := orig.(type) {
		case *MovedError:
			var me *MovedError
			if !errors.As(got, &me) || *me != *o {
				t.Fatalf("got %#v, want %#v", got, o)
			}
		case *LimitError:
			var le *LimitError
			if !errors.As(got, &le) || *le != *o {
				t.Fatalf("got %#v, want %#v", got, o)
			}
		}
	})
}

// FuzzErrorFromResult: a Result from the network never panics the decoder,
// and decodes to nil exactly when it is OK.
func FuzzErrorFromResult(f *testing.F) {
	f.Add(int32(5), "m", "KEY_NOT_FOUND", "max-key-bytes", "1", "2", false)
	f.Add(int32(3), "m", ReasonLimitExceeded, "max-key-bytes", "x", "-1", false)
	f.Add(int32(9), "", ReasonMoved, "", "", "", true)
	f.Add(int32(0), "", "", "", "", "", false)
	f.Fuzz(func(t *testing.T, code int32, msg, reason, limit, size, max string, moved bool) {
		r := &nsv1.Result{Code: code, Message: msg, Reason: reason,
			Metadata: map[string]string{"limit": limit, "size": size, "max": max}}
		if moved {
			r.Moved = &nsv1.Moved{Epoch: 1}
		}
		err := ErrorFromResult(r)
		if (err == nil) != (code == 0 && !moved) {
			t.Fatalf("ErrorFromResult(%v) = %v", r, err)
		}
		if err != nil && status.Convert(err).Message() != msg {
			t.Fatalf("message %q, want %q", status.Convert(err).Message(), msg)
		}
		_ = ResultError(err)
		_ = ToStatus(err)
	})
}

// pingService answers Send with the error named by the item's service, and
// Stream with that error after one frame.
type pingService struct {
	nsv1.UnimplementedNodeServiceServer
	errs map[string]error
}

func (s *pingService) Send(_ context.Context, req *nsv1.SendRequest) (*nsv1.SendResponse, error) {
	if err := s.errs[req.GetItem().GetService()]; err != nil {
		return nil, err
	}
	return &nsv1.SendResponse{Payload: []byte("pong")}, nil
}

func (s *pingService) Stream(stream grpc.BidiStreamingServer[nsv1.StreamRequest, nsv1.StreamResponse]) error {
	req, err := stream.Recv()
	if err != nil {
		return err
	}
	return s.errs[req.GetItems()[0].GetService()]
}

// TestErrorInterceptors sends errors through a real gRPC server and client
// (in memory) with the interceptors installed on both sides.
func TestErrorInterceptors(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	errs := map[string]error{
		"kv-not-found": fmt.Errorf("get: %w", kv.ErrNotFound),
		"backpressure": ErrBackpressure,
		"limit":        &LimitError{Limit: "max-value-bytes", Size: 5 << 20, Max: 1 << 20},
		"moved":        &MovedError{Epoch: 3, Partition: 9, OwnerID: "b", OwnerAddr: "127.0.0.1:1"},
		"unknown":      errors.New("boom"),
	}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.UnaryInterceptor(UnaryServerInterceptor), grpc.StreamInterceptor(StreamServerInterceptor))
	nsv1.RegisterNodeServiceServer(srv, &pingService{errs: errs})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	defer func() { srv.Stop(); <-done }()

	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(UnaryClientInterceptor), grpc.WithStreamInterceptor(StreamClientInterceptor))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := nsv1.NewNodeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	check := func(t *testing.T, name string, got error) {
		t.Helper()
		want := errs[name]
		if got == nil || status.Convert(got).Message() != want.Error() {
			t.Fatalf("got %v, want %v", got, want)
		}
		if name != "unknown" && got.Error() != want.Error() {
			t.Fatalf("got %q, want %q", got, want)
		}
		var me *MovedError
		var le *LimitError
		switch {
		case errors.As(want, &me):
			var gotMe *MovedError
			if !errors.As(got, &gotMe) || *gotMe != *me {
				t.Fatalf("got %#v, want %#v", got, me)
			}
		case errors.As(want, &le):
			var gotLe *LimitError
			if !errors.As(got, &gotLe) || *gotLe != *le {
				t.Fatalf("got %#v, want %#v", got, le)
			}
		case name == "unknown":
			if Code(got) != codes.Unknown {
				t.Fatalf("Code = %v", Code(got))
			}
		default:
			if !errors.Is(got, errors.Unwrap(want)) && !errors.Is(got, want) {
				t.Fatalf("got %v, not Is %v", got, want)
			}
		}
	}
	for name := range errs {
		t.Run("unary/"+name, func(t *testing.T) {
			_, err := client.Send(ctx, &nsv1.SendRequest{Item: &nsv1.Item{Service: name, Key: []byte("k")}})
			check(t, name, err)
		})
		t.Run("stream/"+name, func(t *testing.T) {
			s, err := client.Stream(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Send(&nsv1.StreamRequest{Id: 1, Items: []*nsv1.Item{{Service: name}}}); err != nil {
				t.Fatal(err)
			}
			_, err = s.Recv()
			check(t, name, err)
		})
	}
	if resp, err := client.Send(ctx, &nsv1.SendRequest{Item: &nsv1.Item{Service: "ok"}}); err != nil || string(resp.GetPayload()) != "pong" {
		t.Fatalf("ok call = %v, %v", resp, err)
	}
}
