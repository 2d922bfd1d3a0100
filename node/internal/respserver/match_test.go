package respserver

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "anything", true},
		{"*", "", false}, // as stringmatchlen; SCAN skips matching for "*"
		{"", "", true},
		{"", "a", false},
		{"a*", "a", true},
		{"a*", "abc", true},
		{"*a", "ba", true},
		{"*a", "ab", false},
		{"a**b", "axxb", true},
		{"h?llo", "hello", true},
		{"h?llo", "hllo", false},
		{"h*llo", "hllo", true},
		{"h*llo", "heeeello", true},
		{"h[ae]llo", "hello", true},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-b]llo", "hbllo", true},
		{"h[a-b]llo", "hcllo", false},
		{"h[b-a]llo", "hallo", true}, // a reversed range is swapped
		{`h\*llo`, "h*llo", true},
		{`h\*llo`, "hello", false},
		{`h[\]]llo`, "h]llo", true},
		{"user:*:name", "user:42:name", true},
		{"user:*:name", "user:42:age", false},
		{"[abc", "a", true}, // unterminated class: as if closed
		{"[abc", "d", false},
		{"a[", "a", false},
		{`a\`, "a", false},
		{`a\`, `a\`, true},
		{"*?", "", false},
		{"?*", "x", true},
	} {
		if got := match([]byte(tc.pattern), []byte(tc.s)); got != tc.want {
			t.Errorf("match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// TestMatchAbusivePattern: a pattern of many stars that cannot match ends
// quickly (the skip-longer-matches guard), rather than in exponential time.
func TestMatchAbusivePattern(t *testing.T) {
	p := strings.Repeat("a*", 40) + "b"
	s := strings.Repeat("a", 200)
	if match([]byte(p), []byte(s)) {
		t.Fatal("matched")
	}
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte("h[^e]*llo\\"), []byte("hallo"))
	f.Add([]byte("[a-"), []byte("b"))
	f.Fuzz(func(t *testing.T, p, s []byte) {
		match(p, s) // must not panic
		if !match(s, s) && !strings.ContainsAny(string(s), `*?[\`) {
			t.Fatalf("%q does not match itself", s)
		}
	})
}
