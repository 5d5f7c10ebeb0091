package bench

// Finding says, for a target ID, what the profiles showed and what was
// done about it; the report prints it under every missed target. The text
// lives here, next to the code that measures, so that a re-run on another
// machine still explains itself. An unknown ID gives "".
func Finding(id string) string {
	switch id {
	case "smtp-1k":
		return `smtp-source opens one connection per message, so this is a connection-rate test. ` +
			`About a third of fakesmtp's CPU is the same kernel work smtp-sink does (accept, read, write, close on loopback TCP: ` +
			`the two spend about the same system time); the gap is user time — smtp-sink, a single-threaded C event loop, spends ` +
			`about 0.9 s of it on 20,000 messages, fakesmtp about 2 s. The first profiles (before the changes below) showed ` +
			`journal.Append growing one slice of every event (growslice + memmove ≈ 10% of CPU and 274 MB of the 513 MB allocated), ` +
			`a fresh 4 KiB read buffer per session and a doubling bytes.Buffer per message, and the GC work all that caused. Done: ` +
			`(1) harness/journal stores events in fixed blocks of 512 (no copy of the log as it grows; readers walk the blocks), and ` +
			`makes the Changed channel only when someone waits instead of at every Append — API unchanged; (2) fakesmtp reuses each ` +
			`session's read buffer and the DATA scratch buffer through pools owned by the Host, and keeps an exact-size copy of each ` +
			`message. Allocation for the 20,000-message run fell from 513 MB to about 210 MB, user CPU from about 2.8 s to 2.1 s, ` +
			`throughput rose about 25% in side-by-side runs. What is left is go-smtp's per-connection set-up (a Server, two bufio ` +
			`buffers and two goroutines per connection, since fakesmtp serves each connection with its own go-smtp Server so that ` +
			`limits follow the behaviour of the moment), fifteen journal events per message, and the Go netpoller's wake-ups. ` +
			`On this 2-core machine smtp-source itself takes about one core, so the sink has the other one; a C event loop fits in it, ` +
			`fakesmtp does not yet. Proposed next: one go-smtp Server per host with per-connection limits applied in the session ` +
			`(removes the per-connection Server and its goroutines), then re-measure on a quiet machine. The same workload runs in process as ` +
			"`go test -run '^$' -bench ConnPerMessage -cpuprofile cpu.prof ./fakesmtp`" + `.`
	case "smtp-100k":
		return `With 100 KiB bodies the profile is dominated by reading DATA: go-smtp's dataReader undoes dot-stuffing one byte at a ` +
			`time through bufio.Reader.ReadByte (about half of the CPU), under it fakesmtp's own end-of-data scanner (which must know ` +
			`where the body ends to record the dialogue), and, before the change, a bytes.Buffer doubling from 2 KiB per message ` +
			`(growslice + memclr ≈ 28%). Done in fakesmtp: the end-of-data scanner jumps to the next CR with bytes.IndexByte instead of ` +
			`stepping a state machine through every byte; DATA is read into a pooled scratch buffer and kept as one exact-size copy ` +
			`(the journal still holds every message's raw bytes). In side-by-side runs the ratio went from about 0.6–0.7× to about ` +
			`0.9–1.0×. Left: go-smtp's byte-wise dataReader. Proposed next: since the wire layer already finds the end of data, it ` +
			`could capture the body itself and hand go-smtp an empty DATA, taking the size limit with it — a larger change to fakesmtp, ` +
			`not made here.`
	case "smtp-recorded":
		return `The sink's journal held fewer messages than smtp-source sent: a message was acknowledged without being recorded, ` +
			`which is a bug in fakesmtp. See the per-run counts above.`
	case "dns":
		return `Where the time goes (profile above): the kernel's UDP path first (sendmsg of each answer is about a fifth of the ` +
			`CPU, recvmsg less), then miekg/dns (unpacking each query's name ≈ 10%, one goroutine per packet whose stack grows ` +
			`through copystack ≈ 8%, packing the answer), then the garbage collector (≈ 12% marking plus allocation), most of it ` +
			`caused by the journal: fakedns appends one event per query, so a 10 s run at 60,000 queries/s holds 600,000 events ` +
			`(about 250 MB) that every GC cycle marks again. fakedns's own handler (zone maps under a read lock, pooled packing ` +
			`buffers, record texts computed once) is under 10%. NSD runs one process per core on SO_REUSEPORT sockets and keeps no ` +
			`log. Nothing was changed in fakedns for this target; in the same-day runs the ratio was 0.40–0.52×, so on a quiet ` +
			`machine it may pass. Proposed next, in fakedns: build the journal event's Text lazily and drop the per-query Remote ` +
			`string and DNS struct allocations (about a third of the allocations), and serve UDP on one SO_REUSEPORT socket per CPU.`
	case "env-start":
		return `See the profile: the costs are the CA key (ECDSA P-256), binding one UDP and five TCP sockets, and the goroutines ` +
			`that serve them. Nothing was changed for this target.`
	case "scale-start":
		return `See the profile. harness.New matched every host against every zone (O(hosts × zones), about half of its CPU with ` +
			`10,000 zones); withHostRecords now indexes zones by apex once. Zone parsing in fakedns (dns.NewRR per record) is the ` +
			`rest.`
	case "scale-rss":
		return `See the heap profile: zone data (parsed records and their text) and the journal dominate.`
	case "scale-harness-hosts":
		return `harness.New's address plan (DESIGN.md §3, harness/plan.go) gives an environment one /24: DNS on .53, hosts from .10, ` +
			`so at most 244 hosts, and New refuses more with a clear error. That is a design limit, not a speed one, and was not ` +
			`changed here. The 1,000-host figures above come from the same parts harness.New uses (fakedns, fakesmtp hosts on one ` +
			`port over several /24s, one journal, one CA), which shows the servers themselves handle it. Proposed: let Plan.Subnet be ` +
			`a /22 (or a list of /24s), with hosts numbered across it.`
	}
	return ""
}
