# pipechaos — every target installs what it needs through the Go module proxy.
GO      ?= go
PKGS    ?= ./...
export GOFLAGS := -buildvcs=false

.PHONY: bench-env all demo test test-embedded test-nodes test-containers images-if-docker bench lint images clean docker-engine kafka-dist connect-dist connect-plugins smt-test

all: lint test

## demo: run one scenario on the embedded backend and print where its report is.
demo:
	$(GO) run ./cmd/pipechaos run broker-crash --report out/demo

## test: lint; the whole suite with the race detector (embedded backend, plus
## the containers backend's own tests); then the scenario catalogue again on the
## containers backend. Without Docker the container parts skip with the reason,
## unless CI=true, where they fail. Then the catalogue on real Apache Kafka
## (the nodes backend), and last the JUnit tests of java/smt.
test: lint images-if-docker test-embedded test-containers test-nodes smt-test

test-embedded:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## test-nodes: the scenario catalogue on real Apache Kafka (the nodes backend:
## brokers as processes in network namespaces; the distribution comes through
## Maven, `make kafka-dist`; MinIO from scripts/minio-bin.sh).
test-nodes: kafka-dist
	@scripts/minio-bin.sh >/dev/null
	@echo "== scenario catalogue on the nodes backend (real Apache Kafka)"
	PIPECHAOS_BACKEND=nodes $(GO) test -race -count=1 -timeout 40m ./scenarios/...

test-containers: images-if-docker
	@if [ -n "$$PIPECHAOS_DOCKER_UNAVAILABLE" ]; then echo "containers backend: not exercised: $$PIPECHAOS_DOCKER_UNAVAILABLE"; \
	elif docker info >/dev/null 2>&1; then \
		echo "== scenario catalogue on the containers backend (real Apache Kafka: pipechaos/apache-kafka:dev)"; \
		PIPECHAOS_BACKEND=containers $(GO) test -race -count=1 -timeout 50m ./scenarios/...; \
	else echo "containers backend: skipped: Docker does not answer (docker info failed); start Docker to run it"; fi

## test-fake-kafka: the scenario catalogue on the containers backend with the
## kfake image (pipechaos/kafka: a region in one container); the fast option.
.PHONY: test-fake-kafka
test-fake-kafka: images-if-docker
	PIPECHAOS_BACKEND=containers PIPECHAOS_KAFKA_IMAGE=pipechaos/kafka:dev $(GO) test -race -count=1 -timeout 40m ./scenarios/...

# images-if-docker builds the images when Docker answers; with CI=true a
# missing Docker is an error, elsewhere a skip with the reason.
images-if-docker:
	@if [ -n "$$PIPECHAOS_DOCKER_UNAVAILABLE" ]; then echo "containers backend: not exercised: $$PIPECHAOS_DOCKER_UNAVAILABLE"; \
	elif docker info >/dev/null 2>&1; then $(MAKE) --no-print-directory images; \
	elif [ "$$CI" = "true" ]; then echo "containers backend: Docker does not answer (docker info failed) and CI=true requires it" >&2; exit 1; \
	else echo "containers backend: skipped: Docker does not answer (docker info failed)"; fi

## bench: the speed and memory benchmarks (P1 sink vs raw consume, P2 checker;
## BenchmarkVerifyBucket: 10M records on the embedded store and 1M on MinIO,
## with x-raw-read; BenchmarkScale: the harness at 1M and 10M records).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 30m $(PKGS)

## bench-env: BenchmarkEnvironmentUp on containers, real Apache Kafka beside
## the kfake image, five starts of each (medians).
bench-env: images-if-docker
	$(GO) test -run '^$$' -bench BenchmarkEnvironmentUp -benchtime 5x -timeout 40m ./harness/env/containers/

## lint: gofmt and go vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## docker-engine: install Debian's docker.io + fuse-overlayfs if missing and start dockerd (needs root).
docker-engine:
	bash scripts/docker-engine.sh

## kafka-dist: resolve the Apache Kafka distribution pinned in java/kafka-dist/pom.xml through Maven (cached).
kafka-dist:
	@scripts/kafka-dist.sh

## connect-dist: resolve the Kafka Connect worker pinned in java/connect-dist/pom.xml through Maven (cached).
connect-dist:
	@scripts/connect-dist.sh

## connect-plugins: build java/smt (the header router pair and the line sink) into a cached plugin.path directory.
connect-plugins:
	@scripts/connect-plugins.sh

## smt-test: the JUnit tests of java/smt (both header router variants, the line sink), run by Maven.
smt-test:
	cd java/smt && mvn -q -B test && rm -rf target

## images: build the container images (FROM scratch, static Go binaries; the
## real Kafka image on a debootstrapped JRE base; no pulls).
images:
	./images/build.sh

clean:
	rm -rf out

## report-check: render reports/testdata to HTML, screenshot it in headless Chromium (installed if missing) and check the timeline is drawn.
.PHONY: report-check
report-check:
	GO=$(GO) scripts/report-check.sh out/report-check

## explore-check: pipechaos explore finds the commit-before-write sink's loss (≤ 5 min, ≤ 3 steps), replay reproduces it (≥ 8/10), 80 fixed-sink schedules stay clean, the report renders in headless Chromium.
.PHONY: explore-check
explore-check:
	GO=$(GO) scripts/explore-check.sh out/explore-check

## kcat-check: `pipechaos up` against real Kafka clients: kcat (installed if missing) produces and consumes through it.
.PHONY: kcat-check
kcat-check:
	GO=$(GO) scripts/kcat-check.sh

## bench-scale: only the scale benchmarks, once each (BenchmarkVerifyBucket's sizes:
## go test ./harness/checker -bench VerifyBucket -args -verify.records=N -verify.minio-records=M).
.PHONY: bench-scale
bench-scale:
	$(GO) test -run '^$$' -bench 'BenchmarkVerifyBucket|BenchmarkScale' -benchtime 1x -timeout 60m ./harness/ ./harness/checker/
