package bench

// Finding says, for a target ID, how to read a miss of that target and
// where to look: what the measurement is sensitive to, and which figures of
// the same report tell a busy machine from a regression. The report prints
// it under every missed target. The text lives here, next to the code that
// measures, so that a re-run on another machine explains itself. What was
// done to meet the targets, round by round, is the History section at the
// end of docs/benchmarks.md, which `make bench` keeps. An unknown ID
// gives "".
func Finding(id string) string {
	switch id {
	case "smtp-1k":
		return `smtp-source opens one connection per message and does not pipeline (its manual says so), so this is a ` +
			`connection-rate test: seven request/reply round trips per message, each a read and a write on both sides, and ` +
			`most of either server's CPU is the kernel's TCP path. On shared cores what decides the rate is how much CPU is ` +
			`left to smtp-source, which needs close to a core by itself. A ratio below 1.0× here with fakesmtp's CPU per ` +
			`message below smtp-sink's (the CPU column) means the machine was busy with something else during those runs ` +
			`(compare the per-run ratios and the one-core-each row); a ratio below 1.0× with fakesmtp's CPU per message ` +
			`above smtp-sink's is a regression: see the profile above, and compare the row with the event loop off (on ` +
			`Linux each host serves plain sessions from one epoll loop; a target row close to the row without it means ` +
			`sessions are being handed to goroutines). ` +
			"The workload runs in process as `go test -run '^$' -bench ConnPerMessage -cpuprofile cpu.prof ./fakesmtp`" + `.`
	case "smtp-placement":
		return `Reading the setups. On shared cores both servers compete with smtp-source for two CPUs, so the rate rewards ` +
			`the server that needs less CPU per message and leaves more to the load generator: the target setup. With one ` +
			`core each neither competes, and at 1 KiB the load generator is the limit (it runs at close to all of its ` +
			`core), so the rates and the ratio there say only that both servers keep up. The row with the event loop off ` +
			`is what fakesmtp does where there is no epoll (macOS, Windows) or with MXSIM_FAKESMTP_LOOP=off. In a run ` +
			`where one server's rate falls far below its other runs while its CPU per message does not rise, it was ` +
			`waiting rather than working; the CPU-per-message column is the steadier comparison of the two servers' cost.`
	case "smtp-100k":
		return `With 100 KiB bodies the cost is reading the DATA body (RFC 5321 §4.1.1.4, §4.5.2). fakesmtp reads it ` +
			`itself (session.readBody): it jumps from CR to CR with bytes.IndexByte, removes the leading dot of ` +
			`dot-stuffed lines, and appends whole runs into a pooled buffer; the journal holds every message's raw ` +
			`bytes. A profile led by byte-at-a-time reads (bufio.Reader.ReadByte) or by growing and copying buffers ` +
			`means that path regressed.`
	case "smtp-recorded":
		return `The sink's journal held fewer messages than smtp-source sent: a message was acknowledged without being recorded, ` +
			`which is a bug in fakesmtp. See the per-run counts above.`
	case "dns":
		return `The time goes to the kernel's UDP path, fakedns's own UDP loop (one goroutine per SO_REUSEPORT socket, one ` +
			`socket per CPU up to 4, each reading, answering and writing), and allocation and garbage collection, much of ` +
			`it the journal: one event per query, so a 10 s run holds hundreds of thousands of events. An answer that is ` +
			`exactly one record set shares that set's journal details, so a plain query adds no object but its slot in ` +
			`the journal; BenchmarkQuery in ./fakedns counts the allocations per query. A profile led by mallocgc, ` +
			`the garbage collector or goroutine creation means queries lost that path (while any fault is set, every ` +
			`query gets a goroutine of its own, by design). TCP is miekg/dns's server and is not measured here.`
	case "env-start":
		return `See the profile: the costs are the CA key (ECDSA P-256), binding one UDP and five TCP sockets, and the goroutines ` +
			`that serve them.`
	case "scale-start":
		return `See the profile. harness.New indexes the zones by apex once to give each host its A record ` +
			`(withHostRecords); harness functions high in the profile mean a step went back to comparing every host ` +
			`with every zone. Zone parsing in fakedns (dns.NewRR per record) is the rest.`
	case "scale-rss":
		return `See the heap profile: zone data (parsed records and their text) and the journal dominate.`
	}
	return ""
}
