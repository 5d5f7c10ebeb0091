package load

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// ParseSchedule reads a chaos schedule in its YAML form (file names it in
// errors):
//
//	events:
//	  - {at: 5s, for: 10s, kind: down, hosts: [mx1.load.test]}
//	  - {at: 8s, for: 20s, kind: greylist, hosts: [mx2.load.test], window: 1s}
//	  - {at: 12s, for: 5s, kind: reply, hosts: [mx3.load.test], stage: rcpt, reply: "451 4.3.0 busy", match: "*r1@*"}
//	  - {at: 15s, for: 5s, kind: slow, hosts: [mx4.load.test], stage: data, delay: 300ms}
//	  - {at: 20s, for: 5s, kind: ratelimit, hosts: [mx5.load.test], count: 20, per: 1s}
//	  - {at: 25s, for: 3s, kind: servfail, domains: [d1.load.test, d2.load.test]}
//
// Every mistake is reported at once, each as "file:line:col: message".
func ParseSchedule(file string, data []byte) (Schedule, error) {
	s := Schedule{Name: file}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		var te interface{ GetToken() *token.Token }
		var me interface{ GetMessage() string }
		if errors.As(err, &te) && errors.As(err, &me) && te.GetToken() != nil {
			p := te.GetToken().Position
			return s, fmt.Errorf("load: %w: %s:%d:%d: %s", ErrSchedule, file, p.Line, p.Column, me.GetMessage())
		}
		return s, fmt.Errorf("load: %w: %s: %v", ErrSchedule, file, err)
	}
	var errs []string
	bad := func(n ast.Node, format string, args ...any) {
		line, col := 1, 1
		if n != nil && n.GetToken() != nil {
			line, col = n.GetToken().Position.Line, n.GetToken().Position.Column
		}
		errs = append(errs, fmt.Sprintf("%s:%d:%d: %s", file, line, col, fmt.Sprintf(format, args...)))
	}
	var body ast.Node
	if len(f.Docs) > 0 {
		body = f.Docs[0].Body
	}
	top, ok := body.(*ast.MappingNode)
	if !ok {
		bad(body, "want a mapping with the key events")
		return s, scheduleErr(errs)
	}
	var events ast.Node
	for _, kv := range top.Values {
		switch k := kv.Key.String(); k {
		case "events":
			events = kv.Value
		default:
			bad(kv.Key, "unknown key %q (want events)", k)
		}
	}
	seq, ok := events.(*ast.SequenceNode)
	if !ok {
		if events == nil {
			bad(top, "events: missing")
		} else {
			bad(events, "events: want a list of events")
		}
		return s, scheduleErr(errs)
	}
	for i, item := range seq.Values {
		m, ok := item.(*ast.MappingNode)
		if !ok {
			bad(item, "events[%d]: want a mapping (at, for, kind, …)", i)
			continue
		}
		var e Event
		// A block mapping's token is its first ':'; the event starts at
		// its first key.
		var at ast.Node = m
		if len(m.Values) > 0 && !m.IsFlowStyle {
			at = m.Values[0].Key
		}
		p := at.GetToken().Position
		e.Pos = fmt.Sprintf("%s:%d:%d", file, p.Line, p.Column)
		seen := map[string]ast.Node{}
		for _, kv := range m.Values {
			k := kv.Key.String()
			seen[k] = kv.Key
			v := kv.Value
			where := fmt.Sprintf("events[%d].%s", i, k)
			dur := func(dst *time.Duration) {
				d, err := time.ParseDuration(scalar(v))
				if err != nil || d < 0 {
					bad(v, "%s: %q: want a duration such as 10s", where, scalar(v))
					return
				}
				*dst = d
			}
			switch k {
			case "at":
				dur(&e.At)
			case "for":
				dur(&e.For)
			case "delay":
				dur(&e.Delay)
			case "window":
				dur(&e.Window)
			case "per":
				dur(&e.Per)
			case "kind":
				e.Kind = Kind(scalar(v))
				if !slices.Contains(Kind("").Values(), string(e.Kind)) {
					bad(v, "%s %q: want %s", where, e.Kind, strings.Join(Kind("").Values(), ", "))
					e.Kind = "?"
				}
			case "stage":
				e.Stage = scalar(v)
			case "reply":
				e.Reply = scalar(v)
			case "match":
				e.Match = scalar(v)
			case "count":
				n, err := strconv.Atoi(scalar(v))
				if err != nil || n < 1 {
					bad(v, "%s: %q: want a whole number, 1 or more", where, scalar(v))
				}
				e.Count = n
			case "hosts", "domains":
				list, ok := v.(*ast.SequenceNode)
				if !ok {
					bad(v, "%s: want a list of names", where)
					continue
				}
				var names []string
				for _, n := range list.Values {
					names = append(names, strings.ToLower(strings.TrimSuffix(scalar(n), ".")))
				}
				if k == "hosts" {
					e.Hosts = names
				} else {
					e.Domains = names
				}
			default:
				bad(kv.Key, "events[%d]: unknown key %q (want at, for, kind, hosts, domains, stage, reply, match, delay, window, count, per)", i, k)
			}
		}
		if e.Kind == "?" {
			continue
		}
		if _, ok := seen["for"]; !ok {
			bad(at, "events[%d].for: missing", i)
			e.For = 1 // reported once
		}
		for _, why := range e.check() {
			key, _, _ := strings.Cut(why, ":")
			key, _, _ = strings.Cut(key, " ")
			n := seen[key]
			if n == nil {
				n = at
			}
			bad(n, "events[%d].%s", i, why)
		}
		s.Events = append(s.Events, e)
	}
	if len(errs) > 0 {
		return s, scheduleErr(errs)
	}
	s.sort()
	return s, nil
}

// scalar is a scalar node's text.
func scalar(n ast.Node) string {
	if n == nil {
		return ""
	}
	if s, ok := n.(*ast.StringNode); ok {
		return s.Value
	}
	if t := n.GetToken(); t != nil {
		return t.Value
	}
	return n.String()
}

func scheduleErr(errs []string) error {
	return fmt.Errorf("load: %w:\n%s", ErrSchedule, strings.Join(errs, "\n"))
}

// checkNames reports events naming hosts or domains the network does
// not have.
func (s Schedule) checkNames(hosts, domains map[string]bool) error {
	var errs []string
	for i, e := range s.Events {
		at := e.Pos
		if at == "" {
			at = fmt.Sprintf("events[%d]", i)
		}
		for _, h := range e.Hosts {
			if !hosts[h] {
				errs = append(errs, fmt.Sprintf("%s: events[%d].hosts: no host %s in the network", at, i, h))
			}
		}
		for _, d := range e.Domains {
			if !domains[d] {
				errs = append(errs, fmt.Sprintf("%s: events[%d].domains: no domain %s in the network", at, i, d))
			}
		}
	}
	if len(errs) > 0 {
		return scheduleErr(errs)
	}
	return nil
}
