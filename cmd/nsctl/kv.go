package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nothingshared/ns/client"
)

const valueHelp = `A VALUE is the argument itself, @PATH for a file's content, or - for stdin.`

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// kvError adds the key to a client error, keeping its exit code.
func kvError(op, key string, err error) error {
	if errors.Is(err, client.ErrNotFound) {
		return &exitError{code: exitNotFound, err: fmt.Errorf("%s %q: key not found", op, key)}
	}
	return fmt.Errorf("%s %q: %w", op, key, err)
}

func (a *app) getCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Read a key's value",
		Long: `get prints KEY's value followed by a newline (the bytes as stored). -o wide
shows key, quoted value and remaining TTL; -o json and -o yaml carry the
value as text (when it is valid UTF-8) and always as base64.

Exits 4 when the key is absent or expired.`,
		Example: `  nsctl get user:42
  nsctl get user:42 -o json | jq -r .value_base64 | base64 -d > value.bin`,
		Args: exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer c.Close()
			v, ttl, err := c.GetWithTTL(cmd.Context(), []byte(args[0]))
			if err != nil {
				return kvError("get", args[0], err)
			}
			return renderGet(a.stdout, a.output, newGetView(args[0], v, ttl.Milliseconds()))
		},
	}
}

// okView is the answer of a write.
type okView struct {
	Key    string `json:"key"`
	Result string `json:"result"`
}

func (a *app) renderOK(key, result string) error {
	return render(a.stdout, a.output, okView{Key: key, Result: result}, func(tw *tabwriter.Writer, _ bool) {
		fmt.Fprintln(tw, result)
	})
}

func (a *app) putCmd() *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Write a key's value",
		Long: `put stores VALUE under KEY, replacing any value; --ttl makes it expire.
` + valueHelp + ` Prints OK.`,
		Example: `  nsctl put user:42 ada
  nsctl put session:9 token --ttl 30m
  nsctl put blob:1 @photo.jpg
  echo -n hello | nsctl put greeting -`,
		Args: exactArgs("KEY", "VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ttl < 0 {
				return usagef("--ttl %v: must not be negative", ttl)
			}
			val, err := a.readValue(args[1])
			if err != nil {
				return err
			}
			c, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.PutTTL(cmd.Context(), []byte(args[0]), val, ttl); err != nil {
				return kvError("put", args[0], err)
			}
			return a.renderOK(args[0], "OK")
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "time to live, e.g. 30s or 1h (0: no expiry)")
	return cmd
}

func (a *app) delCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "del KEY",
		Aliases: []string{"delete"},
		Short:   "Delete a key",
		Long: `del removes KEY and prints "deleted", or "absent" when there was no such
key (not an error: exit 0).`,
		Example: `  nsctl del user:42`,
		Args:    exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer c.Close()
			existed, err := c.Delete(cmd.Context(), []byte(args[0]))
			if err != nil {
				return kvError("del", args[0], err)
			}
			if existed {
				return a.renderOK(args[0], "deleted")
			}
			return a.renderOK(args[0], "absent")
		},
	}
}

// incrView is the answer of incr.
type incrView struct {
	Key   string `json:"key"`
	Value int64  `json:"value"`
}

func (a *app) incrCmd() *cobra.Command {
	var by int64
	cmd := &cobra.Command{
		Use:   "incr KEY",
		Short: "Add to a counter and print its new value",
		Long: `incr adds --by (default 1, may be negative) to the decimal counter at KEY
(an absent key counts as 0) and prints the new value. A value that is not
a counter, or a result outside int64, fails with exit 1.`,
		Example: `  nsctl incr visits
  nsctl incr stock:7 --by -3`,
		Args: exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer c.Close()
			n, err := c.Incr(cmd.Context(), []byte(args[0]), by)
			if err != nil {
				return kvError("incr", args[0], err)
			}
			return render(a.stdout, a.output, incrView{Key: args[0], Value: n}, func(tw *tabwriter.Writer, _ bool) {
				fmt.Fprintln(tw, n)
			})
		},
	}
	cmd.Flags().Int64Var(&by, "by", 1, "amount to add")
	return cmd
}

// casView is the answer of cas.
type casView struct {
	Key     string `json:"key"`
	Swapped bool   `json:"swapped"`
	Current string `json:"current"`
	Found   bool   `json:"found"`
}

func (a *app) casCmd() *cobra.Command {
	var absent bool
	cmd := &cobra.Command{
		Use:   "cas KEY OLD NEW | cas --absent KEY NEW",
		Short: "Compare and swap: write NEW only if KEY holds OLD",
		Long: `cas stores NEW under KEY only if KEY holds exactly OLD; with --absent, only
if KEY is absent or expired (like SETNX). ` + valueHelp + `

Prints "swapped", or "not swapped" and what KEY holds, and then exits 1:
the swap did not happen.`,
		Example: `  nsctl cas config:v 1 2
  nsctl cas --absent lock:job7 worker-3`,
		Args: func(cmd *cobra.Command, args []string) error {
			if absent {
				return exactArgs("KEY", "NEW")(cmd, args)
			}
			return exactArgs("KEY", "OLD", "NEW")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			key := args[0]
			var old, val []byte
			var err error
			if !absent && args[1] == "-" && args[2] == "-" {
				return usagef("OLD and NEW cannot both be read from stdin")
			}
			if !absent {
				if old, err = a.readValue(args[1]); err != nil {
					return err
				}
			}
			if val, err = a.readValue(args[len(args)-1]); err != nil {
				return err
			}
			c, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer c.Close()
			var swapped bool
			var cur []byte
			if absent {
				swapped, cur, err = c.CompareAndSwapAbsent(cmd.Context(), []byte(key), val)
			} else {
				swapped, cur, err = c.CompareAndSwap(cmd.Context(), []byte(key), old, val)
			}
			if err != nil {
				return kvError("cas", key, err)
			}
			v := casView{Key: key, Swapped: swapped, Current: string(cur), Found: cur != nil}
			if err := render(a.stdout, a.output, v, func(tw *tabwriter.Writer, _ bool) {
				switch {
				case swapped:
					fmt.Fprintln(tw, "swapped")
				case cur == nil:
					fmt.Fprintln(tw, "not swapped: key is absent")
				default:
					fmt.Fprintf(tw, "not swapped: key holds %s\n", strconv.Quote(string(cur)))
				}
			}); err != nil {
				return err
			}
			if !swapped {
				return failf("cas %q: not swapped", key)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&absent, "absent", false, "expect KEY to be absent (then the arguments are KEY NEW)")
	return cmd
}

// sendView is the answer of send with -o json or yaml.
type sendView struct {
	Service     string `json:"service"`
	Key         string `json:"key"`
	ReplyBase64 string `json:"reply_base64"`
}

func (a *app) sendCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "send SERVICE KEY PAYLOAD",
		Short: "Send a message to any registered service",
		Long: `send delivers PAYLOAD to SERVICE on the worker that owns KEY (NodeService,
the same path as the SDK's Send) and writes the service's reply to stdout as
raw bytes, with no newline added; -o json or -o yaml carry it as base64.
PAYLOAD is the argument itself, @PATH for a file's content, or - for stdin.`,
		Example: `  nsctl send echo user:42 hello
  nsctl send myservice order:7 @request.bin > reply.bin
  nsctl send myservice order:7 - -o json < request.bin`,
		Args: exactArgs("SERVICE", "KEY", "PAYLOAD"),
		RunE: func(cmd *cobra.Command, args []string) error {
			payload, err := a.readValue(args[2])
			if err != nil {
				return err
			}
			c, err := a.connect(cmd.Context(), false)
			if err != nil {
				return err
			}
			defer c.Close()
			reply, err := c.Send(cmd.Context(), args[0], []byte(args[1]), payload)
			if err != nil {
				if errors.Is(err, client.ErrUnknownService) {
					return failf("send: service %q is not registered on the node: %v", args[0], err)
				}
				return kvError("send", args[1], err)
			}
			if a.output == outTable || a.output == outWide {
				_, err := a.stdout.Write(reply)
				return err
			}
			return render(a.stdout, a.output, sendView{Service: args[0], Key: args[1], ReplyBase64: base64.StdEncoding.EncodeToString(reply)}, nil)
		},
	}
}
