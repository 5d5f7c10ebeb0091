package harness

import (
	"fmt"
	"strings"

	"github.com/mxsim/mxsim/fakedns"
)

// Record is one DNS record of a Zone: its owner as fakedns.Zone writes
// it ("@" the apex, "mx1" relative to it, "mx1.example.test." absolute)
// and its data in zone-file syntax without owner ("MX 10
// mx1.example.test."). MX and TXT make the usual ones.
type Record struct {
	Owner string
	Data  string
}

// MX is an MX record at the apex of its zone: preference pref, exchange
// host ("." with pref 0 is a null MX, RFC 7505).
func MX(pref int, host string) Record {
	if host != "." && !strings.HasSuffix(host, ".") {
		host += "."
	}
	return Record{Owner: "@", Data: fmt.Sprintf("MX %d %s", pref, host)}
}

// TXT is a TXT record at the apex of its zone ("v=spf1 -all"), quoted
// as a zone file quotes it.
func TXT(text string) Record {
	text = strings.ReplaceAll(strings.ReplaceAll(text, `\`, `\\`), `"`, `\"`)
	return Record{Owner: "@", Data: `TXT "` + text + `"`}
}

// Zone is the zone name with the records given, in order: the
// fakedns.Zone literal in fewer lines.
//
//	harness.Zone("example.test", harness.MX(10, "mx1.example.test"), harness.MX(20, "mx2.example.test"))
//
// is
//
//	fakedns.Zone{Name: "example.test", Records: map[string][]string{
//		"@": {"MX 10 mx1.example.test.", "MX 20 mx2.example.test."},
//	}}
//
// Its records are checked when the network starts (New, Start), with
// every other mistake of the Config.
func Zone(name string, records ...Record) fakedns.Zone {
	z := fakedns.Zone{Name: name, Records: make(map[string][]string)}
	for _, r := range records {
		z.Records[r.Owner] = append(z.Records[r.Owner], r.Data)
	}
	return z
}

// Hosts are simulated hosts that accept everything, one per name, in
// order. Append a Host literal for one that behaves otherwise.
func Hosts(names ...string) []Host {
	out := make([]Host, len(names))
	for i, n := range names {
		out[i] = Host{Name: n}
	}
	return out
}
