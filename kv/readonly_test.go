package kv

import "testing"

func TestReadOnly(t *testing.T) {
	for _, op := range []Op{OpGet, OpPut, OpDelete, OpIncr, OpCompareAndSwap, OpAppend, OpGetDel, OpMSetNX, OpScan, OpFlush} {
		req := Request{Op: op, Key: []byte("k"), Value: []byte("v"), Delta: 1}
		b, err := req.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ReadOnly(b), op == OpGet || op == OpScan; got != want {
			t.Errorf("ReadOnly(%v) = %v, want %v", op, got, want)
		}
	}
	for _, b := range [][]byte{nil, {1}, {2, byte(OpGet)}} {
		if ReadOnly(b) {
			t.Errorf("ReadOnly(%v) = true for a payload that is not a get", b)
		}
	}
}
