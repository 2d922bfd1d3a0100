package respserver

// maxMatchNesting bounds the recursion of match on a pattern with many
// stars, as Redis does: deeper is no match.
const maxMatchNesting = 1000

// match reports whether s matches the glob pattern p with Redis's rules
// (util.c stringmatchlen, which SCAN MATCH and KEYS use): '*' any run of
// bytes, '?' one byte, '[abc]', '[^abc]', '[a-z]' one byte of a class, '\'
// escapes the next byte. It is a port of stringmatchlen, including its
// treatment of malformed patterns (an unterminated class matches as if
// closed) and its guard against patterns that would take exponential time.
func match(p, s []byte) bool {
	skip := false
	return matchAt(p, s, &skip, 0)
}

func matchAt(p, s []byte, skipLonger *bool, nesting int) bool {
	if nesting > maxMatchNesting {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if matchAt(p[1:], s, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := len(p) > 0 && p[0] == '^'
			if not {
				p = p[1:]
			}
			matched := false
		class:
			for {
				switch {
				case len(p) >= 2 && p[0] == '\\':
					p = p[1:]
					if p[0] == s[0] {
						matched = true
					}
				case len(p) == 0, p[0] == ']':
					break class
				case len(p) >= 3 && p[1] == '-':
					lo, hi := p[0], p[2]
					if lo > hi {
						lo, hi = hi, lo
					}
					if lo <= s[0] && s[0] <= hi {
						matched = true
					}
					p = p[2:]
				case p[0] == s[0]:
					matched = true
				}
				p = p[1:]
			}
			if not {
				matched = !matched
			}
			if !matched {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		if len(p) > 0 {
			p = p[1:]
		}
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}
