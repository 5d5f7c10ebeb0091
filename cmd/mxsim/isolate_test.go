package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestRunFixedHostsPerScenario: on fixed addresses, each scenario of a
// run has its hosts in a /24 of its own, the k-th after the DNS's, and the
// DNS stays where -dns-addr says.
func TestRunFixedHostsPerScenario(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := range 2 {
		f := filepath.Join(dir, fmt.Sprintf("s%d.yaml", i))
		src := fmt.Sprintf(`name: s%d
dns:
  example.test:
    mx: [{pref: 10, host: mx1.example.test}]
hosts:
  mx1.example.test: {}
steps:
  - send: {from: alice@origin.test, to: [bob@example.test]}
  - expect: {delivered: {to: bob@example.test, at: mx1.example.test}}
`, i)
		if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	dnsAddr, smtpPort := fixedAddrs(t)
	out := filepath.Join(dir, "report.json")
	code, stdout, stderr := runCLI(t, append([]string{"run", "-dns-addr", dnsAddr, "-smtp-port", strconv.Itoa(smtpPort), "-json", out}, files...)...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results []struct {
			Name  string
			Hosts []struct{ Name, Addr string }
		}
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	dns := netip.MustParseAddrPort(dnsAddr).Addr().As4()
	for k, r := range rep.Results {
		// The (k+1)-th /24 after the DNS's, .10: 127.A.B+k+1.10, carried.
		v := uint32(dns[1])<<16 | uint32(dns[2])<<8
		v += uint32(k+1)<<8 | 10
		want := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, byte(v >> 16), byte(v >> 8), byte(v)}), uint16(smtpPort)).String()
		if len(r.Hosts) == 0 || r.Hosts[0].Name != "mx1.example.test" || r.Hosts[0].Addr != want {
			t.Errorf("%s: hosts %+v, want mx1.example.test at %s", r.Name, r.Hosts, want)
		}
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want 2", len(rep.Results))
	}
}
