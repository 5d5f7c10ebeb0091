package load

import (
	"fmt"
	"html/template"
	"io"
	"time"
)

// WriteHTML writes r as one self-contained HTML page: the verdict, the
// figures, three inline SVG charts (deliveries over time with the chaos
// events shaded, the latency histogram, connections per host) and every
// problem with its evidence. Styles follow the scenario report's.
func WriteHTML(w io.Writer, r *Result) error {
	return htmlPage.Execute(w, pageData(r))
}

type rect struct {
	X, Y, W, H float64
	Title      string
	Class      string
}

type label struct {
	X, Y float64
	Text string
	Anc  string
}

type chart struct {
	W, H   float64
	Rects  []rect
	Labels []label
	Lines  []rect // vertical markers (W unused)
}

type page struct {
	R        *Result
	OK       bool
	Timeline chart
	Hist     chart
	Hosts    chart
	Lists    []problemList
	Sub      string
	Total    string
}

type problemList struct {
	Name string
	Ps   []Problem
}

const (
	chartW  = 960.0
	chartH  = 220.0
	padL    = 50.0
	padB    = 28.0
	padT    = 30.0
	barGap  = 1.0
	hostRow = 18.0
)

func pageData(r *Result) page {
	p := page{R: r, OK: r.OK(), Sub: r.SubmitEnd.Sub(r.Start).Round(100 * time.Millisecond).String(),
		Total: r.DrainEnd.Sub(r.Start).Round(100 * time.Millisecond).String()}
	p.Timeline = timelineChart(r)
	p.Hist = histChart(r)
	p.Hosts = hostChart(r)
	p.Lists = []problemList{{"Lost", r.Lost}, {"Duplicated", r.Duplicated}, {"Bounced without a 5yz", r.WronglyBounced}}
	return p
}

func maxCount(bins []Bin) int {
	m := 1
	for _, b := range bins {
		m = max(m, b.Count)
	}
	return m
}

// timelineChart: deliveries per bin, the chaos events shaded behind.
func timelineChart(r *Result) chart {
	c := chart{W: chartW, H: chartH}
	bins := r.Timeline
	if len(bins) == 0 {
		return c
	}
	width := time.Second
	if len(bins) > 1 {
		width = bins[1].At - bins[0].At
	}
	span := max(time.Duration(len(bins))*width, r.Chaos.end())
	// Room above the plot for four lanes of event labels.
	const top0 = 4*12 + 8
	c.H = chartH + top0 - padT
	plotW, plotH := chartW-padL-10, chartH-padT-padB
	padT := float64(top0)
	x := func(d time.Duration) float64 { return padL + plotW*float64(d)/float64(span) }
	for i, e := range r.Chaos.Events {
		lane := float64(i % 4)
		c.Rects = append(c.Rects, rect{X: x(e.At), Y: padT, W: max(1, x(e.End())-x(e.At)), H: plotH,
			Title: fmt.Sprintf("+%s for %s: %s", e.At.Round(100*time.Millisecond), e.For.Round(100*time.Millisecond), e.Label()), Class: "chaos"})
		c.Labels = append(c.Labels, label{X: x(e.At) + 2, Y: 12 + lane*12, Text: cut(e.Label(), 28), Anc: "start"})
	}
	most := maxCount(bins)
	bw := max(1, plotW*float64(width)/float64(span)-barGap)
	for _, b := range bins {
		h := plotH * float64(b.Count) / float64(most)
		c.Rects = append(c.Rects, rect{X: x(b.At), Y: padT + plotH - h, W: bw, H: h,
			Title: fmt.Sprintf("+%s: %d delivered", b.At, b.Count), Class: "bar"})
	}
	c.Lines = append(c.Lines, rect{X: x(r.SubmitEnd.Sub(r.Start)), Y: padT, H: padT + plotH, Title: "submission ends", Class: "mark"})
	c.Labels = append(c.Labels, label{X: padL - 4, Y: padT + 4, Text: fmt.Sprint(most), Anc: "end"},
		label{X: padL - 4, Y: padT + plotH, Text: "0", Anc: "end"},
		label{X: padL, Y: c.H - 8, Text: "0s", Anc: "start"},
		label{X: padL + plotW, Y: c.H - 8, Text: span.Round(time.Second).String(), Anc: "end"})
	return c
}

// end is when the last event ends.
func (s Schedule) end() time.Duration {
	var d time.Duration
	for _, e := range s.Events {
		d = max(d, e.End())
	}
	return d
}

func histChart(r *Result) chart {
	c := chart{W: chartW, H: chartH}
	bins := r.Histogram
	if len(bins) == 0 {
		return c
	}
	plotW, plotH := chartW-padL-10, chartH-padT-padB
	bw := plotW / float64(len(bins))
	top := maxCount(bins)
	width := time.Millisecond
	if len(bins) > 1 {
		width = bins[1].At - bins[0].At
	}
	for i, b := range bins {
		h := plotH * float64(b.Count) / float64(top)
		c.Rects = append(c.Rects, rect{X: padL + float64(i)*bw, Y: padT + plotH - h, W: max(1, bw-barGap), H: h,
			Title: fmt.Sprintf("%s – %s: %d", ms(b.At), ms(b.At+width), b.Count), Class: "bar"})
	}
	c.Labels = append(c.Labels, label{X: padL - 4, Y: padT + 4, Text: fmt.Sprint(top), Anc: "end"},
		label{X: padL - 4, Y: padT + plotH, Text: "0", Anc: "end"},
		label{X: padL, Y: chartH - 8, Text: "0", Anc: "start"},
		label{X: padL + plotW, Y: chartH - 8, Text: ms(bins[len(bins)-1].At + width), Anc: "end"})
	return c
}

func hostChart(r *Result) chart {
	n := len(r.PerHost)
	c := chart{W: chartW, H: padT + float64(n)*hostRow + 10}
	top := 1
	for _, h := range r.PerHost {
		top = max(top, h.Conns+h.Refused)
	}
	left, plotW := 190.0, chartW-190-120
	for i, h := range r.PerHost {
		y := padT + float64(i)*hostRow
		wc := plotW * float64(h.Conns) / float64(top)
		wr := plotW * float64(h.Refused) / float64(top)
		c.Labels = append(c.Labels, label{X: left - 6, Y: y + 12, Text: h.Host, Anc: "end"},
			label{X: left + wc + wr + 6, Y: y + 12, Text: fmt.Sprintf("%d conns, %d refused, %d messages", h.Conns, h.Refused, h.Messages), Anc: "start"})
		c.Rects = append(c.Rects, rect{X: left, Y: y + 2, W: wc, H: hostRow - 4, Title: fmt.Sprintf("%s: %d connections", h.Host, h.Conns), Class: "bar"},
			rect{X: left + wc, Y: y + 2, W: wr, H: hostRow - 4, Title: fmt.Sprintf("%s: %d refused", h.Host, h.Refused), Class: "refused"})
	}
	return c
}

var htmlPage = template.Must(template.New("load").Funcs(template.FuncMap{"ms": ms, "pct": func(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) },
	"f2": func(f float64) string { return fmt.Sprintf("%.2f", f) }, "f1": func(f float64) string { return fmt.Sprintf("%.1f", f) }}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mxsim">
<title>mxsim load: {{.R.Relay}}</title>
<style>
:root{--pass:#1a7f37;--fail:#cf222e;--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--soft:#f6f8fa;--informational:#0969da;
--sans:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif;
--mono:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 var(--sans);color:var(--fg);background:#fff}
main{max-width:1020px;margin:0 auto;padding:0 24px 48px}
code,pre{font-family:var(--mono);font-size:12.5px}
h1{font-size:26px;margin:0 0 6px}h2{font-size:18px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}
.top{background:var(--soft);border-bottom:1px solid var(--line);padding:22px 24px 16px}
.top>*{max-width:972px;margin-left:auto;margin-right:auto}
.meta{color:var(--muted);display:flex;flex-wrap:wrap;gap:4px 18px}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin-top:12px}
.chip{border:1px solid var(--line);border-left:6px solid var(--c);border-radius:6px;padding:4px 12px;background:#fff}
.chip b{font-size:18px;color:var(--c)}
.pass{--c:var(--pass)}.fail{--c:var(--fail)}.info{--c:var(--informational)}
.badge{display:inline-block;padding:3px 12px;border-radius:12px;background:var(--c);color:#fff;font-size:13px;font-weight:600}
table{border-collapse:collapse;width:100%}
th{text-align:left;font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em;border-bottom:2px solid var(--line);padding:6px 8px}
td{border-bottom:1px solid #eaeef2;padding:6px 8px;vertical-align:top}
.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.muted{color:var(--muted)}
svg{display:block;max-width:100%;height:auto;font:11px var(--sans)}
svg .bar{fill:#0969da}svg .refused{fill:#cf222e}svg .chaos{fill:#cf222e;opacity:.10}svg .mark{stroke:#656d76;stroke-dasharray:4 3}
svg text{fill:#444}
.problem{border-left:4px solid var(--fail);background:var(--soft);padding:8px 12px;margin:10px 0;border-radius:0 6px 6px 0}
.problem pre{margin:6px 0 0;white-space:pre-wrap}
.note{border-left:4px solid var(--informational);background:var(--soft);padding:6px 12px;margin:8px 0}
</style>
</head>
<body>
<div class="top">
<h1>mxsim load <span class="badge {{if .OK}}pass{{else}}fail{{end}}">{{if .OK}}PASS{{else}}FAIL{{end}}</span></h1>
<div class="meta"><span>relay <b>{{.R.Relay}}</b></span><span>seed {{.R.Seed}}</span><span>chaos {{.R.Chaos.Name}} ({{len .R.Chaos.Events}} events)</span><span>submission {{.Sub}}, run {{.Total}}</span><span>{{.R.Start.Format "2006-01-02 15:04:05 MST"}}</span></div>
<div class="chips">
<span class="chip info"><b>{{.R.Accepted}}</b> accepted of {{.R.Planned}}</span>
<span class="chip pass"><b>{{.R.Delivered}}</b> delivered once</span>
<span class="chip info"><b>{{.R.Bounced}}</b> bounced (5yz)</span>
<span class="chip info"><b>{{.R.Queued}}</b> queued</span>
<span class="chip {{if .R.Lost}}fail{{else}}pass{{end}}"><b>{{len .R.Lost}}</b> lost</span>
<span class="chip {{if .R.Duplicated}}fail{{else}}pass{{end}}"><b>{{len .R.Duplicated}}</b> duplicated</span>
<span class="chip {{if .R.WronglyBounced}}fail{{else}}pass{{end}}"><b>{{len .R.WronglyBounced}}</b> bounced without a 5yz</span>
</div>
</div>
<main>
{{range .R.Notes}}<div class="note">{{.}}</div>{{end}}
<h2>Figures</h2>
<table>
<tr><td>submitted</td><td class="num">{{f1 .R.SubmitRate}}/s</td><td class="muted">{{.R.Accepted}} accepted, {{.R.Refused}} refused, {{.R.Pairs}} recipients, {{.R.ClientConns}} client connections</td></tr>
<tr><td>delivered</td><td class="num">{{f1 .R.DeliverRate}}/s</td><td class="muted">recipients, from the first submission to the last delivery</td></tr>
<tr><td>latency p50 / p90 / p99 / max</td><td class="num">{{ms .R.Latency.P50}} / {{ms .R.Latency.P90}} / {{ms .R.Latency.P99}} / {{ms .R.Latency.Max}}</td><td class="muted">submit (MAIL FROM) → accepted at a host, {{.R.Latency.N}} recipients</td></tr>
<tr><td>attempts per message</td><td class="num">{{if .R.Attempts}}{{f2 .R.AttemptsPerMsg}}{{else}}—{{end}}</td><td class="muted">{{if .R.Attempts}}{{.R.Attempts}} relay.attempt events{{else}}the relay does not report its attempts{{end}}</td></tr>
<tr><td>connections per message</td><td class="num">{{f2 .R.ConnsPerMsg}}</td><td class="muted">{{.R.HostConns}} connections to the hosts, accepted and refused</td></tr>
<tr><td>CPU per message</td><td class="num">{{ms .R.CPUPerMsg}}</td><td class="muted">this process only ({{.R.CPU}} in all): the network, and the reference relay when it runs in process; the machine was shared</td></tr>
<tr><td>MX preference</td><td class="num">{{if .R.FirstAttempts}}{{pct .R.PreferenceShare}}{{else}}—{{end}}</td><td class="muted">of {{.R.FirstAttempts}} first attempts per message and domain, made while a best-preference host was up, at such a host</td></tr>
<tr><td>journal</td><td class="num">{{.R.JournalEvents}}</td><td class="muted">events; {{if .R.JournalDropped}}<b>{{.R.JournalDropped}} dropped: the accounting is not trustworthy</b>{{else}}none dropped{{end}}</td></tr>
</table>
<h2>Deliveries over time</h2>
<p class="muted">Recipients delivered per interval; the chaos events shaded behind (hover for each), the dashed line where submission ends.</p>
{{template "chart" .Timeline}}
<h2>Latency by chaos phase</h2>
<table><tr><th>phase at submission</th><th class="num">recipients</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">max</th></tr>
{{range .R.Phases}}<tr><td>{{.Phase}}</td><td class="num">{{.Latency.N}}</td><td class="num">{{ms .Latency.P50}}</td><td class="num">{{ms .Latency.P90}}</td><td class="num">{{ms .Latency.P99}}</td><td class="num">{{ms .Latency.Max}}</td></tr>
{{end}}</table>
<h2>Latency histogram</h2>
{{template "chart" .Hist}}
<h2>Connections per host</h2>
<p class="muted">Connections the host accepted (blue) and refused (red: down, or a limit), and the messages it took.</p>
{{template "chart" .Hosts}}
<h2>Chaos schedule</h2>
<table><tr><th class="num">at</th><th class="num">for</th><th>event</th></tr>
{{range .R.Chaos.Events}}<tr><td class="num">{{.At}}</td><td class="num">{{.For}}</td><td>{{.Label}}</td></tr>
{{else}}<tr><td colspan="3" class="muted">none</td></tr>{{end}}</table>
{{range .Lists}}{{if .Ps}}<h2>{{.Name}} ({{len .Ps}})</h2>
{{range .Ps}}<div class="problem"><b>{{.Recipient}}</b> <span class="muted">of message {{.Message}}</span>: {{.Why}}{{if .Evidence}}<pre>{{range .Evidence}}{{.}}
{{end}}</pre>{{end}}</div>
{{end}}{{end}}{{end}}
</main>
</body>
</html>
{{define "chart"}}<svg viewBox="0 0 {{.W}} {{.H}}" width="{{.W}}" height="{{.H}}" role="img">
{{range .Rects}}<rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Lines}}<line class="{{.Class}}" x1="{{.X}}" x2="{{.X}}" y1="{{.Y}}" y2="{{.H}}"><title>{{.Title}}</title></line>
{{end}}{{range .Labels}}<text x="{{.X}}" y="{{.Y}}" text-anchor="{{.Anc}}">{{.Text}}</text>
{{end}}</svg>{{end}}
`))
