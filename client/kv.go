package client

import (
	"context"
	"time"

	"github.com/nothingshared/ns/kv"
	"github.com/nothingshared/ns/wire"
)

// KVService is the name of the built-in key-value service.
const KVService = wire.KVServiceName

// Get returns the value of key; an error matching ErrNotFound when the key
// is absent or expired.
func (c *Client) Get(ctx context.Context, key []byte) ([]byte, error) {
	resp, err := c.kv(ctx, &kv.Request{Op: kv.OpGet, Key: key})
	return resp.Value, err
}

// GetWithTTL returns the value of key and its remaining time to live (0 when
// it does not expire); an error matching ErrNotFound when the key is absent
// or expired.
func (c *Client) GetWithTTL(ctx context.Context, key []byte) (value []byte, ttl time.Duration, err error) {
	resp, err := c.kv(ctx, &kv.Request{Op: kv.OpGet, Key: key})
	return resp.Value, resp.TTL, err
}

// Put stores value under key with no expiry, replacing any value and TTL.
func (c *Client) Put(ctx context.Context, key, value []byte) error {
	return c.PutTTL(ctx, key, value, 0)
}

// PutTTL stores value under key for ttl (0 means no expiry), replacing any
// value and TTL.
func (c *Client) PutTTL(ctx context.Context, key, value []byte, ttl time.Duration) error {
	_, err := c.kv(ctx, &kv.Request{Op: kv.OpPut, Key: key, Value: value, TTL: ttl})
	return err
}

// Delete removes key and reports whether it existed. Deleting an absent key
// is not an error.
func (c *Client) Delete(ctx context.Context, key []byte) (existed bool, err error) {
	resp, err := c.kv(ctx, &kv.Request{Op: kv.OpDelete, Key: key})
	return resp.Found, err
}

// Incr adds delta to the decimal counter at key (absent counts as 0) and
// returns the new value. A value that is not a counter is ErrNotInteger; a
// result outside int64 is ErrOverflow.
func (c *Client) Incr(ctx context.Context, key []byte, delta int64) (int64, error) {
	resp, err := c.kv(ctx, &kv.Request{Op: kv.OpIncr, Key: key, Delta: delta})
	return resp.Counter, err
}

// CompareAndSwap stores value under key (with no expiry) only if the key
// holds exactly expected. It reports whether it swapped and returns the
// value the key holds after the call: value when swapped, the current value
// otherwise (nil when the key is absent).
func (c *Client) CompareAndSwap(ctx context.Context, key, expected, value []byte) (swapped bool, current []byte, err error) {
	resp, err := c.kv(ctx, &kv.Request{Op: kv.OpCompareAndSwap, Key: key, Expected: expected, Value: value})
	return resp.Swapped, resp.Value, err
}

// CompareAndSwapAbsent stores value under key (with no expiry) only if the
// key is absent or expired, like Redis SETNX. It reports whether it swapped
// and returns the value the key holds after the call.
func (c *Client) CompareAndSwapAbsent(ctx context.Context, key, value []byte) (swapped bool, current []byte, err error) {
	resp, err := c.kv(ctx, &kv.Request{Op: kv.OpCompareAndSwap, Key: key, ExpectAbsent: true, Value: value})
	return resp.Swapped, resp.Value, err
}

// Do runs a batch of key-value requests, like SendBatch: requests for the
// same node travel together. It returns one response and one error per
// request, in order. A write (put, delete, incr, cas) with a zero RequestID
// gets a random one, so that a retry takes effect once.
func (c *Client) Do(ctx context.Context, reqs []kv.Request) ([]kv.Response, []error) {
	resps := make([]kv.Response, len(reqs))
	errs := make([]error, len(reqs))
	msgs := make([]Message, 0, len(reqs))
	ids := make([]uint64, 0, len(reqs))
	idx := make([]int, 0, len(reqs))
	for i := range reqs {
		req := reqs[i] // a copy: the caller's slice is not modified
		if req.RequestID == 0 && req.Op != kv.OpGet {
			req.RequestID = newRequestID()
		}
		payload, err := req.AppendBinary(nil)
		if err != nil {
			errs[i] = err
			continue
		}
		msgs = append(msgs, Message{Service: KVService, Key: req.Key, Payload: payload})
		ids = append(ids, req.RequestID)
		idx = append(idx, i)
	}
	for j, r := range c.sendBatch(ctx, msgs, ids) {
		i := idx[j]
		if r.Err != nil {
			errs[i] = r.Err
			continue
		}
		resps[i], errs[i] = kv.DecodeResponse(r.Payload)
	}
	return resps, errs
}

// kv runs one key-value request; writes get a request id.
func (c *Client) kv(ctx context.Context, req *kv.Request) (kv.Response, error) {
	if req.Op != kv.OpGet {
		req.RequestID = newRequestID()
	}
	payload, err := req.AppendBinary(nil)
	if err != nil {
		return kv.Response{}, err
	}
	reply, err := c.send(ctx, KVService, req.Key, payload, req.RequestID)
	if err != nil {
		return kv.Response{}, err
	}
	return kv.DecodeResponse(reply)
}
