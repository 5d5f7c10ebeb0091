package report

// pageTemplate is the HTML report. It is one self-contained file: styles
// and the few lines of script are inline, nothing is fetched. The sequence
// diagrams are inline SVG laid out in Go (diagram.go); html/template
// escapes every piece of text, in the SVG too.
const pageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="mxsim">
<title>{{.Title}}</title>
<style>
:root{--pass:#1a7f37;--fail:#cf222e;--error:#82071e;--non-strict:#b35c00;--informational:#0969da;--not-applicable:#6e7781;
--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--soft:#f6f8fa;
--sans:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif;
--mono:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace}
*{box-sizing:border-box}
html{scroll-behavior:smooth}
body{margin:0;font:14px/1.5 var(--sans);color:var(--fg);background:#fff}
main{max-width:1320px;margin:0 auto;padding:0 24px 48px}
code,pre{font-family:var(--mono);font-size:12.5px}
a{color:var(--informational);text-decoration:none}a:hover{text-decoration:underline}
h1{font-size:26px;margin:0 0 6px}h2{font-size:20px;margin:0}h3{font-size:15px;margin:26px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h4{font-size:14px;margin:0 0 8px}
.top{background:var(--soft);border-bottom:1px solid var(--line);padding:22px 24px 16px}
.top>*{max-width:1272px;margin-left:auto;margin-right:auto}
.meta{color:var(--muted);display:flex;flex-wrap:wrap;gap:4px 18px}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin-top:12px}
.chip{border:1px solid var(--line);border-left:6px solid var(--c);border-radius:6px;padding:4px 12px;background:#fff}
.chip b{font-size:18px;color:var(--c)}
.pass{--c:var(--pass)}.fail{--c:var(--fail)}.error{--c:var(--error)}.non-strict{--c:var(--non-strict)}.informational{--c:var(--informational)}.not-applicable{--c:var(--not-applicable)}
.badge{display:inline-block;min-width:54px;text-align:center;padding:1px 8px;border-radius:12px;background:var(--c);color:#fff;font-size:11.5px;font-weight:600;letter-spacing:.03em;white-space:nowrap}
.badge.big{font-size:13px;padding:3px 12px}
.id{font-family:var(--mono);font-weight:600}
.level{font-size:11px;font-weight:600;border:1px solid currentColor;border-radius:4px;padding:0 4px;color:var(--muted)}
.tag{display:inline-block;background:#eef1f4;border-radius:10px;padding:0 8px;margin:1px 4px 1px 0;font-size:12px;color:#444}
.muted{color:var(--muted)}
.clause{color:var(--muted);font-size:12px;white-space:nowrap}
.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;width:100%}
th{text-align:left;font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em;border-bottom:2px solid var(--line);padding:6px 8px}
td{border-bottom:1px solid #eaeef2;padding:6px 8px;vertical-align:top}
.results td.why{color:#444;max-width:560px}
.results tbody tr:hover{background:var(--soft)}
.ovhead{display:flex;align-items:baseline;justify-content:space-between;margin:26px 0 8px}
.filter{color:var(--muted);font-size:13px;cursor:pointer}
body:has(#only-problems:checked) tr.okrow,body:has(#only-problems:checked) section.scenario.okrow{display:none}
.scenario{margin-top:14px;border:1px solid var(--line);border-left:5px solid var(--c);border-radius:8px;padding:10px 22px}
details.case{margin:0}
details.case>summary{display:flex;align-items:center;gap:12px;color:var(--fg);font-weight:400;list-style:none}
details.case>summary::-webkit-details-marker{display:none}
details.case>summary::before{content:"▸";color:var(--muted);width:1em}details.case[open]>summary::before{content:"▾"}
.shead h2{flex:1}.sdur{color:var(--muted);font-size:12px;font-variant-numeric:tabular-nums}
.up{font-size:12px;color:var(--muted);text-align:right;margin:12px 0 0}
.desc{margin:8px 0 4px;font-size:15px}
.facts{display:flex;flex-wrap:wrap;gap:6px 28px;margin:10px 0}
.facts dt{font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}.facts dd{margin:0}
.reason{border-left:4px solid var(--c);background:var(--soft);padding:8px 12px;margin:12px 0;border-radius:0 6px 6px 0}
.note{border-left:4px solid #999;padding:6px 12px;margin:8px 0;color:#444}
.failure{border:1px solid #f1c0c0;border-radius:8px;margin:10px 0;overflow:hidden}
.fhead{background:#fff5f5;padding:7px 12px;border-bottom:1px solid #f1c0c0;display:flex;flex-wrap:wrap;gap:4px 12px;align-items:baseline}
.fhead .n{color:var(--fail);font-weight:700}
.pos{background:#fff;border:1px solid #f1c0c0;border-radius:4px;padding:0 6px}
.step{font-family:var(--mono);font-size:12.5px}
.ea{display:grid;grid-template-columns:1fr 1fr}
.ea>div{padding:8px 12px;min-width:0}.ea .act{border-left:1px solid #f1c0c0;background:#fffafa}
.lbl{font-size:11px;text-transform:uppercase;letter-spacing:.05em;font-weight:700;color:var(--pass)}.act .lbl{color:var(--fail)}
.ea pre{margin:4px 0 0;white-space:pre-wrap;word-break:break-word}
.diagram{overflow-x:auto;max-height:85vh;border:1px solid var(--line);border-radius:8px;background:#fcfcfd}
.seqgrid{display:grid;width:max-content}.seqgrid>svg{grid-area:1/1}
.seq{display:block}
.seqhead{display:block;position:sticky;top:0;z-index:2;align-self:start;background:#fcfcfd;box-shadow:0 1px 0 var(--line)}
.seqgut{display:block;position:sticky;left:0;z-index:1;justify-self:start;background:#fcfcfd;box-shadow:1px 0 0 var(--line)}
:is(.seq,.seqhead,.seqgut) text{font:11px var(--mono);fill:var(--fg)}
.seq .life{stroke:#b6bfc9;stroke-dasharray:4 4}
:is(.seq,.seqhead) .lane rect{fill:#fff;stroke:#8c959f;stroke-width:1.2}
:is(.seq,.seqhead) .lane.actor rect{fill:#eef4ff;stroke:#6e8fc9}:is(.seq,.seqhead) .lane.dns rect{fill:#f3f0ff;stroke:#8e7cc3}
:is(.seq,.seqhead) .lane text{text-anchor:middle;font:600 12px var(--sans)}:is(.seq,.seqhead) .lane text.sub{font:10.5px var(--mono);fill:var(--muted)}
:is(.seq,.seqgut) .tm{text-anchor:end;fill:var(--muted);font-size:10.5px}:is(.seq,.seqhead) .cap{fill:var(--muted);font:600 10px var(--sans);text-anchor:end}
.seq .ar{stroke:#3b4450;stroke-width:1.3}.seq .dash{stroke-dasharray:5 3}
.seq .hd{fill:#3b4450}
.seq .lb{text-anchor:middle;paint-order:stroke;stroke:#fcfcfd;stroke-width:4px;stroke-linejoin:round}
.seq .err .ar,.seq .err .x{stroke:var(--fail)}.seq .err .hd{fill:var(--fail)}.seq .err .lb{fill:var(--fail);font-weight:600}
.seq .dns .ar{stroke:#6d5bb0}.seq .dns .hd{fill:#6d5bb0}.seq .dns .lb{fill:#4f3f96}
.seq .x{stroke-width:2.4}
.seq .nt{stroke-width:1}.seq .ntl{text-anchor:middle;font-weight:600}
.seq .ok .nt{fill:#dafbe1;stroke:var(--pass)}.seq .ok .ntl{fill:#0f5323}
.seq .info .nt{fill:#ddf4ff;stroke:var(--informational)}.seq .info .ntl{fill:#0a3069}
.seq .warn .nt{fill:#fff1d6;stroke:var(--non-strict)}.seq .warn .ntl{fill:#6b3a00}
.seq .err .nt{fill:#ffebe9;stroke:var(--fail)}.seq .err .ntl{fill:var(--error)}
.seq .band{fill:#ddf4ff;stroke:var(--informational);stroke-dasharray:3 2}.seq .bandl{text-anchor:middle;font:600 11.5px var(--sans);fill:#0a3069}
.seq .gap{font:italic 11px var(--sans);fill:var(--muted)}
.seq .trunc{font:italic 12px var(--sans);fill:var(--muted)}
.seq .empty{font:italic 12px var(--sans);fill:var(--muted)}
.host{margin:14px 0 18px}
.beh{font-weight:400;font-size:12px;background:#fff8c5;border-radius:10px;padding:1px 8px;margin-left:6px}
.session{border:1px solid var(--line);border-radius:6px;margin:8px 0;overflow:hidden}
.sesshead{background:var(--soft);padding:4px 10px;font-size:12.5px;border-bottom:1px solid var(--line)}
.transcript{margin:0;padding:6px 0;white-space:pre-wrap;word-break:break-word;background:#fff}
.transcript .ln{display:block;padding:0 10px}
.transcript .t{display:inline-block;width:5.5em;text-align:right;color:#8c959f;margin-right:12px;user-select:none}
.transcript .p{display:inline-block;width:2.2em;font-weight:700;user-select:none}
.transcript .c{color:#0550ae}.transcript .s{color:#1f2328}
.transcript .s.err{color:var(--fail);background:#fff5f5}
.transcript .note{color:var(--muted);font-style:italic}
.transcript .tls{color:#0a3069;background:#ddf4ff;font-style:normal}
.transcript .auth{color:#6639ba;background:#fbefff;font-style:normal}
.transcript .msg{color:#0f5323;background:#dafbe1;font-style:normal;font-weight:600}
.transcript .note.err{color:var(--fail);background:#ffebe9}
.attempt{font-family:var(--mono);font-size:12.5px;padding:4px 10px;border:1px dashed var(--fail);border-radius:6px;margin:6px 0;color:var(--fail);background:#fff5f5}
.attempt .t{color:#8c959f;margin-right:10px}
.events td,.dns td{font-size:13px}.events td.k,.dns td.k{font-family:var(--mono);white-space:nowrap}
.events tr.err td{color:var(--fail)}.events tr.warn td{color:var(--non-strict)}.events tr.ok td{color:var(--pass)}
.events tr.info td{color:var(--informational)}.events tr.muted td{color:var(--muted)}
.dns td.err{color:var(--fail);font-weight:600}
.dns .ans{font-family:var(--mono);font-size:12px;display:block}
details{margin-top:20px}
summary{cursor:pointer;color:var(--muted);font-weight:600}
pre.journal{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:10px;overflow-x:auto;font-size:12px}
footer{color:var(--muted);font-size:12px;text-align:center;padding:24px}
@media print{
 body{font-size:11px}.top{background:none}main{max-width:none;padding:0}
 .scenario{break-before:page;border-width:1px;border-top-width:5px}
 .filter,.up{display:none}
 .diagram{overflow:visible;max-height:none;border:none}.seq{max-width:100%;height:auto}.seqhead,.seqgut{display:none}
 .session,.failure,tr{break-inside:avoid}
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
</style>
</head>
<body id="top">
<header class="top">
<h1>{{.Title}}</h1>
<div class="meta">{{if .Relays}}<span>Relay under test: <b>{{.Relays}}</b></span>{{end}}{{if .Started}}<span>Started {{.Started}}</span>{{end}}<span>{{len .Scenarios}} result{{if ne (len .Scenarios) 1}}s{{end}} in {{.Duration}}</span></div>
<div class="chips">{{range .Chips}}<span class="chip {{.Class}}"><b>{{.N}}</b> {{.Label}}</span>{{end}}</div>
</header>
<main>
<section class="overview">
<div class="ovhead"><h2>Results</h2>{{if .Problems}}<label class="filter"><input type="checkbox" id="only-problems"> show only problems</label>{{end}}</div>
<table class="results">
<thead><tr><th>Verdict</th><th>{{if .Conformance}}Case{{else}}Scenario{{end}}</th><th>Tags</th><th class="num">Time</th><th>Reason</th></tr></thead>
<tbody>
{{- range .Scenarios}}
<tr class="{{.Class}}{{if not .Problem}} okrow{{end}}"><td><span class="badge {{.Class}}">{{.Label}}</span></td><td><a href="#{{.Anchor}}">{{if .R.ID}}<span class="id">{{.R.ID}}</span> {{if .R.Level}}<span class="level">{{.R.Level}}</span> {{end}}{{end}}{{.R.Name}}</a>{{if .R.Clause}} <span class="clause">{{.R.Clause}}</span>{{end}}</td><td>{{range .R.Tags}}<span class="tag">{{.}}</span>{{end}}</td><td class="num">{{.Duration}}</td><td class="why">{{if .Problem}}{{.Why}}{{end}}</td></tr>
{{- else}}
<tr><td colspan="5" class="muted">No results.</td></tr>
{{- end}}
</tbody>
</table>
</section>
{{range .Scenarios}}
<section class="scenario {{.Class}}{{if not .Problem}} okrow{{end}}" id="{{.Anchor}}">
<details class="case"{{if .Open}} open{{end}}>
<summary class="shead"><span class="badge big {{.Class}}">{{.Label}}</span><h2>{{if .R.ID}}<span class="id">{{.R.ID}}</span> {{end}}{{.R.Name}}</h2><span class="sdur">{{.Duration}}</span></summary>
{{- if .R.Description}}
<p class="desc">{{.R.Description}}</p>
{{- end}}
<dl class="facts">
{{- if .R.File}}<div><dt>File</dt><dd><code>{{.R.File}}</code></dd></div>{{end}}
{{- if or .R.Level .R.Clause}}<div><dt>Requirement</dt><dd>{{if .R.Level}}<span class="level">{{.R.Level}}</span> {{end}}{{.R.Clause}}</dd></div>{{end}}
{{- if .R.Relay}}<div><dt>Relay</dt><dd>{{.R.Relay}}</dd></div>{{end}}
{{- if .Started}}<div><dt>Started</dt><dd>{{.Started}}</dd></div>{{end}}
<div><dt>Duration</dt><dd>{{.Duration}}</dd></div>
<div><dt>Events</dt><dd>{{len .R.Events}}</dd></div>
{{- if .R.Tags}}<div><dt>Tags</dt><dd>{{range .R.Tags}}<span class="tag">{{.}}</span>{{end}}</dd></div>{{end}}
</dl>
{{- if .R.Reason}}
<p class="reason">{{.R.Reason}}</p>
{{- end}}
{{- range .R.Notes}}
<p class="note">Note: {{.}}</p>
{{- end}}
{{- if .Failures}}
<h3>Failed expectations ({{len .Failures}})</h3>
{{- range $i, $f := .Failures}}
<div class="failure">
<div class="fhead"><span class="n">✗</span>{{if .Pos}}<code class="pos">{{.Pos}}</code>{{end}}{{if .Step}}<span class="step">{{.Step}}</span>{{end}}</div>
<div class="ea"><div class="exp"><div class="lbl">Expected</div><pre>{{.Expected}}</pre></div><div class="act"><div class="lbl">Actual</div><pre>{{.Actual}}</pre></div></div>
</div>
{{- end}}
{{- end}}
{{- if .Hosts}}
<h3>Hosts</h3>
<table class="hosts">
<thead><tr><th>Host</th><th>Address</th><th>Behaviour</th><th class="num">Sessions</th><th class="num">Messages</th><th class="num">Not reached</th></tr></thead>
<tbody>
{{- range .Hosts}}
<tr><td><a href="#{{.Anchor}}">{{.Name}}</a>{{if .Extra}} <span class="muted">(not in the scenario's hosts)</span>{{end}}</td><td><code>{{.Addr}}</code></td><td>{{.Behavior}}</td><td class="num">{{len .Sessions}}</td><td class="num">{{.Messages}}</td><td class="num">{{len .Attempts}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
{{- if not .R.Events}}
<p class="muted empty">No DNS or SMTP traffic was recorded.</p>
{{- end}}
{{- with .Diagram}}{{$d := .}}
<h3>Sequence</h3>
<div class="diagram"><div class="seqgrid">
<svg xmlns="http://www.w3.org/2000/svg" class="seq" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="sequence diagram">
<text class="cap" x="{{.GutterX}}" y="{{.HeadY}}">ms</text>
{{- range .Lanes}}
<line class="life" x1="{{.X}}" y1="{{$d.LifeTop}}" x2="{{.X}}" y2="{{$d.LifeBottom}}"/>
{{- end}}
{{- range .Lanes}}
<g class="lane {{.Class}}"><title>{{.Tip}}</title><rect x="{{.BoxX}}" y="12" width="{{.BoxW}}" height="34" rx="6"/><text x="{{.X}}" y="27">{{.Name}}</text><text class="sub" x="{{.X}}" y="40">{{.Sub}}</text></g>
{{- end}}
{{- range .Items}}
<g class="{{.Class}}">{{if .Tip}}<title>{{.Tip}}</title>{{end}}<text class="tm" x="{{$d.GutterX}}" y="{{.TimeY}}">{{.Time}}</text>
{{- if eq .Kind "arrow"}}<line class="ar{{if .Dashed}} dash{{end}}" x1="{{.X1}}" y1="{{.Y}}" x2="{{.X2}}" y2="{{.Y}}"/>{{if .Head}}<polygon class="hd" points="{{.Head}}"/>{{end}}{{if .Cross}}<path class="x" d="{{.Cross}}"/>{{end}}<text class="lb" x="{{.LabelX}}" y="{{.LabelY}}">{{.Label}}</text>
{{- else if eq .Kind "note"}}<rect class="nt" x="{{.BoxX}}" y="{{.BoxY}}" width="{{.BoxW}}" height="20" rx="4"/><text class="ntl" x="{{.LabelX}}" y="{{.LabelY}}">{{.Label}}</text>
{{- else if eq .Kind "gap"}}<text class="gap" x="{{.LabelX}}" y="{{.LabelY}}">{{.Label}}</text>
{{- else}}<rect class="band" x="{{.BoxX}}" y="{{.BoxY}}" width="{{.BoxW}}" height="20" rx="3"/><text class="bandl" x="{{.LabelX}}" y="{{.LabelY}}">{{.Label}}</text>
{{- end}}</g>
{{- end}}
{{- if .Empty}}
<text class="empty" x="{{.GutterX}}" y="{{.LifeBottom}}" dx="14" dy="-14">No DNS or SMTP traffic was recorded.</text>
{{- end}}
{{- if .Truncated}}
<text class="trunc" x="{{.GutterX}}" y="{{.TruncY}}" dx="14">… {{.Truncated}} more events not drawn: see the full journal below.</text>
{{- end}}
{{- if .BottomY}}
{{- range .Lanes}}
<g class="lane {{.Class}}"><rect x="{{.BoxX}}" y="{{$d.BottomY}}" width="{{.BoxW}}" height="34" rx="6"/><text x="{{.X}}" y="{{$d.BottomY}}" dy="21">{{.Name}}</text></g>
{{- end}}
{{- end}}
</svg>
<svg xmlns="http://www.w3.org/2000/svg" class="seqgut" width="{{.GutterW}}" height="{{.Height}}" viewBox="0 0 {{.GutterW}} {{.Height}}" aria-hidden="true">
{{- range .Items}}{{if .Time}}
<text class="tm" x="{{$d.GutterX}}" y="{{.TimeY}}">{{.Time}}</text>
{{- end}}{{end}}
</svg>
<svg xmlns="http://www.w3.org/2000/svg" class="seqhead" width="{{.Width}}" height="{{.HeadH}}" viewBox="0 0 {{.Width}} {{.HeadH}}" aria-hidden="true">
<text class="cap" x="{{.GutterX}}" y="{{.HeadY}}">ms</text>
{{- range .Lanes}}
<g class="lane {{.Class}}"><title>{{.Tip}}</title><rect x="{{.BoxX}}" y="12" width="{{.BoxW}}" height="34" rx="6"/><text x="{{.X}}" y="27">{{.Name}}</text><text class="sub" x="{{.X}}" y="40">{{.Sub}}</text></g>
{{- end}}
</svg>
</div></div>
{{- end}}
{{- if .Hosts}}
<h3>Transcripts</h3>
{{- range .Hosts}}
<div class="host" id="{{.Anchor}}">
<h4>{{.Name}} {{if .Addr}}<code class="muted">{{.Addr}}</code>{{end}}{{if .Behavior}}<span class="beh">{{.Behavior}}</span>{{end}}</h4>
{{- range .Attempts}}
<div class="attempt"><span class="t">{{.At}} ms</span>{{.Text}}</div>
{{- end}}
{{- range .Sessions}}
<div class="session"><div class="sesshead"><b>{{.ID}}</b>{{if .Remote}} · from <code>{{.Remote}}</code>{{end}} · at {{.At}} ms</div>
<pre class="transcript">{{range .Lines}}<span class="ln {{.Class}}"><span class="t">{{.At}}</span><span class="p">{{.Prefix}}</span>{{.Text}}</span>{{end}}</pre></div>
{{- else}}{{if not .Attempts}}
<p class="muted">No session at this host.</p>{{end}}
{{- end}}
</div>
{{- end}}
{{- end}}
{{- if .Events}}
<h3>Relay and harness events</h3>
<table class="events">
<thead><tr><th class="num">ms</th><th>Event</th><th>Host</th><th>Code</th><th>Text</th></tr></thead>
<tbody>
{{- range .Events}}
<tr class="{{.Class}}"><td class="num">{{.At}}</td><td class="k">{{.Kind}}</td><td>{{.Peer}}</td><td>{{.Code}}</td><td>{{.Text}}{{if .Err}} <i>(error: {{.Err}})</i>{{end}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
{{- if .DNS}}
<h3>DNS queries</h3>
<table class="dns">
<thead><tr><th class="num">ms</th><th>Name</th><th>Type</th><th>Rcode</th><th>Answers</th><th>Fault</th><th>Flags</th></tr></thead>
<tbody>
{{- range .DNS}}
<tr><td class="num">{{.At}}</td><td class="k">{{.Name}}</td><td class="k">{{.Type}}</td><td class="k {{.Class}}">{{.Rcode}}</td><td>{{range .Answers}}<span class="ans">{{.}}</span>{{else}}<span class="muted">—</span>{{end}}</td><td>{{.Fault}}</td><td class="k">{{.Flags}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
{{- if .Journal}}
<details><summary>Full journal ({{len .R.Events}} events)</summary>
<pre class="journal">{{.Journal}}</pre>
</details>
{{- end}}
<p class="up"><a href="#top">↑ top</a></p>
</details>
</section>
{{- end}}
</main>
<footer>mxsim report · self-contained file: no network access needed to read it.</footer>
<script>addEventListener("beforeprint",function(){document.querySelectorAll("details").forEach(function(d){d.open=true})});
function openTarget(){var t=location.hash&&document.getElementById(decodeURIComponent(location.hash.slice(1)));for(;t;t=t.parentElement){if(t.tagName==="DETAILS")t.open=true;var c=t.querySelector&&t.querySelector(":scope>details.case");if(c)c.open=true}}
addEventListener("hashchange",openTarget);openTarget();</script>
</body>
</html>
`
