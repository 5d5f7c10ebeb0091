// Package fakesmtp runs fake MTA hosts for mxsim: each Host listens on
// its own loopback address, speaks SMTP (RFC 5321, with PIPELINING,
// 8BITMIME, ENHANCEDSTATUSCODES, CHUNKING, SIZE, STARTTLS and AUTH),
// misbehaves in deterministic, combinable ways (Behavior) that can change
// while it runs, and writes every session into the shared journal.
//
// The protocol is fakesmtp's own, not a general SMTP server library's: a
// fake host has to answer any stage with any reply, stall or hang up at
// any point, and record every line exactly as it went over the wire, and a
// load test must not find it slower than Postfix's smtp-sink.
//
// A connection goes through these steps:
//
//  1. Accept. A Down host does not listen (connection refused). Every
//     accepted connection gets a session ID "<name>#<n>" and a
//     KindSMTPConnect event. A Blackhole host stops here: it holds the
//     connection without a word.
//  2. Before SMTP. Implicit TLS handshakes first; then MaxConns (421)
//     and ConnectionsPerClient (its reply, 421 4.7.0 by default), the
//     greeting delay and a forced greeting reply (4xx/5xx: the
//     connection is refused and closed, KindSMTPRefused).
//  3. Greeting "220 <name> ESMTP mxsim", then the session reads command
//     lines and answers them (see Serving below). Each command line is recorded (C:,
//     KindSMTPCommand, AUTH credentials masked) and each reply line (S:,
//     KindSMTPReply with Code, one event per line of a multi-line reply);
//     the dialogue after STARTTLS is recorded in plain text too. Replies
//     to pipelined commands (RFC 2920) go out together, in one write,
//     when the client has no further complete command buffered.
//  4. Commands: TLS and AUTH requirements, forced replies at every stage
//     (Reply.Times counts per host), relay policy, greylisting (RFC 6647),
//     limits (every host has a size limit, 50 MiB unless told otherwise;
//     message rates per client address at MAIL and per recipient at RCPT,
//     counted exactly on the host's clock),
//     delays (at most 10 minutes unless told otherwise; a client that
//     leaves during one ends the session at once). Every refusal is a KindSMTPReply with Code and Fault
//     naming the behaviour; protocol errors (bad sequence 503, syntax 501,
//     unknown command 500, over-long line) have no Fault, and after 20 of
//     them the host closes the connection with 421. A forced 421, at any
//     stage, closes the connection too once it is written (RFC 5321 §3.8,
//     §4.2.2: "Service not available, closing transmission channel"); the
//     KindSMTPDisconnect event then has Code 421 and the stage's Fault.
//  5. Every accepted message is a KindSMTPMessage event, appended before
//     the 250 reply is written, so nothing accepted is missing. DATA and
//     BDAT (CHUNKING, RFC 3030) make the same event, and have the same
//     stages: the first BDAT chunk is the data stage (the data delay and
//     forced reply, as for the DATA command), BDAT LAST the end of data
//     (as the final dot), and DisconnectInData counts the chunks' bytes.
//     Extensions.NoChunking leaves CHUNKING out of EHLO; BDAT is then
//     answered 502, as by a host that does not know it.
//  6. Disconnect: a KindSMTPDisconnect event says who closed and why
//     (client quit, hangup_after, disconnect_in_data, host closed, ...).
//
// Serving. On Linux each host serves its sessions from one event loop, as
// Postfix's smtp-sink does: one epoll set, non-blocking sockets, raw
// system calls (golang.org/x/sys/unix), so that a load test finds fakesmtp
// no slower than smtp-sink (docs/benchmarks.md). The loop runs a session
// for as long as no step of it has to wait; a session that has to (a
// delay, STARTTLS, AUTH, BDAT, DisconnectInData, a forced greeting, a
// blackhole, a client that does not read its replies) continues on a
// goroutine of its own, with the same handlers, journal events and
// replies. Nothing waits on the loop, and that is checked: a step that may
// wait (a delay, a TLS handshake, an AUTH exchange, a BDAT or body read)
// panics with its name when it runs there, so a behaviour the loop does not
// know to hand over fails its first test instead of stalling every session
// of the host.
//
// Config.Loop chooses: LoopOn, LoopOff (every session has its own
// goroutine from the start, as on systems without epoll), or the zero
// value LoopAuto, which follows the environment variable
// MXSIM_FAKESMTP_LOOP ("on", "off"; unset or "auto": on), read when the
// host is made, so that a whole test run can rule the loop out without a
// change of code.
//
// Behaviour. Behavior.Validate is the one set of rules for what a host can
// be told to do: NewHost and SetBehavior apply it, and package scenarios
// runs it on scenario files, reporting each FieldError path at the line
// and column of its value. The closed sets of values (State.Values,
// TLSMode.Values, CertKind.Values, Mechanisms) are tables decoders and
// schema generators read.
//
// Host follows httptest's names: Addr, Close, CloseClientConnections;
// Down and Up keep the address.
package fakesmtp
