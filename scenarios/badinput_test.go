package scenarios

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/mxsim/mxsim/fakesmtp"
)

const okScenario = "name: ok\nsteps:\n  - flush: {}\n"

// TestByteOrderMark: a UTF-8 file that opens with a byte-order mark loads
// as if it had none.
func TestByteOrderMark(t *testing.T) {
	s, err := Parse("bom.yaml", []byte("\ufeff"+okScenario))
	if err != nil {
		t.Fatalf("Parse with a BOM: %v", err)
	}
	if s.Name != "ok" || s.PosOf(&s.Name) != (Pos{Line: 1, Col: 7}) {
		t.Errorf("name %q at %v, want ok at 1:7", s.Name, s.PosOf(&s.Name))
	}
}

func TestWideEncodings(t *testing.T) {
	utf16le := func(s string) []byte {
		var b []byte
		for _, u := range utf16.Encode([]rune(s)) {
			b = append(b, byte(u), byte(u>>8))
		}
		return b
	}
	for name, src := range map[string][]byte{
		"utf-16le bom":  utf16le("\ufeff" + okScenario),
		"utf-16le bare": utf16le(okScenario),
	} {
		_, err := Parse("wide.yaml", src)
		var l ErrorList
		if !errors.As(err, &l) || len(l) != 1 || l[0].Msg != "file is UTF-16; save it as UTF-8" || l[0].Line != 1 || l[0].Col != 1 {
			t.Errorf("%s: %v, want one error at 1:1 naming UTF-16", name, err)
			continue
		}
		if !strings.HasPrefix(l[0].Source, "name: ok\n") {
			t.Errorf("%s: excerpt %q, want the decoded first line", name, l[0].Source)
		}
	}
	// One byte of Latin-1 stops the file, at that byte.
	_, err := Parse("latin1.yaml", []byte("name: ok\ndescription: caf\xe9\nsteps:\n  - flush: {}\n"))
	var l ErrorList
	if !errors.As(err, &l) || len(l) != 1 || l[0].Line != 2 || l[0].Col != 17 || !strings.Contains(l[0].Msg, "byte 0xe9 is not UTF-8") {
		t.Errorf("Latin-1: %v, want one error at 2:17", err)
	}
}

// TestAliasNamesLastAnchor: an alias names the last anchor of its name
// before it (YAML 1.2), even one under a key the format does not have;
// an alias inside its own anchor, or before it, names nothing.
func TestAliasNamesLastAnchor(t *testing.T) {
	src := `name: aliases
hosts:
  a.example.test: &h {state: down}
  b.example.test: *h
  c.example.test: &h {state: blackhole}
  d.example.test: *h
steps:
  - flush: {}
`
	s, err := Parse("a.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]fakesmtp.State{"b.example.test": fakesmtp.Down, "d.example.test": fakesmtp.Blackhole} {
		if got := s.Host(host).State; got != want {
			t.Errorf("%s: state %s, want %s", host, got, want)
		}
	}
	for _, bad := range []string{
		"name: x\ntags: &t [a, *t]\nsteps:\n  - flush: {}\n",
		"name: x\ntags: [*t]\ndescription: &t d\nsteps:\n  - flush: {}\n",
	} {
		_, err := Parse("bad.yaml", []byte(bad))
		if err == nil || !strings.Contains(err.Error(), `unknown alias "*t"`) {
			t.Errorf("%q: %v, want unknown alias", bad, err)
		}
	}
}

// TestRotateKey: a zone's rotate is a boolean; anything else is an error
// at its position.
func TestRotateKey(t *testing.T) {
	s, err := Parse("r.yaml", []byte("name: r\ndns:\n  example.test:\n    rotate: true\n    mx: [{pref: 10, host: mx1.example.test}, {pref: 10, host: mx2.example.test}]\nhosts:\n  mx1.example.test: {}\n  mx2.example.test: {}\nsteps:\n  - flush: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.DNS[0].Rotate {
		t.Error("rotate: true not read")
	}
	for _, bad := range []string{"3", "maybe", "[true]"} {
		_, err := Parse("r.yaml", []byte("name: r\ndns:\n  example.test:\n    rotate: "+bad+"\nsteps:\n  - flush: {}\n"))
		var l ErrorList
		if !errors.As(err, &l) || len(l) == 0 || l[0].Line != 4 || l[0].Col < 5 {
			t.Errorf("rotate: %s: %v, want an error at 4:", bad, err)
		}
	}
}
