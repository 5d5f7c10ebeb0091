package bench

// Finding says, for a target ID, what the profiles showed and what was
// done about it; the report prints it under every missed target. The text
// lives here, next to the code that measures, so that a re-run on another
// machine still explains itself. An unknown ID gives "".
func Finding(id string) string {
	switch id {
	case "smtp-1k":
		return `smtp-source opens one connection per message and does not pipeline (its manual says so), so this is a ` +
			`connection-rate test: seven request/reply round trips per message, each a read and a write on both sides, and ` +
			`most of either server's CPU is the kernel's TCP path (about 70% of fakesmtp's in perf). Since round 5 a plain ` +
			`session costs fakesmtp about 15% less CPU than smtp-sink (the CPU column); what decides the rate on shared ` +
			`cores is how much CPU is left to smtp-source, which needs close to a core by itself (96–98% of its core with ` +
			`one core each, against either server). A ratio below 1.0× here with fakesmtp's CPU per message below ` +
			`smtp-sink's means the machine was busy with something else during those runs (compare the per-run ratios and ` +
			`the one-core-each row); a ratio below 1.0× with fakesmtp's CPU per message above smtp-sink's is a regression: ` +
			`see the profile above, and compare the row with the event loop off. ` +
			"The workload runs in process as `go test -run '^$' -bench ConnPerMessage -cpuprofile cpu.prof ./fakesmtp`" + `.`
	case "smtp-rounds":
		return `What was done (issue 7). Round 1: the journal in fixed blocks, pooled read and DATA buffers (allocation per ` +
			`20,000 messages from 513 MB to about 210 MB). Round 2: replies to pipelined commands wait in a per-session buffer ` +
			`and go out in one write when the client has no complete command buffered (RFC 2920 §3.2), and the DATA body is ` +
			`read in runs (see the 100 KiB row). Round 3: no TCP keepalive on accepted connections (four setsockopt calls each). ` +
			`Round 4: fakesmtp speaks SMTP itself instead of through one go-smtp Server per connection: one goroutine per ` +
			`connection reads lines through one pooled bufio.Reader, and replies of the common path are constant lines, where ` +
			`before each connection had a Server, a listener, two goroutines, textproto with two 4 KiB buffers, fmt-formatted ` +
			`replies and a wire layer re-reading them to journal them. CPU per message of the 1 KiB workload went from about ` +
			`1.4× smtp-sink's to about the same, but the rate stayed at 0.65–0.8× on shared cores: with a goroutine per ` +
			`connection the Go runtime's threads took CPU from smtp-source (a loopback write lasts long enough for sysmon to ` +
			`hand the P to another thread, and every goroutine the netpoller readies wakes an idle P's thread: about three ` +
			`context switches per message, CPU per message a third to a half above the one-thread figure). Round 5: on ` +
			`Linux one event loop per host serves the sessions that need no waiting, as smtp-sink does: one epoll set, raw ` +
			`system calls on non-blocking sockets (so no thread hand-off), and Go's netpoller only to sleep when nothing is ` +
			`ready; the handlers, journal and replies are the same as a goroutine session's, and a session whose next step ` +
			`would wait (delays, STARTTLS, AUTH, BDAT, DisconnectInData, a client that does not read) is handed to a ` +
			`goroutine of its own. CPU per message fell by about a third (see the row with the event loop off) and below ` +
			`smtp-sink's; every command, reply and message is still journaled.`
	case "smtp-placement":
		return `Reading the setups. On shared cores both servers compete with smtp-source for two CPUs, so the rate rewards ` +
			`the server that needs less CPU per message and leaves more to the load generator: the target setup. With one ` +
			`core each neither competes, and at 1 KiB the load generator is the limit (it runs at 96–98% of its core), so ` +
			`the rates and the ratio there say only that both servers keep up. The row with the event loop off is what ` +
			`fakesmtp does where there is no epoll (macOS, Windows) or with MXSIM_FAKESMTP_LOOP=off. In a run where one ` +
			`server's rate falls far below its other runs while its CPU per message does not rise, it was waiting rather ` +
			`than working; the CPU-per-message column is the steadier comparison of the two servers' cost.`
	case "smtp-100k":
		return `Before round 2 the profile was dominated by go-smtp's dataReader undoing dot-stuffing one byte at a time ` +
			`through bufio.Reader.ReadByte (about 80% of the CPU with 100 KiB bodies). Since round 2 fakesmtp reads the DATA ` +
			`body itself (RFC 5321 §4.1.1.4, §4.5.2): it jumps from CR to CR with bytes.IndexByte, removes the leading dots ` +
			`with the same state machine as go-smtp's reader (a test checks both agree on every split of every corner case) ` +
			`and appends whole runs into a pooled buffer; the journal still holds every message's raw bytes. The ratio went ` +
			`from 0.77–0.95× to above 2× (see the table).`
	case "smtp-recorded":
		return `The sink's journal held fewer messages than smtp-source sent: a message was acknowledged without being recorded, ` +
			`which is a bug in fakesmtp. See the per-run counts above.`
	case "dns":
		return `Before round 3 the time went to the kernel's UDP path (about 30% of the CPU), miekg/dns's server (a goroutine ` +
			`per packet whose stack grows through copystack, a read with control messages and a read deadline per packet), ` +
			`then allocation and the garbage collector, much of it the journal: one event per query, so a 10 s run holds ` +
			`600,000 events or more, each with its own *journal.DNS, Answer slice and Text string, that every GC cycle marks ` +
			`again. Round 2 (issue 7): one SO_REUSEPORT UDP socket per CPU (at most 4) and pooled reply messages (33 to 26 ` +
			`allocations per query in BenchmarkQuery); 0.38–0.50× per run. Round 3 (issue 7): (1) fakedns reads UDP itself: ` +
			`one goroutine per socket reads, answers and writes (ReadFromUDPAddrPort and WriteToUDPAddrPort, no control ` +
			`messages since each socket is bound to one address, no read deadline), applying miekg/dns's default accept ` +
			`rules (responses ignored, NOTIMP and FORMERR as before, not journaled); while any fault is set, every query ` +
			`gets a goroutine of its own as before, so a delayed answer holds up no other (tested); TCP stays on miekg/dns; ` +
			`(2) an answer that is exactly one record set journals that set's details, made at the set's first such answer ` +
			`and shared by every later one (the *journal.DNS with its Answer slice, and the Text): a plain query now adds no ` +
			`object to the journal but its slot, and BenchmarkQuery went from 26 to 7 allocations and 637 B per query. The ` +
			`cost is a small record-set index per zone: resident memory of the 10,000-domain network went from 48 MB ` +
			`(last report) to 53 MB (section 4; 66 MB when the details were made for every set up front). The ` +
			`journal still records every query with its answer; events whose answer is not a single record set (faults, ` +
			`CNAME chains, ANY, truncation, negative answers) are built as before. In a one-run comparison the same hour, ` +
			`fakedns ÷ NSD went from 0.40× (52,561 against 130,549 queries/s, p99 5.2 ms) to 0.65× (88,084 against 135,484, ` +
			`p99 1.5 ms); see the table for this report's runs (p99 at 10,000 queries/s was 6.8 ms in the last report).`
	case "env-start":
		return `See the profile: the costs are the CA key (ECDSA P-256), binding one UDP and five TCP sockets, and the goroutines ` +
			`that serve them. Nothing was changed for this target.`
	case "scale-start":
		return `See the profile. harness.New matched every host against every zone (O(hosts × zones), about half of its CPU with ` +
			`10,000 zones); withHostRecords now indexes zones by apex once. Zone parsing in fakedns (dns.NewRR per record) is the ` +
			`rest.`
	case "scale-rss":
		return `See the heap profile: zone data (parsed records and their text) and the journal dominate.`
	}
	return ""
}
