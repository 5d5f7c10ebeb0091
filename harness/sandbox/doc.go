// Package sandbox serves a live control API and a web page over a running
// simulated network (a *harness.Env), so that an operator can point a relay,
// swaks or a mail client at it and play: take an MX down, turn on
// greylisting, change an MX record, and watch what happens.
//
// The flow:
//
//  1. New checks the Config (a running Env; a listen address; a token when
//     that address is beyond loopback), binds the listener and starts
//     serving before it returns;
//  2. the page (embedded assets, nothing fetched at run time) reads the
//     network through GET /api/info, /api/hosts, /api/zones, /api/faults,
//     /api/messages and /api/sessions, and follows the journal live through
//     GET /api/events (server-sent events);
//  3. changes go through the API: POST /api/hosts/{name}/down|up, PUT
//     /api/hosts/{name} (a behaviour as under a scenario's hosts:), PATCH
//     /api/hosts/{name} (the host part of a set: step), PUT
//     /api/zones/{zone} (a zone as under dns:), PUT/DELETE
//     /api/zones/{zone}/fault, POST/PUT/DELETE /api/zones/{zone}/records,
//     POST/DELETE /api/faults, POST /api/relay/flush. Hosts, zones and
//     faults are read and written in the scenario's shape, by package
//     scenarios (api_shape.go). Each request is checked in full before
//     anything changes, and is applied by one call of fakesmtp or fakedns
//     (a zone put with faults: one for the records, then one per fault
//     that differs), which journals it as a KindControl event; a bad
//     request gets a 4xx
//     status and {"error": "..."} and changes nothing;
//  4. every event, message (raw .eml, streamed, or parsed, with headers,
//     body and text cut at 1 MiB each) and session transcript can be read
//     back: GET /api/journal?since=N, /api/messages/{seq},
//     /api/messages/{seq}.eml, /api/sessions/{id}/transcript. All of it
//     lives in the Env's journal: when that journal is bounded
//     (harness.Config.JournalLimits, DefaultLimits for a long-running
//     sandbox), the oldest events and message bytes are dropped, and the
//     journal, the message list and the page say how many;
//  5. Close ends the live streams, shuts the HTTP server down and waits
//     for it; the Env is the caller's to close.
//
// Security: the default address is 127.0.0.1:0. On loopback, requests
// must name a loopback host (against DNS rebinding). A token, required
// beyond loopback, must then come with every API request as
// "Authorization: Bearer <token>" (GET requests may carry it in the
// mxsim_token cookie instead, which the page sets from its URL fragment
// "#token=..."). Cross-origin browser requests that change state are
// refused (net/http.CrossOriginProtection).
package sandbox
