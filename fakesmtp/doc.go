// Package fakesmtp runs fake MTA hosts for mxsim: each Host listens on
// its own loopback address, speaks SMTP through github.com/emersion/go-smtp,
// misbehaves in deterministic, combinable ways (Behavior) that can change
// while it runs, and writes every session into the shared journal.
//
// A connection goes through these steps:
//
//  1. Accept. A Down host does not listen (connection refused). Every
//     accepted connection gets a session ID "<name>#<n>" and a
//     KindSMTPConnect event. A Blackhole host stops here: it holds the
//     connection without a word.
//  2. Before SMTP. Implicit TLS handshakes first; then MaxConns (421),
//     the greeting delay and a forced greeting reply (4xx/5xx: the
//     connection is refused and closed, KindSMTPRefused). go-smtp has no
//     hook here, so this stage is ours.
//  3. Greeting "220 <name> ESMTP mxsim", then go-smtp serves the session
//     through a wire layer that records each command line (C:,
//     KindSMTPCommand, AUTH credentials masked) and each reply line (S:,
//     KindSMTPReply with Code, one event per line of a multi-line reply),
//     handles STARTTLS itself (so the dialogue is visible in plain
//     text after TLS), and answers forced EHLO, STARTTLS, AUTH and DATA
//     replies itself.
//  4. Commands. MAIL, RCPT and the message go to the Session: TLS and AUTH
//     requirements, forced replies (Reply.Times counts per host), relay
//     policy, greylisting (RFC 6647), limits, delays. Every refusal is a
//     KindSMTPReply with Code and Fault naming the behaviour.
//  5. Every accepted message is a KindSMTPMessage event, appended before
//     the 250 reply is written, so nothing accepted is missing.
//  6. Disconnect: a KindSMTPDisconnect event says who closed and why
//     (client quit, hangup_after, disconnect_in_data, host closed, ...).
//
// Host follows httptest's names: Addr, Close, CloseClientConnections;
// Down and Up keep the address.
package fakesmtp
