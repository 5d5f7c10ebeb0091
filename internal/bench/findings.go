package bench

// Finding says, for a target ID, what the profiles showed and what was
// done about it; the report prints it under every missed target. The text
// lives here, next to the code that measures, so that a re-run on another
// machine still explains itself. An unknown ID gives "".
func Finding(id string) string {
	switch id {
	case "smtp-1k":
		return `smtp-source opens one connection per message and does not pipeline (its manual says so), so this is a ` +
			`connection-rate test: about seven request/reply round trips per message, each a read and a write on both sides. ` +
			`Round 1 (journal in fixed blocks, pooled read and DATA buffers) took allocation per 20,000 messages from 513 MB to ` +
			`about 210 MB. Round 2 (issue 7): replies wait in a per-session buffer and go out in one write when the client has ` +
			`no complete command buffered (RFC 2920 §3.2), and the DATA body is read by the wire layer (see the 100 KiB target); ` +
			`every command and reply line is still journaled in order and the golden transcript is unchanged. ` +
			`Round 3 (issue 7) measured where the rest goes. System calls per message, counted with strace -c over 2,000 ` +
			`messages: fakesmtp made about 37 (7 writes, 8 reads of which 2 found nothing yet, 5 setsockopt, 2 epoll_ctl, ` +
			`accept, getsockname, close); smtp-sink makes about 45 (7 writes, 6 reads, 19 polls, 8 sigprocmask, …). So the gap ` +
			`is not the number of system calls but CPU in user space: in the sink's profile about half the CPU is in system ` +
			`calls, the rest spread over go-smtp's per-connection machinery (textproto with two 4 KiB bufio buffers, fmt-formatted ` +
			`replies, a Server and two goroutines per connection), the Go scheduler handing work between goroutines, ` +
			`allocation (about 11 KB per message, half of it go-smtp's bufio buffers) and the garbage collector (about 6%), ` +
			`with no single item above 10%. Done: accepted connections no longer get TCP keepalive (Go's default turns it ` +
			`on with four setsockopt calls per connection; a loopback test host has no idle peer to detect), and a host ` +
			`frees a MaxConns slot before it journals the disconnect (a race the limits test hit under load). Not adopted: ` +
			`GOMAXPROCS=1 for the sink made smtp-source about 6% faster in four alternating runs (fewer idle threads ` +
			`spinning against smtp-source for the second core), a setting of the benchmark, not of fakesmtp. Ratios on this ` +
			`shared 2-core machine vary by ±0.1 from run to run: 0.70× in the last report, 0.79× in a same-day run before the ` +
			`round, 0.67× and 0.80× in two runs after the changes, and the per-run ratios above: the target is not met. ` +
			`Proposed next, each a few per cent: one go-smtp Server per host (per-connection limits applied in the session and ` +
			`the EHLO SIZE line rewritten by the wire layer), replies formatted without fmt; reaching 1.0× would need ` +
			`replacing go-smtp's connection handling with fakesmtp's own. The same workload runs in process as ` +
			"`go test -run '^$' -bench ConnPerMessage -cpuprofile cpu.prof ./fakesmtp`" + `.`
	case "smtp-100k":
		return `Before round 2 the profile was dominated by go-smtp's dataReader undoing dot-stuffing one byte at a time ` +
			`through bufio.Reader.ReadByte (about 80% of the CPU with 100 KiB bodies). Done in round 2: fakesmtp's wire ` +
			`layer, which already had to find the end of data to follow the dialogue, now reads the DATA body itself ` +
			`(RFC 5321 §4.1.1.4, §4.5.2): it jumps from CR to CR with bytes.IndexByte, removes the leading dots with the same ` +
			`state machine as go-smtp's reader (a test checks both agree on every split of every corner case), appends whole ` +
			`runs into a pooled buffer, and hands go-smtp only the end marker; the size limit go-smtp's reader applied is applied ` +
			`in the session with the same boundary (MaxSize bytes or more: 552 5.3.4). The journal still holds every message's ` +
			`raw bytes. The ratio went from 0.77–0.95× to above 2× (see the table).`
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
