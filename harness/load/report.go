package load

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// maxPrinted bounds the problems the terminal summary lists; the JSON and
// HTML reports list every one (with evidence for the first maxListed).
const maxPrinted = 10

// WriteSummary writes the terminal summary of r.
func WriteSummary(w io.Writer, r *Result) {
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "\nmxsim load %s: relay %s, seed %d, chaos %s (%d events)\n", verdict, r.Relay, r.Seed, r.Chaos.Name, len(r.Chaos.Events))
	sub := r.SubmitEnd.Sub(r.Start)
	fmt.Fprintf(w, "  submitted   %d of %d messages accepted in %s (%.1f/s), %d refused; %d recipients\n",
		r.Accepted, r.Planned, sub.Round(100*time.Millisecond), r.SubmitRate, r.Refused, r.Pairs)
	for i, k := range sortedKeys(r.Refusals) {
		if i == 3 {
			fmt.Fprintf(w, "              … %d more reasons\n", len(r.Refusals)-3)
			break
		}
		fmt.Fprintf(w, "              %d× %s\n", r.Refusals[k], k)
	}
	fmt.Fprintf(w, "  outcome     %d delivered once, %d bounced (5yz), %d still queued\n", r.Delivered, r.Bounced, r.Queued)
	fmt.Fprintf(w, "  check       %d lost, %d duplicated, %d bounced without a 5yz", len(r.Lost), len(r.Duplicated), len(r.WronglyBounced))
	if r.Undecided > 0 {
		fmt.Fprintf(w, ", %d undecided (no outcome, queue not listable)", r.Undecided)
	}
	fmt.Fprintln(w)
	l := r.Latency
	fmt.Fprintf(w, "  latency     submit → delivered p50 %s  p90 %s  p99 %s  max %s  (%d recipients)\n", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), l.N)
	for _, p := range r.Phases {
		fmt.Fprintf(w, "    %-40s p50 %s  p90 %s  p99 %s  max %s  (%d)\n", cut(p.Phase, 40), ms(p.Latency.P50), ms(p.Latency.P90), ms(p.Latency.P99), ms(p.Latency.Max), p.Latency.N)
	}
	fmt.Fprintf(w, "  rates       %.1f delivered/s (first submission to last delivery over %s)\n", r.DeliverRate, r.DrainEnd.Sub(r.Start).Round(100*time.Millisecond))
	att := "attempts not reported by this relay"
	if r.Attempts > 0 {
		att = fmt.Sprintf("%.2f attempts", r.AttemptsPerMsg)
	}
	fmt.Fprintf(w, "  per message %s, %.2f connections to the hosts, %s CPU (%s in all; this process only, on a machine shared with other work)\n",
		att, r.ConnsPerMsg, ms(r.CPUPerMsg), r.CPU.Round(10*time.Millisecond))
	if r.FirstAttempts > 0 {
		fmt.Fprintf(w, "  preference  %.2f%% of %d first attempts at a best-preference MX that was up\n", 100*r.PreferenceShare, r.FirstAttempts)
	}
	dropped := "none dropped"
	if r.JournalDropped > 0 {
		dropped = fmt.Sprintf("%d DROPPED: THE ACCOUNTING IS NOT TRUSTWORTHY", r.JournalDropped)
	}
	fmt.Fprintf(w, "  journal     %d events, %s\n", r.JournalEvents, dropped)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note        %s\n", n)
	}
	for _, list := range []struct {
		name string
		ps   []Problem
	}{{"lost", r.Lost}, {"duplicated", r.Duplicated}, {"bounced without a 5yz", r.WronglyBounced}} {
		if len(list.ps) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (%d):\n", list.name, len(list.ps))
		for i, p := range list.ps {
			if i == maxPrinted {
				fmt.Fprintf(w, "  … %d more (see -json or -html)\n", len(list.ps)-maxPrinted)
				break
			}
			fmt.Fprintf(w, "  %s of message %s: %s\n", p.Recipient, p.Message, p.Why)
			for _, e := range p.Evidence {
				fmt.Fprintf(w, "      %s\n", e)
			}
		}
	}
}

// ms prints a duration in milliseconds, or seconds past 10 s.
func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

func cut(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// join is strings.Join for templates.
func join(s []string, sep string) string { return strings.Join(s, sep) }
