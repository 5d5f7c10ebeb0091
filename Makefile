# mxsim — see README.md. Two commands need no set-up: `make demo` and `make test`.
GO ?= go

.PHONY: demo test vet fmt bench build cross matrix

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
	@$(MAKE) --no-print-directory cross
	$(GO) test -race -count=1 -timeout 30m ./...
	# fakesmtp, and the packages that run networks of its hosts, again with
	# its event loop off: the path of systems without epoll.
	MXSIM_FAKESMTP_LOOP=off $(GO) test -race -count=1 ./fakesmtp ./harness ./harness/sandbox

# Builds for a 32-bit Linux and vets for systems without epoll, so that
# Linux-only code (fakesmtp's event loop, raw system calls) stays behind
# its build tags with a fallback everywhere else.
cross:
	GOOS=linux GOARCH=386 $(GO) build ./...
	GOOS=darwin GOARCH=amd64 $(GO) vet ./...
	GOOS=windows GOARCH=amd64 $(GO) vet ./...

# Measures mxsim against smtp-sink, NSD and its own targets, and the
# conformance wall time of each MTA against the reference relay's (Docker;
# kinds this mxsim lacks are listed as skipped), and rewrites
# docs/benchmarks.md (installs postfix, nsd, dnsperf when missing; ~10 min).
# BENCH_ARGS go to internal/bench/cmd/benchrun, e.g. BENCH_ARGS='-runs 1 -only smtp'.
bench:
	GO=$(GO) bash scripts/bench.sh $(BENCH_ARGS)

# The conformance library against the reference relay and every MTA mxsim
# can run (Postfix, Exim, OpenSMTPD; Docker needed), each through its
# adapter and, where docs/mtas/<mta>/run.sh exists, as an external relay
# in one long-running container; writes docs/mta-matrix.md and fails when a
# non-pass has no note or an external verdict differs from the adapter's.
# MATRIX_ARGS go to scripts/matrix.sh (--adapters-only, --external, --no-doc).
matrix:
	GO=$(GO) bash scripts/matrix.sh $(MATRIX_ARGS)

# Fuzz targets, one after another, FUZZTIME each: `make fuzz`, or
# `FUZZTIME=10m make fuzz`. Go keeps a failing input under the package's
# testdata/fuzz/<Target>/, where make test runs it from then on; the
# targets and their checks are in docs/reliability.md. fakesmtp's runs
# twice: with its event loop and with MXSIM_FAKESMTP_LOOP=off. Entries are
# package:target[:environment].
FUZZTIME ?= 60s
FUZZ_TARGETS = ./scenarios:FuzzParse ./fakedns:FuzzServer ./fakesmtp:FuzzSession \
	./fakesmtp:FuzzSession:MXSIM_FAKESMTP_LOOP=off ./harness/sandbox:FuzzAPI

.PHONY: fuzz
fuzz:
	@failed=; for t in $(FUZZ_TARGETS); do \
		pkg=$$(echo $$t | cut -d: -f1); name=$$(echo $$t | cut -d: -f2); vars=$$(echo $$t | cut -s -d: -f3); \
		echo "== make fuzz: $$name in $$pkg for $(FUZZTIME)$${vars:+ with $$vars}"; \
		env $$vars $(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg \
			|| failed="$$failed $$name($$pkg$${vars:+ $$vars})"; \
	done; \
	if [ -n "$$failed" ]; then echo "== make fuzz: failures in:$$failed; the inputs are under testdata/fuzz/ of each package"; exit 1; fi

# Soak test (minutes; not part of `make test`): 1,000 environments started
# and closed, then 100,000 messages through the reference relay while hosts
# go down and up; checks for leaked goroutines, descriptors and addresses
# and prints the figures of docs/reliability.md. Without -race: it measures.
# Smaller runs: MXSIM_SOAK_CYCLES, MXSIM_SOAK_MESSAGES, MXSIM_SOAK_RATE.
.PHONY: soak
soak:
	MXSIM_SOAK=1 $(GO) test -count=1 -v -timeout 30m -run '^TestSoak$$' ./harness
