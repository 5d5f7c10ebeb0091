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
			`about 210 MB. Round 2 (issue 7): (1) fakesmtp's wire layer no longer passes go-smtp's writes through one by one: ` +
			`replies wait in a per-session buffer and go out in one write when the client has no complete command buffered ` +
			`(the "flush before a read that would block" of Postfix; RFC 2920 §3.2), before any behaviour delay, before a ` +
			`hang-up and at close. A multi-line EHLO reply is now one write instead of six, and a pipelining client gets the ` +
			`replies of a whole command group in one write; (2) the DATA body is read by the wire layer (see the 100 KiB target), ` +
			`so go-smtp no longer reads it byte by byte. Every command and reply line is still journaled when it is written into ` +
			`the buffer, in order; the golden transcript is unchanged. Before round 2 the 1 KiB ratio was 0.65× (last report) ` +
			`and 0.76× (a same-day run); after it, see the per-run ratios above (0.73×, 0.79× and 1.30× in the run that wrote ` +
			`this report, on a shared 2-core machine where smtp-source takes one core): better, not yet reliably ≥ 1. ` +
			`What is left is the same kernel work smtp-sink does (connect, read, write, close: about 40% of fakesmtp's CPU is ` +
			`in syscalls, the writes being the minimum of one per reply for a non-pipelining client), go-smtp's per-connection ` +
			`set-up (a Server, 8 KiB of bufio buffers and two goroutines per connection) and the garbage collector marking the ` +
			`growing journal (fifteen events per message). Proposed next: one go-smtp Server per host with per-connection ` +
			`limits applied in the session. The same workload runs in process as ` +
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
		return `Where the time goes (profile above): the kernel's UDP path first (recvmsg and sendmsg, about 30% of the CPU), ` +
			`then miekg/dns's server (a new goroutine per packet whose stack grows through copystack, reading with ` +
			`control messages and a read deadline per packet, unpacking the query), then allocation and the garbage collector, ` +
			`much of it the journal: fakedns appends one event per query, so a 10 s run holds 600,000 events or more that ` +
			`every GC cycle marks again. The profile shows about one core busy: on this 2-core machine dnsperf takes the other, ` +
			`so the figure is CPU per query. Done in round 2 (issue 7): (1) UDP is served on one SO_REUSEPORT socket per CPU ` +
			`(at most 4), one miekg/dns server each, as NSD's server-count does; (2) fewer allocations per query in the ` +
			`handler (33 to 26 in BenchmarkQuery): the reply message, its OPT record and sections are reused through a pool, ` +
			`the question is shared with the query, and the journal's Remote text comes from a small per-server cache. The ` +
			`journal still records every query with its answer. Ratios: 0.37–0.50× per run before, 0.38–0.50× ` +
			`per run after (above), within the noise: the target is not met. Proposed next: serve UDP with fakedns's own read loop (one goroutine ` +
			`per socket, no per-packet goroutine, no control messages since each socket is bound to one address), handing ` +
			`queries that meet a delay fault to a goroutine of their own; and build the event's Text lazily, which needs a ` +
			`backward-compatible change to harness/journal.`
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
