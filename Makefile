# mxsim — see README.md. Two commands need no set-up: `make demo` and `make test`.
GO ?= go

.PHONY: demo test vet fmt bench build

build:
	$(GO) build -o bin/mxsim ./cmd/mxsim

# The main job on built-in defaults: a narrated failover through the
# reference relay, then the conformance library against it: a scorecard on
# the terminal and an HTML report with the evidence of every case.
demo: build
	./bin/mxsim demo
	./bin/mxsim conformance -html report.html
	@echo "report written to report.html"

test:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...
	# fakesmtp again with its event loop off: the path of systems without epoll.
	MXSIM_FAKESMTP_LOOP=off $(GO) test -race -count=1 ./fakesmtp

# Measures mxsim against smtp-sink, NSD and its own targets and rewrites
# docs/benchmarks.md (installs postfix, nsd, dnsperf when missing; ~8 min).
# BENCH_ARGS go to internal/bench/cmd/benchrun, e.g. BENCH_ARGS='-runs 1 -only smtp'.
bench:
	GO=$(GO) bash scripts/bench.sh $(BENCH_ARGS)

# Soak test (minutes; not part of `make test`): 1,000 environments started
# and closed, then 100,000 messages through the reference relay while hosts
# go down and up; checks for leaked goroutines, descriptors and addresses
# and prints the figures of docs/reliability.md. Without -race: it measures.
# Smaller runs: MXSIM_SOAK_CYCLES, MXSIM_SOAK_MESSAGES, MXSIM_SOAK_RATE.
.PHONY: soak
soak:
	MXSIM_SOAK=1 $(GO) test -count=1 -v -timeout 30m -run '^TestSoak$$' ./harness
