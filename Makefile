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

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
