# The two commands a new machine needs: `make run` and `make test`. Each one
# installs what is missing (scripts/install-deps.sh), configures and builds.
.PHONY: deps build run test test-release test-asan fuzz bench bench-webpush bench-mesh clean

ARGS ?=
BENCH_ARGS ?=
WEBPUSH_BENCH_ARGS ?=
MESH_BENCH_ARGS ?=
FUZZ_SECONDS ?= 30
JOBS ?= $(shell nproc)

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)
	@ln -sfn release/apps/ugate/ugate build/ugate
	@echo "built ./build/ugate"

# The gateway on its embedded default config (admin on 127.0.0.1:15000);
# pass flags with ARGS="--config my.yaml".
run: build
	./build/ugate $(ARGS)

# Unit and integration tests on the release build, then all of them again on
# a build with AddressSanitizer + UndefinedBehaviorSanitizer (the integration
# tests then drive the sanitized binary).
test: test-release test-asan fuzz

test-release: build
	ctest --preset release -j 2

test-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j 2

# Each libFuzzer target (clang) for FUZZ_SECONDS, from the committed seeds;
# new inputs go to a temporary corpus, not into the tree.
fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)
	@for f in build/fuzz/tests/fuzz/*_fuzz; do \
	  name=$$(basename $$f _fuzz); work=$$(mktemp -d); \
	  echo "fuzzing $$name for $(FUZZ_SECONDS) s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=20000 $$work tests/fuzz/corpus/$$name > $$work.log 2>&1; \
	  rc=$$?; tail -3 $$work.log; rm -rf $$work $$work.log; [ $$rc -eq 0 ] || exit $$rc; \
	done

bench: build
	/usr/bin/python3 bench/bench.py --markdown bench/last-run.md $(BENCH_ARGS)
	/usr/bin/python3 bench/webpush_bench.py --markdown bench/last-run-webpush.md $(WEBPUSH_BENCH_ARGS)
	/usr/bin/python3 bench/mesh_bench.py --markdown bench/last-run-mesh.md $(MESH_BENCH_ARGS)

# The mesh alone: HBONE between two ugate processes beside stunnel4 and raw TCP, memory per idle stream.
bench-mesh: build
	/usr/bin/python3 bench/mesh_bench.py --markdown bench/last-run-mesh.md $(MESH_BENCH_ARGS)

# Web Push alone: crypto ops/s beside npm web-push/http_ece, push-to-delivery latency.
bench-webpush: build
	/usr/bin/python3 bench/webpush_bench.py --markdown bench/last-run-webpush.md $(WEBPUSH_BENCH_ARGS)

clean:
	rm -rf build
