package schemagen

import "reflect"

// What reflection cannot see lives in the two tables of this file. When a
// type moves or is renamed, Generate names the entry to fix.

// shape builds the schema of a type the decoder reads in more than one
// shape.
type shape func(g *gen, t reflect.Type) schema

// shapes holds the types that the decoder reads by hand (they have a
// decodeNode method): a reply as a string or a map, a fault as a kind or a
// map, and so on. Entries are keyed by type name, which survives a type
// moving to another package; write "pkg.Name" (the package's name, not its
// path) only when two types reached from the root share a name. Generate
// fails when a type with decodeNode has no entry, when an entry matches no
// type, and when an entry matches two.
var shapes = map[string]shape{
	// A lone reply (greylist.reply, relay.reject): "451 4.7.1 text", or
	// {reply, times} with reply required.
	"Reply": func(g *gen, t reflect.Type) schema {
		return oneOf(g.format("reply_string"), objectOf(props{
			{"reply", g.format("reply_string")},
			{"times", g.goField(t, "Times")},
		}, "reply"))
	},
	// A rule of a stage: a reply string, or {reply, match, times}.
	"Rule": func(g *gen, t reflect.Type) schema {
		return oneOf(g.format("reply_string"), objectOf(props{
			{"reply", g.format("reply_string")},
			{"match", g.goField(t, "Match")},
			{"times", g.goField(t, "Reply.Times")},
		}, "reply"))
	},
	// The rules of a stage: one rule, or a list of them.
	"[]Rule": func(g *gen, t reflect.Type) schema {
		if t.Kind() != reflect.Slice {
			panic("want a list type, not a " + t.Kind().String())
		}
		return oneOf(g.schemaOf(t.Elem(), checks{}), schema{"type": "array", "items": g.schemaOf(t.Elem(), checks{})})
	},
	// A kind alone ("servfail"), or a map.
	"Fault": func(g *gen, t reflect.Type) schema {
		return oneOf(g.goField(t, "Kind"), g.object(t))
	},
	// A host: a mapping as its fields say; the decoder lays it over its
	// provider profile's behaviour first (profile, faults).
	// Null is a host with normal behaviour.
	"Host": func(g *gen, t reflect.Type) schema {
		o := g.object(t)
		o["type"] = []string{"object", "null"}
		return o
	},
	// A duration ("2s"), or {until, timeout} (validation wants until).
	"Wait": func(g *gen, t reflect.Type) schema {
		o := g.object(t)
		o["required"] = []string{"until"}
		return oneOf(g.format("duration"), o)
	},
	// Exactly one key: send, expect, set, wait or flush.
	"Step": func(g *gen, t reflect.Type) schema {
		o := g.object(t)
		o["minProperties"], o["maxProperties"] = 1, 1
		return o
	},
	// At least one condition, besides within and for.
	"Expect": func(g *gen, t reflect.Type) schema {
		o := g.object(t)
		o["anyOf"] = requireOne(g.keys(g.goFieldType(t, "Conditions")))
		return o
	},
	// At least one condition (wait: {until: …}).
	"Conditions": func(g *gen, t reflect.Type) schema {
		o := g.object(t)
		o["anyOf"] = requireOne(g.keys(t))
		return o
	},
}

// checkFormats maps the checks of `mx:"…"` struct tags (the decoder's
// checkString) to the $defs entry of formats that expresses them. A tag
// with a check missing here fails Generate. "behavior" is not here: its
// values are the keys of the type named behaviorType.
var checkFormats = map[string]string{
	"domain":    "domain",
	"host":      "mx_host",
	"email":     "email",
	"ipv4":      "ipv4",
	"ipv6":      "ipv6",
	"rrtype":    "rrtype",
	"name":      "name",
	"tag":       "tag",
	"ident":     "ident",
	"code":      "code",
	"status":    "status",
	"caseid":    "case_id",
	"smarthost": "smarthost",
	"hostport":  "hostport",
}

// behaviorType is the type whose YAML keys `mx:"behavior"` accepts (the
// decoder's BehaviorKeys).
const behaviorType = "Behavior"

// Patterns of formats, written to agree with the decoder's checks; the
// scenarios tests hold them against the decoder on sample values.
const (
	label  = `[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?`
	domain = `(` + label + `\.)*` + label
	port   = `([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])`
	atext  = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
)

// formats are the $defs that checks and time.Duration refer to. Only the
// ones used are written.
var formats = map[string]schema{
	"duration": {
		"type":        "string",
		"pattern":     `^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+)$`,
		"description": `Go duration: "500ms", "2s", "1m30s"`,
	},
	"domain": {
		"type":        "string",
		"maxLength":   254,
		"pattern":     `^` + domain + `\.?$`,
		"description": "a domain name, any case, with or without the final dot",
	},
	"mx_host": {
		"anyOf":       []any{schema{"$ref": "#/$defs/domain"}, schema{"const": "."}},
		"description": `a host name, or "." for a null MX (RFC 7505)`,
	},
	"email": {
		"type":        "string",
		"pattern":     `^` + atext + `+(\.` + atext + `+)*@` + domain + `$`,
		"allOf":       []any{schema{"pattern": `^[^@]{1,64}@`}}, // RFC 5321 §4.5.3.1.1: local part at most 64 octets
		"description": "a mailbox: local@domain, dot-atom local part",
	},
	"ipv4": {"type": "string", "format": "ipv4"},
	"ipv6": {"type": "string", "format": "ipv6"},
	"rrtype": {
		"type":        "string",
		"pattern":     `^[A-Za-z][A-Za-z0-9]*$`,
		"description": "a DNS type: A, AAAA, MX, TXT, CNAME, NS, TLSA, …",
	},
	"name": {
		"type":        "string",
		"pattern":     `^[a-z0-9][a-z0-9-]*$`,
		"description": `lowercase letters, digits and "-"`,
	},
	"tag": {
		"type":        "string",
		"pattern":     `^[a-z0-9][a-z0-9._-]*$`,
		"description": `lowercase letters, digits, ".", "_" and "-"`,
	},
	"ident": {
		"type":        "string",
		"pattern":     `^[A-Za-z0-9][A-Za-z0-9._-]*$`,
		"description": `letters, digits, ".", "_" and "-"`,
	},
	"code": {
		"type":        "integer",
		"minimum":     200,
		"maximum":     599,
		"description": "an SMTP reply code",
	},
	"status": {
		"type":        "string",
		"pattern":     `^[245]\.[0-9]{1,3}\.[0-9]{1,3}$`,
		"description": `an RFC 3463 enhanced status: "5.1.1"`,
	},
	"case_id": {
		"type":        "string",
		"pattern":     `^[A-Z]{2,8}-[0-9]{3}$`,
		"description": `an area in capitals and three digits: "MX-006"`,
	},
	"smarthost": {
		"type":        "string",
		"pattern":     `^(\[` + domain + `\.?\]|` + domain + `\.?)(:` + port + `)?$`,
		"description": `Postfix relayhost syntax: "host", "host:port", "[host]" or "[host]:port" (brackets: no MX lookup)`,
	},
	"hostport": {
		"type":        "string",
		"pattern":     `^(\[[0-9A-Fa-f:.]+\]|` + domain + `\.?):` + port + `$`,
		"description": `host:port, "127.0.0.1:2525"`,
	},
	"reply_string": {
		"type":        "string",
		"pattern":     replyPattern(),
		"description": `"451 4.7.1 text": code, optional enhanced status of the code's class, text`,
	},
}

// replyPattern is fakesmtp.ParseReply as a regular expression without
// look-ahead (editors and Go's regexp have none): a code 200..599, then
// either nothing, or a first word that looks like an RFC 3463 status
// (three dot-separated runs of 1 to 3 digits), which must then be of the
// code's class (§2; 3xx codes take none), or a first word that does not
// look like one, read as text.
func replyPattern() string {
	const (
		d = `[0-9]`
		b = `(|[0-9]{4,})` // a run that disqualifies a status: empty, or 4 digits or more
	)
	notStatus := `([^ ]*[^0-9. ][^ ]*` + // a character other than digits and dots
		`|` + d + `+` + // no dot
		`|` + d + `*\.` + d + `*` + // one dot
		`|` + d + `*(\.` + d + `*){3,}` + // three dots or more
		`|` + b + `\.` + d + `*\.` + d + `*|` + d + `*\.` + b + `\.` + d + `*|` + d + `*\.` + d + `*\.` + b + // two dots, a bad run
		`)( .*)?`
	rest := func(class string) string {
		s := `( *| +` + notStatus
		if class != "" {
			s += `| +` + class + `\.` + d + `{1,3}\.` + d + `{1,3}( +.*)?`
		}
		return s + `)`
	}
	return `^(2[0-9]{2}` + rest("2") + `|3[0-9]{2}` + rest("") + `|4[0-9]{2}` + rest("4") + `|5[0-9]{2}` + rest("5") + `)$`
}
