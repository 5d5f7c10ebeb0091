package main

import (
	"errors"
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mxsim/mxsim/scenarios"
)

// selectFlags choose which scenarios (or conformance cases) a run takes:
// -run and -tags filter, then -shard takes this machine's share.
type selectFlags struct {
	run   *regexp.Regexp // -run; nil: every scenario
	tags  listFlag       // -tags; empty: every scenario
	shard shardFlag      // -shard; zero: the whole suite
}

func (f *selectFlags) register(fs *flag.FlagSet, what string) {
	fs.Func("run", "run only the "+what+" whose name (or conformance ID or title) matches the regular expression `REGEX`", func(s string) error {
		re, err := regexp.Compile(s)
		if err != nil {
			return fmt.Errorf("want a regular expression: %v", err)
		}
		f.run = re
		return nil
	})
	tags := "run only the " + what + " with one of these tags (`LIST`, comma-separated or repeated)"
	if what == "cases" {
		tags = "run only the cases with one of these tags (`LIST`, comma-separated or repeated): a case's area and level (mx, retry, tls, must, should…) are tags"
	}
	fs.Var(&f.tags, "tags", tags)
	fs.Var(&f.shard, "shard", "run only share `K/N` of the "+what+" (after -run and -tags): sorted by file (conformance: by ID), every N-th from the K-th; N machines with 1/N … N/N cover the suite once")
}

// filtered reports whether -run or -tags is given.
func (f *selectFlags) filtered() bool { return f.run != nil || len(f.tags) > 0 }

// describe names the filters given, for "nothing matches".
func (f *selectFlags) describe() string {
	var parts []string
	if f.run != nil {
		parts = append(parts, fmt.Sprintf("-run %q", f.run.String()))
	}
	if len(f.tags) > 0 {
		parts = append(parts, fmt.Sprintf("-tags %q", strings.Join(f.tags, ",")))
	}
	return strings.Join(parts, " and ")
}

// match reports whether sc passes -run and -tags.
func (f *selectFlags) match(sc *scenarios.Scenario) bool {
	if f.run != nil {
		names := []string{sc.Name}
		if c := sc.Conformance; c != nil {
			names = append(names, c.ID, c.Title)
		}
		if !slices.ContainsFunc(names, f.run.MatchString) {
			return false
		}
	}
	if len(f.tags) > 0 {
		have := slices.Clone(sc.Tags)
		if c := sc.Conformance; c != nil {
			area, _, _ := strings.Cut(c.ID, "-")
			have = append(have, area, string(c.Level))
		}
		return slices.ContainsFunc(f.tags, func(want string) bool {
			return slices.ContainsFunc(have, func(t string) bool { return strings.EqualFold(t, want) })
		})
	}
	return true
}

// filter returns the scenarios that pass -run and -tags, in their order.
func (f *selectFlags) filter(scs []*scenarios.Scenario) []*scenarios.Scenario {
	var out []*scenarios.Scenario
	for _, sc := range scs {
		if f.match(sc) {
			out = append(out, sc)
		}
	}
	return out
}

// shardFlag is -shard K/N; the zero value is the whole suite.
type shardFlag struct{ k, n int }

var errShard = errors.New("want K/N with 1 ≤ K ≤ N, such as 1/2")

func (s *shardFlag) String() string {
	if s == nil || s.n == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.k, s.n)
}

func (s *shardFlag) Set(v string) error {
	ks, ns, ok := strings.Cut(strings.TrimSpace(v), "/")
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || k < 1 || n < 1 || k > n {
		return errShard
	}
	s.k, s.n = k, n
	return nil
}

var _ flag.Value = (*shardFlag)(nil)

// take returns the indexes of the items of this shard, in the items'
// order: the items are ranked by key (ties by position), and the one of
// rank r belongs to shard r mod N + 1. Every shard of 1/N … N/N applied
// to the same items takes each exactly once. The zero shardFlag takes
// every item.
func (s shardFlag) take(keys []string) []int {
	idx := make([]int, len(keys))
	for i := range idx {
		idx[i] = i
	}
	if s.n <= 1 {
		return idx
	}
	ranked := slices.Clone(idx)
	slices.SortStableFunc(ranked, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	var out []int
	for r, i := range ranked {
		if r%s.n == s.k-1 {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}
