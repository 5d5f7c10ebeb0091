// Package mtamatrix writes docs/mta-matrix.md, the conformance library
// against every MTA (`make matrix`, scripts/matrix.sh):
//
//  1. scripts/matrix.sh runs `mxsim conformance -relay R -json R.json` for
//     each relay kind the binary supports (reference, postfix, exim,
//     opensmtpd), and `-relay external` against one long-running container
//     of each MTA that has a recipe (docs/mtas/<mta>/run.sh), timing each
//     run, and lists the runs in a manifest (ReadManifest);
//  2. Build lays the reports side by side: a verdict per case and relay,
//     a scorecard and the configuration per relay, every non-pass with
//     mxsim's reason and a hand-written note in the MTA's own terms
//     (notes.md, embedded), and the external runs compared case by case
//     with the adapters';
//  3. Render writes the Markdown; the same runs give the same bytes, and
//     wall times stay in a section of their own.
//
// Problems (a non-pass without a note, an external verdict that differs
// from the adapter's, a run that failed) make the command exit non-zero,
// naming the cells.
package mtamatrix

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mxsim/mxsim/harness/report"
	"github.com/mxsim/mxsim/journal"
)

// ErrManifest is wrapped by the errors of ReadManifest.
var ErrManifest = errors.New("bad manifest")

// Mode is how mxsim drove the relay.
type Mode string

// Modes.
const (
	Adapter  Mode = "adapter"  // -relay KIND: mxsim starts and configures it per case
	External Mode = "external" // -relay external against the documented long-running container
)

// Values lists the modes.
func (Mode) Values() []Mode { return []Mode{Adapter, External} }

// Status is how a run ended.
type Status string

// Statuses.
const (
	Ran     Status = "ran"     // a report was written
	Skipped Status = "skipped" // not run: the binary does not support the kind, no Docker…
	Failed  Status = "failed"  // the run did not produce a report
)

// Values lists the statuses.
func (Status) Values() []Status { return []Status{Ran, Skipped, Failed} }

// Run is one `mxsim conformance` run.
type Run struct {
	Kind    string // relay kind: "reference", "postfix"…
	Mode    Mode
	Profile string // external runs: the recipe's profile, "" for the default (profile.yaml)
	Status  Status
	Detail  string        // why it was skipped or failed; for a run, how it was started
	Wall    time.Duration // wall time of the whole run, container included
	Results []report.Result
}

// Name is the relay as the reports name it ("postfix 3.7.11"), else the kind.
func (r *Run) Name() string {
	for _, res := range r.Results {
		if res.Relay != "" && r.Mode == Adapter {
			return res.Relay
		}
	}
	return r.Kind
}

func (r *Run) result(id string) (report.Result, bool) {
	for _, res := range r.Results {
		if res.ID == id {
			return res, true
		}
	}
	return report.Result{}, false
}

// ReadManifest reads the runs scripts/matrix.sh lists, one a line:
//
//	KIND<TAB>MODE<TAB>PROFILE<TAB>STATUS<TAB>SECONDS<TAB>JSON<TAB>DETAIL
//
// PROFILE is "-" for an adapter run and an external run's default
// profile. JSON is the report's path, relative to the manifest's
// directory; it is read for a run whose status is "ran". "-" is empty.
func ReadManifest(path string) ([]Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mtamatrix: %w", err)
	}
	defer f.Close()
	var runs []Run
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, "\t", 7)
		if len(fields) < 6 {
			return nil, fmt.Errorf("mtamatrix: %w: %s:%d: want KIND MODE PROFILE STATUS SECONDS JSON [DETAIL], tab-separated; got %q", ErrManifest, path, n, line)
		}
		r := Run{Kind: fields[0], Mode: Mode(fields[1]), Status: Status(fields[3])}
		if fields[2] != "-" {
			r.Profile = fields[2]
		}
		fields = append(fields[:2], fields[3:]...) // STATUS SECONDS JSON DETAIL from index 2
		if len(fields) == 6 {
			r.Detail = fields[5]
		}
		if !slices.Contains(Mode("").Values(), r.Mode) {
			return nil, fmt.Errorf("mtamatrix: %w: %s:%d: mode %q: want adapter or external", ErrManifest, path, n, fields[1])
		}
		if !slices.Contains(Status("").Values(), r.Status) {
			return nil, fmt.Errorf("mtamatrix: %w: %s:%d: status %q: want ran, skipped or failed", ErrManifest, path, n, fields[2])
		}
		if fields[3] != "" && fields[3] != "-" {
			s, err := strconv.ParseFloat(fields[3], 64)
			if err != nil || s < 0 {
				return nil, fmt.Errorf("mtamatrix: %w: %s:%d: seconds %q: want a number", ErrManifest, path, n, fields[3])
			}
			r.Wall = time.Duration(s * float64(time.Second))
		}
		if r.Status == Ran {
			p := fields[4]
			if !filepath.IsAbs(p) {
				p = filepath.Join(filepath.Dir(path), p)
			}
			if r.Results, err = ReadReport(p); err != nil {
				return nil, fmt.Errorf("mtamatrix: %s:%d: %w", path, n, err)
			}
		}
		runs = append(runs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mtamatrix: %s: %w", path, err)
	}
	return runs, nil
}

// ReadReport reads the results of a report that `mxsim conformance -json`
// wrote.
func ReadReport(path string) ([]report.Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Results []report.Result `json:"results"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return doc.Results, nil
}

// NeedsNote reports whether a result must be explained: every verdict but
// a pass, and an informational one that did not behave as described.
func NeedsNote(r report.Result) bool {
	switch r.Verdict {
	case report.Pass:
		return false
	case report.Informational:
		return r.Reason != "behaved as described"
	}
	return true
}

// Difference is a case whose verdict through -relay external is not the
// adapter's.
type Difference struct {
	Kind, Profile, Case     string
	Adapter, External       report.Verdict
	AdapterWhy, ExternalWhy string
}

// Doc is the matrix, ready to render.
type Doc struct {
	runs     []Run // every run, adapters first, in relay order
	adapters []*Run
	cases    []report.Result // one per case ID, for level and title
	notes    map[Key]string

	// Missing are the non-passes without a note.
	Missing []Key
	// Unused are notes for relays that ran whose cell needs none.
	Unused []Key
	// Differences between external and adapter runs of one MTA.
	Differences []Difference
	// Failed are the runs that produced no report.
	Failed []string
}

// Problems lists what must make `make matrix` fail, one line each.
func (d *Doc) Problems() []string {
	var p []string
	for _, k := range d.Missing {
		p = append(p, fmt.Sprintf("%s: %s has no note in internal/mtamatrix/notes.md (add \"## %s %s\")", k, d.verdictOf(k), k.Relay, k.Case))
	}
	for _, df := range d.Differences {
		p = append(p, fmt.Sprintf("%s %s: external (profile %s) %s, adapter %s", df.Kind, df.Case, profileName(df.Profile), df.External.Label(), df.Adapter.Label()))
	}
	for _, f := range d.Failed {
		p = append(p, "run failed: "+f)
	}
	return p
}

func (d *Doc) verdictOf(k Key) string {
	for _, a := range d.adapters {
		if a.Kind == k.Relay {
			if r, ok := a.result(k.Case); ok {
				return r.Verdict.Label()
			}
		}
	}
	return "?"
}

// kindOrder is the column order; other kinds follow, sorted.
var kindOrder = []string{"reference", "postfix", "exim", "opensmtpd"}

func kindRank(k string) int {
	if i := slices.Index(kindOrder, k); i >= 0 {
		return i
	}
	return len(kindOrder)
}

// Build lays the runs side by side and checks them against the notes.
func Build(runs []Run, notes map[Key]string) *Doc {
	d := &Doc{notes: notes}
	d.runs = slices.Clone(runs)
	slices.SortStableFunc(d.runs, func(a, b Run) int {
		if c := strings.Compare(string(a.Mode), string(b.Mode)); c != 0 {
			return c // adapter before external
		}
		if c := kindRank(a.Kind) - kindRank(b.Kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Profile, b.Profile) // the default ("") first
	})
	seen := map[string]bool{}
	ran := map[string]bool{}
	for i := range d.runs {
		r := &d.runs[i]
		if r.Status == Failed {
			d.Failed = append(d.Failed, fmt.Sprintf("%s (%s): %s", r.Kind, r.describe(), r.Detail))
		}
		if r.Status != Ran {
			continue
		}
		if r.Mode == Adapter {
			d.adapters = append(d.adapters, r)
			ran[r.Kind] = true
		}
		for _, res := range r.Results {
			if !seen[res.ID] {
				seen[res.ID] = true
				d.cases = append(d.cases, res)
			}
		}
	}
	slices.SortFunc(d.cases, func(a, b report.Result) int { return strings.Compare(a.ID, b.ID) })

	used := map[Key]bool{}
	for _, a := range d.adapters {
		for _, c := range d.cases {
			res, ok := a.result(c.ID)
			if !ok || !NeedsNote(res) {
				continue
			}
			k := Key{a.Kind, c.ID}
			if _, ok := notes[k]; ok {
				used[k] = true
			} else {
				d.Missing = append(d.Missing, k)
			}
		}
	}
	for k := range notes {
		if ran[k.Relay] && !used[k] {
			d.Unused = append(d.Unused, k)
		}
	}
	slices.SortFunc(d.Unused, func(a, b Key) int { return strings.Compare(a.String(), b.String()) })

	for i := range d.runs {
		e := &d.runs[i]
		if e.Mode != External || e.Status != Ran {
			continue
		}
		a := d.adapter(e.Kind)
		if a == nil {
			continue
		}
		for _, c := range d.cases {
			ar, aok := a.result(c.ID)
			er, eok := e.result(c.ID)
			if !aok || !eok || comparable(ar, er) != cmpDiffer {
				continue
			}
			d.Differences = append(d.Differences, Difference{Kind: e.Kind, Profile: e.Profile, Case: c.ID, Adapter: ar.Verdict,
				External: er.Verdict, AdapterWhy: ar.Reason, ExternalWhy: er.Reason})
		}
	}
	return d
}

func (d *Doc) adapter(kind string) *Run {
	for _, a := range d.adapters {
		if a.Kind == kind {
			return a
		}
	}
	return nil
}

type cmp int

const (
	cmpSame       cmp = iota
	cmpDiffer         // a difference: the check fails
	cmpNotCovered     // the external run's profile does not cover the case
)

// comparable compares an adapter's verdict with the external run's. An
// external relay is configured once: a case its profile does not cover is
// not applicable there, while the adapter reconfigures the MTA for it.
// A case the adapter cannot configure (not applicable there) has nothing
// to be compared with either.
func comparable(a, e report.Result) cmp {
	switch {
	case e.Verdict == report.NotApplicable || a.Verdict == report.NotApplicable:
		return cmpNotCovered
	case a.Verdict == e.Verdict:
		return cmpSame
	}
	return cmpDiffer
}

// coverage names the cases a profile compared, or those it did not,
// whichever list is shorter.
func coverage(compared, uncovered []string) string {
	switch {
	case len(uncovered) == 0:
		return "all"
	case len(compared) == 0:
		return "none"
	case len(compared) < len(uncovered):
		return "only " + strings.Join(compared, ", ")
	}
	return "all but " + strings.Join(uncovered, ", ")
}

func profileFile(p string) string {
	if p == "" {
		return "profile.yaml"
	}
	return "profile-" + p + ".yaml"
}

func profileName(p string) string {
	if p == "" {
		return "default"
	}
	return p
}

// describe is the mode, with an external run's profile.
func (r *Run) describe() string {
	if r.Mode == External {
		return "external, profile " + profileName(r.Profile)
	}
	return string(r.Mode)
}

// Configured returns the configuration an adapter logged for its cases
// (the relay.log event "... configured: a=1, b=2"): the items most cases
// share, and per case the items it has beyond them (a setting its
// `relay:` section adds or changes). ok is false when no case logged one.
func Configured(results []report.Result) (common []string, extra map[string][]string, ok bool) {
	per := map[string][]string{}
	var ids []string
	count := map[string]int{}
	var order []string
	for _, r := range results {
		for _, e := range r.Events {
			if e.Kind != journal.KindRelayLog {
				continue
			}
			_, cfg, found := strings.Cut(e.Text, " configured: ")
			if !found {
				continue
			}
			items := strings.Split(cfg, ", ")
			per[r.ID] = items
			ids = append(ids, r.ID)
			for _, it := range items {
				if count[it] == 0 {
					order = append(order, it)
				}
				count[it]++
			}
			break
		}
	}
	if len(ids) == 0 {
		return nil, nil, false
	}
	for _, it := range order {
		if 2*count[it] > len(ids) {
			common = append(common, it)
		}
	}
	slices.Sort(common)
	extra = map[string][]string{}
	for _, id := range ids {
		for _, it := range per[id] {
			if !slices.Contains(common, it) {
				extra[id] = append(extra[id], it)
			}
		}
	}
	return common, extra, true
}

// documented says where a relay kind's configuration is described when
// its reports do not carry it.
var documented = map[string]string{
	"reference": "[conformance.md](conformance.md#the-relay-profile): the reference relay is configured from each case's `relay:` section",
	"postfix":   "[postfix.md](postfix.md#settings)",
	"exim":      "[exim.md](exim.md)",
	"opensmtpd": "[opensmtpd.md](opensmtpd.md)",
}

func anchor(k Key) string { return strings.ToLower(k.Relay + "-" + k.Case) }

func label(v report.Verdict) string {
	if v == report.NotApplicable {
		return "N/A"
	}
	return v.Label()
}

// volatile are the parts of a reason that change from run to run of the
// same relay: process IDs and queue IDs in quoted log lines, delays, the
// random /24 of an adapter's network, ephemeral ports.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b([a-z][a-z0-9/_.-]*)\[\d+\]:`), "$1[…]:"},               // postfix/smtp[2871]:
	{regexp.MustCompile(`\b[0-9A-F]{8,12}:`), "…:"},                                // Postfix queue ID
	{regexp.MustCompile(`\b(delays?)=[0-9./]+`), "$1=…"},                           // delay=0.09, delays=0.02/0.07/0/0
	{regexp.MustCompile(`\b127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\b`), "127.x.y.$3"}, // the network's /24
	{regexp.MustCompile(`(127\.x\.y\.\d{1,3}|127\.0\.0\.1|\]):\d{4,5}\b`), "$1:…"}, // ephemeral ports
}

// Stable returns reason without the parts that change from run to run
// (volatile), so that the same verdicts give the same document.
// 127.0.0.x (where the harness submits from) is kept.
func Stable(reason string) string {
	for _, v := range volatile {
		reason = v.re.ReplaceAllStringFunc(reason, func(m string) string {
			if strings.HasPrefix(m, "127.0.0.") && !strings.Contains(m, ":") {
				return m // the harness's own address, not the network's /24
			}
			return v.re.ReplaceAllString(m, v.with)
		})
	}
	return reason
}

// oneLine keeps a reason on one table-safe line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// Render writes the Markdown document. Output depends only on the runs
// and the notes; wall times are in their own section at the end.
func (d *Doc) Render(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# The conformance library against every MTA\n\n")
	p("<!-- Generated by `make matrix` (scripts/matrix.sh, internal/mtamatrix). Do not edit: change the notes in internal/mtamatrix/notes.md and run it again. -->\n\n")
	p("Each relay ran `mxsim conformance -relay KIND -json KIND.json` with the default profile: the reference relay and the adapters configure the relay from each case's `relay:` section. ")
	p("Every verdict that is not a pass is explained below in the MTA's own terms: mxsim's reason, then what the MTA did and the setting that changes it. ")
	p("How mxsim drives each MTA, and the minimal configuration per profile: [mtas.md](mtas.md).\n\n")
	for _, r := range d.runs {
		if r.Status == Skipped {
			p("- Not run: %s (%s): %s\n", r.Kind, r.describe(), r.Detail)
		}
		if r.Status == Failed {
			p("- **Failed:** %s (%s): %s\n", r.Kind, r.describe(), r.Detail)
		}
	}
	p("\n## Verdicts\n\n")
	p("| case | level | title |")
	for _, a := range d.adapters {
		p(" %s |", a.Name())
	}
	p("\n|---|---|---|%s\n", strings.Repeat("---|", len(d.adapters)))
	for _, c := range d.cases {
		p("| %s | %s | %s |", c.ID, c.Level, oneLine(c.Name))
		for _, a := range d.adapters {
			res, ok := a.result(c.ID)
			switch {
			case !ok:
				p(" — |")
			case NeedsNote(res):
				p(" [%s](#%s) |", label(res.Verdict), anchor(Key{a.Kind, c.ID}))
			default:
				p(" %s |", label(res.Verdict))
			}
		}
		p("\n")
	}
	p("\nPASS: the relay did what the case requires; FAIL: a MUST not met; NON-STRICT: a SHOULD not met; INFO: observed, no requirement; N/A: the case does not apply to this relay; ERROR: the case could not run. See [conformance.md](conformance.md#verdicts-and-exit-status).\n")

	p("\n## Scorecards\n\n| relay | pass | fail | non-strict | info | n/a | error | total |\n|---|---|---|---|---|---|---|---|\n")
	for _, a := range d.adapters {
		t := report.Count(a.Results)
		p("| %s | %d | %d | %d | %d | %d | %d | %d |\n", a.Name(), t.Passed, t.Failed, t.NonStrict, t.Informational, t.NotApplicable, t.Errors, t.Total)
	}

	for _, a := range d.adapters {
		p("\n## %s\n\n### Configuration\n\n", a.Name())
		if common, extra, ok := Configured(a.Results); ok {
			p("As the adapter logged it (`configured:`), for every case:\n\n```\n%s\n```\n", strings.Join(common, "\n"))
			if len(extra) > 0 {
				p("\nCases whose `relay:` section adds or changes settings:\n\n")
				for _, id := range slices.Sorted(maps.Keys(extra)) {
					p("- %s: `%s`\n", id, strings.Join(extra[id], "`, `"))
				}
			}
		} else if doc, ok := documented[a.Kind]; ok {
			p("Documented in %s.\n", doc)
		} else {
			p("Not recorded in the report.\n")
		}
		var non []report.Result
		for _, c := range d.cases {
			if res, ok := a.result(c.ID); ok && NeedsNote(res) {
				non = append(non, res)
			}
		}
		if len(non) == 0 {
			p("\nEvery case passed (or, for INFO cases, behaved as described).\n")
			continue
		}
		p("\n### Not passed\n")
		for _, res := range non {
			k := Key{a.Kind, res.ID}
			p("\n<a id=\"%s\"></a>\n#### %s %s: %s\n\n", anchor(k), res.ID, label(res.Verdict), oneLine(res.Name))
			why := res.Reason
			if why == "" && len(res.Failures) > 0 {
				why = res.Failures[0].Actual
			}
			p("- mxsim: %s\n", oneLine(Stable(why)))
			if note, ok := d.notes[k]; ok {
				p("- %s: %s\n", a.Name(), strings.ReplaceAll(note, "\n", "\n  "))
			} else {
				p("- **no note yet** (internal/mtamatrix/notes.md, `## %s %s`)\n", k.Relay, k.Case)
			}
		}
	}

	var externals []*Run
	for i := range d.runs {
		if d.runs[i].Mode == External {
			externals = append(externals, &d.runs[i])
		}
	}
	if len(externals) > 0 {
		p("\n## External relay against the adapter\n\n")
		p("The same library through `-relay external` against one long-running container of each MTA, configured once as its recipe in [mtas/](mtas/) says (`run.sh` and the configuration next to it), ")
		p("one container per profile, reset between cases (`-reset-cmd`). A case a profile does not cover is not applicable in that run, and a case the adapter cannot configure is not applicable in the adapter's: neither is compared. Every other verdict must be the adapter's.\n\n")
		p("| MTA | profile | compared | identical | different | cases |\n|---|---|---|---|---|---|\n")
		covered := map[string]map[string]bool{} // kind → cases some profile compared
		for _, e := range externals {
			prof := fmt.Sprintf("[%s](mtas/%s/%s)", profileName(e.Profile), e.Kind, profileFile(e.Profile))
			if e.Status != Ran {
				p("| %s | %s | — | — | — | — (%s: %s) |\n", e.Kind, prof, e.Status, oneLine(e.Detail))
				continue
			}
			a := d.adapter(e.Kind)
			if a == nil {
				p("| %s | %s | — | — | — | — (no adapter run to compare with) |\n", e.Kind, prof)
				continue
			}
			if covered[e.Kind] == nil {
				covered[e.Kind] = map[string]bool{}
			}
			var same, diff int
			var compared, uncovered []string
			for _, c := range d.cases {
				ar, aok := a.result(c.ID)
				er, eok := e.result(c.ID)
				if !aok || !eok {
					continue
				}
				switch comparable(ar, er) {
				case cmpSame:
					same++
					covered[e.Kind][c.ID] = true
					compared = append(compared, c.ID)
				case cmpDiffer:
					diff++
					covered[e.Kind][c.ID] = true
					compared = append(compared, c.ID)
				case cmpNotCovered:
					uncovered = append(uncovered, c.ID)
				}
			}
			p("| %s | %s | %d | %d | %d | %s |\n", e.Kind, prof, same+diff, same, diff, coverage(compared, uncovered))
		}
		for _, kind := range slices.SortedFunc(maps.Keys(covered), func(a, b string) int {
			if c := kindRank(a) - kindRank(b); c != 0 {
				return c
			}
			return strings.Compare(a, b)
		}) {
			var none []string
			for _, c := range d.cases {
				if _, ran := d.adapter(kind).result(c.ID); ran && !covered[kind][c.ID] {
					none = append(none, c.ID)
				}
			}
			if len(none) > 0 {
				p("\n%s: not compared in any profile: %s.\n", kind, strings.Join(none, ", "))
			} else {
				p("\n%s: every case compared in some profile.\n", kind)
			}
		}
		if len(d.Differences) == 0 {
			p("\nNo differences.\n")
		} else {
			p("\n**Differences** (each fails `make matrix`):\n\n| MTA | profile | case | adapter | external |\n|---|---|---|---|---|\n")
			for _, df := range d.Differences {
				p("| %s | %s | %s | %s: %s | %s: %s |\n", df.Kind, profileName(df.Profile), df.Case, label(df.Adapter), oneLine(Stable(df.AdapterWhy)), label(df.External), oneLine(Stable(df.ExternalWhy)))
			}
		}
	}

	p("\n## Wall time\n\nMeasured on the machine that ran `make matrix`; it varies from run to run (the rest of this document does not). An adapter run includes starting and removing its container; an external run is the conformance run against a container already started.\n\n")
	p("| relay | mode | cases | wall time |\n|---|---|---|---|\n")
	for _, r := range d.runs {
		if r.Status != Ran {
			continue
		}
		p("| %s | %s | %d | %.1f s |\n", r.Name(), r.describe(), len(r.Results), r.Wall.Seconds())
	}
	_, err := io.WriteString(w, b.String())
	return err
}
