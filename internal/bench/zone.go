package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/mxsim/mxsim/fakedns"
)

// BenchZone writes an RFC 1035 zone file for origin with n mail domains
// and n/10 (at least 1) MX hosts: name dI has "MX 10 mxK" and "TXT", host
// mxK has an A record in 127.0.0.0/8. NSD and fakedns serve the same file.
func BenchZone(w io.Writer, origin string, n int) error {
	origin = dns.Fqdn(origin)
	hosts := max(n/10, 1)
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 300\n", origin)
	fmt.Fprintf(&b, "@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 60\n", origin, origin)
	fmt.Fprintf(&b, "@ IN NS ns.%s\nns IN A 127.0.0.53\n", origin)
	fmt.Fprintf(&b, "@ IN MX 10 mx0.%s\n", origin)
	for k := range hosts {
		fmt.Fprintf(&b, "mx%d IN A 127.%d.%d.%d\n", k, 1+k/65536%254, k/256%256, k%256)
	}
	for i := range n {
		fmt.Fprintf(&b, "d%d IN MX 10 mx%d.%s\n", i, i%hosts, origin)
		fmt.Fprintf(&b, "d%d IN TXT \"v=spf1 -all\"\n", i)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("bench: write zone %s: %w", origin, err)
	}
	return nil
}

// BenchQueries writes a dnsperf query file for a BenchZone of n domains:
// an MX query for every domain and an A query for every host, mixed.
func BenchQueries(w io.Writer, origin string, n int) error {
	origin = strings.TrimSuffix(dns.Fqdn(origin), ".")
	hosts := max(n/10, 1)
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "d%d.%s MX\n", i, origin)
		if i%10 == 0 {
			fmt.Fprintf(&b, "mx%d.%s A\n", (i/10)%hosts, origin)
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("bench: write queries: %w", err)
	}
	return nil
}

// ReadZone parses an RFC 1035 zone file (file names it in errors) and
// returns it as a fakedns.Zone: each record in zone-file syntax without
// the owner, TTL first ("300 MX 10 mx1.bench.test.").
func ReadZone(r io.Reader, origin, file string) (fakedns.Zone, error) {
	origin = dns.Fqdn(origin)
	z := fakedns.Zone{Name: origin, Records: make(map[string][]string)}
	zp := dns.NewZoneParser(r, origin, file)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		rdata := strings.TrimPrefix(rr.String(), h.String())
		text := strconv.FormatUint(uint64(h.Ttl), 10) + " " + dns.TypeToString[h.Rrtype] + " " + rdata
		z.Records[h.Name] = append(z.Records[h.Name], text)
	}
	if err := zp.Err(); err != nil {
		return z, fmt.Errorf("bench: zone %s: %w", file, err)
	}
	return z, nil
}
