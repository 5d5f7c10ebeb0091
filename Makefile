# mxsim — see README.md. Two commands need no set-up: `make demo` and `make test`.
GO ?= go

.PHONY: demo test vet fmt bench build

build:
	$(GO) build -o bin/mxsim ./cmd/mxsim

# The main job on built-in defaults: a narrated failover through the
# reference relay, then every example scenario, with an HTML report.
demo: build
	./bin/mxsim demo
	./bin/mxsim run -html report.html testdata/scenarios
	@echo "report written to report.html"

test:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
