# Sluice: the one place that says how to build and test.
GO ?= go
PKGS := ./...

.PHONY: test check build demo bench

# Every test, with the race detector: what CI runs (.ci/run) and what a newcomer runs. The Kafka
# tests need a real broker and kcat: scripts/test-services starts them (and stops what it started).
# The engine's SIGKILL crash loop runs its child (the test binary itself) 20 times per backend; it
# skips under -race, where the child is too slow to reach a checkpoint, so it runs again without.
# The kafka package runs on its own, after the others: its multi-instance tests are timing-
# sensitive under a loaded machine (see the fourth session's note on TestRunRepartitionExactlyOnce).
test: check
	scripts/test-services start
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list $(PKGS) | grep -v '/kafka$$') && \
	  $(GO) test -race -count=1 -timeout 10m ./kafka/ && \
	  $(GO) test -count=1 -timeout 10m -run '^TestCrashRecoveryStateBackends$$' ./engine/; \
	  rc=$$?; scripts/test-services stop; exit $$rc

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Formatting, vet and staticcheck (fetched from the Go module proxy on first use).
check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

build:
	$(GO) build -o bin/sluice ./cmd/sluice

# The main job: the clickstream demo on the embedded engine.
demo:
	$(GO) run ./cmd/sluice demo clickstream

# Benchmarks of the hot paths (see BENCHMARKS.md for recorded figures).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/flow/ ./bench/...

