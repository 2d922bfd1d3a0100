package respserver

import (
	"fmt"
	"strings"
)

// The commands about the connection itself: PING, ECHO, QUIT, SELECT,
// AUTH, HELLO, CLIENT.

func (c *conn) ping(o *op, args [][]byte) {
	switch len(args) {
	case 1:
		c.status(o, "PONG")
	case 2:
		c.begin(o)
		c.imm.Bulk(args[1])
		c.end(o)
	default:
		c.errorf(o, "ERR wrong number of arguments for 'ping' command")
	}
}

func (c *conn) echo(o *op, args [][]byte) {
	c.begin(o)
	c.imm.Bulk(args[1])
	c.end(o)
}

func (c *conn) quitCmd(o *op, _ [][]byte) {
	c.status(o, "OK")
	c.quit = true
}

func (c *conn) selectDB(o *op, args [][]byte) {
	n, ok := parseInt(args[1])
	switch {
	case !ok:
		c.notInt(o)
	case n != 0:
		c.replyErr(o, "ERR DB index is out of range")
	default:
		c.status(o, "OK")
	}
}

func (c *conn) multi(o *op, args [][]byte) {
	c.errorf(o, "ERR %s is not supported by ns: keys live on different partitions with no transaction across them (use NS.CAS for a conditional write)",
		strings.ToUpper(string(args[0])))
}

// checkPassword checks a password against the node's tokens.
func (c *conn) checkPassword(pass []byte) bool {
	return c.s.cfg.Tokens != nil && c.s.cfg.Tokens.Valid(string(pass))
}

func (c *conn) auth(o *op, args [][]byte) {
	if len(args) > 3 {
		c.syntaxErr(o)
		return
	}
	if c.s.cfg.Tokens == nil {
		c.replyErr(o, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return
	}
	if !c.checkPassword(args[len(args)-1]) {
		c.replyErr(o, "WRONGPASS invalid username-password pair or user is disabled.")
		return
	}
	c.authed = true
	c.status(o, "OK")
}

func (c *conn) hello(o *op, args [][]byte) {
	proto := c.proto
	if len(args) > 1 {
		v, ok := parseInt(args[1])
		if !ok {
			c.replyErr(o, "ERR Protocol version is not an integer or out of range")
			return
		}
		if v != 2 && v != 3 {
			c.replyErr(o, "NOPROTO unsupported protocol version")
			return
		}
		proto = int(v)
	}
	authed := c.authed
	var name []byte
	setName := false
	for i := 2; i < len(args); i++ {
		switch opt := strings.ToLower(string(args[i])); {
		case opt == "auth" && i+2 < len(args):
			if !c.checkPassword(args[i+2]) {
				c.replyErr(o, "WRONGPASS invalid username-password pair or user is disabled.")
				return
			}
			authed = true
			i += 2
		case opt == "setname" && i+1 < len(args):
			name, setName = args[i+1], true
			i++
		default:
			c.errorf(o, "ERR Syntax error in HELLO option '%s'", args[i])
			return
		}
	}
	if !authed {
		c.replyErr(o, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if setName && !validName(name) {
		c.replyErr(o, "ERR Client names cannot contain spaces, newlines or special characters.")
		return
	}
	c.authed = true
	if setName {
		c.name = string(name)
	}
	c.proto = proto
	o.proto = uint8(proto)
	c.begin(o)
	w := &c.imm
	w.Map(7)
	w.BulkString("server")
	w.BulkString("redis")
	w.BulkString("version")
	w.BulkString(RedisVersion)
	w.BulkString("proto")
	w.Int(int64(proto))
	w.BulkString("id")
	w.Int(c.id)
	w.BulkString("mode")
	w.BulkString(c.s.mode())
	w.BulkString("role")
	w.BulkString("master")
	w.BulkString("modules")
	w.Array(0)
	c.end(o)
}

// validName reports whether a client name has no spaces or special
// characters, as Redis requires.
func validName(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

func (c *conn) client(o *op, args [][]byte) {
	sub := strings.ToLower(string(args[1]))
	switch {
	case sub == "setname" && len(args) == 3:
		if !validName(args[2]) {
			c.replyErr(o, "ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.name = string(args[2])
		c.status(o, "OK")
	case sub == "getname" && len(args) == 2:
		c.begin(o)
		if c.name == "" {
			c.imm.Null()
		} else {
			c.imm.BulkString(c.name)
		}
		c.end(o)
	case sub == "id" && len(args) == 2:
		c.intReply(o, c.id)
	case sub == "setinfo" && len(args) == 4:
		switch attr := strings.ToLower(string(args[2])); attr {
		case "lib-name", "lib-ver":
			if !validName(args[3]) {
				c.errorf(o, "ERR %s cannot contain spaces, newlines or special characters.", attr)
				return
			}
			if attr == "lib-name" {
				c.libName = string(args[3])
			} else {
				c.libVer = string(args[3])
			}
			c.status(o, "OK")
		default:
			c.errorf(o, "ERR Unrecognized option '%s'", args[2])
		}
	case sub == "info" && len(args) == 2:
		c.begin(o)
		c.imm.BulkString(c.infoLine())
		c.end(o)
	case sub == "setname" || sub == "getname" || sub == "id" || sub == "setinfo" || sub == "info":
		c.errorf(o, "ERR wrong number of arguments for 'client|%s' command", sub)
	default:
		c.errorf(o, "ERR unknown subcommand '%s'. Try CLIENT HELP.", trunc(args[1], 128))
	}
}

func (c *conn) infoLine() string {
	return fmt.Sprintf("id=%d addr=%s laddr=%s name=%s db=0 resp=%d lib-name=%s lib-ver=%s\n",
		c.id, c.nc.RemoteAddr(), c.nc.LocalAddr(), c.name, c.proto, c.libName, c.libVer)
}

// ---- strings ----
