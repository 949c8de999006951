# pipechaos — every target installs what it needs through the Go module proxy.
GO      ?= go
PKGS    ?= ./...
export GOFLAGS := -buildvcs=false

.PHONY: all demo test test-embedded test-containers bench lint images tools clean

all: lint test

## demo: run one scenario on the embedded backend and print where its report is.
demo:
	$(GO) run ./cmd/pipechaos run broker-crash --report out/demo

## test: the whole suite with the race detector (embedded backend).
test: lint test-embedded

test-embedded:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## bench: the speed and memory benchmarks (P1 sink vs raw consume, P2 checker).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m $(PKGS)

## lint: gofmt and go vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## images: build the container images (FROM scratch, static Go binaries, no pulls).
images:
	./images/build.sh

clean:
	rm -rf out

## report-check: render reports/testdata to HTML, screenshot it in headless Chromium (installed if missing) and check the timeline is drawn.
.PHONY: report-check
report-check:
	GO=$(GO) scripts/report-check.sh out/report-check

## kcat-check: `pipechaos up` against real Kafka clients: kcat (installed if missing) produces and consumes through it.
.PHONY: kcat-check
kcat-check:
	GO=$(GO) scripts/kcat-check.sh
