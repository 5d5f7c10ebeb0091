// Package fakedns is the DNS of a simulated mail network: an in-process,
// authoritative DNS server on github.com/miekg/dns that answers over UDP
// and TCP on the same loopback address.
//
// The flow of a test:
//
//  1. Describe zones as data: Zone{Name, Records} where Records maps owner
//     names to records written the way a zone file writes them
//     ("MX 10 mx1.example.test.", "A 127.0.0.11", "MX 0 .").
//  2. NewServer validates everything (with Config.LoopbackOnly, as the
//     harness runs it, every A and AAAA record and the server's own address
//     must be on loopback, now and in every live change), binds UDP and TCP
//     on one address and returns only when both serve (like
//     httptest.NewServer). Point the
//     relay under test at Addr, or hand a Go relay the *net.Resolver from
//     Resolver. UDP is read by fakedns itself, one goroutine per socket
//     (one SO_REUSEPORT socket per CPU); TCP is miekg/dns's server.
//  3. Each query is answered authoritatively (AA bit): records, CNAME
//     chains followed inside our zones, NODATA or NXDOMAIN with the zone's
//     SOA in the authority section (RFC 2308). A name outside every zone
//     gets what the Internet's root would say of it: NXDOMAIN with the SOA
//     of a simulated root zone (owner ".", names under mxsim.invalid), or
//     NODATA for a name with a zone below it ("test." when example.test is
//     a zone). REFUSED only comes from a fault, or for what is not offered
//     (zone transfers, classes other than IN). TC over UDP when the
//     answer does not fit the client's buffer (RFC 1035 §4.2.1, RFC
//     6891), and the AD bit on answers from a zone marked Secure (what
//     Postfix's DANE support trusts).
//  4. Faults (SERVFAIL, NXDOMAIN, REFUSED, timeout, truncation, delay) are
//     injected per name and type, or for a whole zone, optionally only for
//     the first Times queries. Faults and records change live, while
//     queries run: one RWMutex guards the data.
//  5. Every query appends exactly one journal.KindDNSQuery event to the
//     shared journal; expectations read it later. An answer that is one
//     record set shares that set's precomputed event details. Live changes after start
//     append journal.KindControl events.
//  6. Close closes the UDP sockets and shuts TCP down, aborts delayed
//     answers and leaves no goroutine behind.
package fakedns
