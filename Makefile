# The two commands a new machine needs: `make run` and `make test`. Each one
# installs what is missing (scripts/install-deps.sh), configures and builds.
.PHONY: deps build run test test-release test-asan fuzz fuzz-grow fuzz-build bench bench-webpush bench-mesh bench-turn soak clean

ARGS ?=
BENCH_ARGS ?=
WEBPUSH_BENCH_ARGS ?=
MESH_BENCH_ARGS ?=
TURN_BENCH_ARGS ?=
SOAK_ARGS ?=
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?=
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
# new inputs go to a temporary corpus, not into the tree. Undefined behaviour
# fails a target like a crash; each target's log stays in
# build/fuzz/artifacts/<target>/, with the failing input when it failed
# (tests/fuzz/run.sh). FUZZ_TARGETS="jwt h2_server" runs only those.
fuzz: fuzz-build
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The same, then each target's corpus in tests/fuzz/corpus/<target>/ minimized
# together with what it found (-merge=1 -use_counters=0, files of at most
# 4 KiB; hand-made seeds stay): a campaign, e.g. FUZZ_SECONDS=300.
fuzz-grow: fuzz-build
	@FUZZ_MERGE=1 bash tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)

bench: build
	/usr/bin/python3 bench/bench.py --markdown bench/last-run.md $(BENCH_ARGS)
	/usr/bin/python3 bench/webpush_bench.py --markdown bench/last-run-webpush.md $(WEBPUSH_BENCH_ARGS)
	/usr/bin/python3 bench/mesh_bench.py --markdown bench/last-run-mesh.md $(MESH_BENCH_ARGS)
	/usr/bin/python3 bench/turn_bench.py --markdown bench/last-run-turn.md $(TURN_BENCH_ARGS)

# The mesh alone: HBONE between two ugate processes beside stunnel4 and raw TCP, memory per idle stream.
bench-mesh: build
	/usr/bin/python3 bench/mesh_bench.py --markdown bench/last-run-mesh.md $(MESH_BENCH_ARGS)

# Web Push alone: crypto ops/s beside npm web-push/http_ece, push-to-delivery latency.
bench-webpush: build
	/usr/bin/python3 bench/webpush_bench.py --markdown bench/last-run-webpush.md $(WEBPUSH_BENCH_ARGS)

# TURN alone: ugate's TURN server beside coturn's turnserver (relay rate, CPU, allocations, memory).
bench-turn: build
	/usr/bin/python3 bench/turn_bench.py --markdown bench/last-run-turn.md $(TURN_BENCH_ARGS)

# The soak (not part of `make test`): 10,000 concurrent streams for 5 minutes across tcp, socks5,
# http-proxy and HBONE, 0 errors, memory and descriptors back afterwards. About 7 minutes; as root.
soak: build
	/usr/bin/python3 bench/soak.py --markdown bench/last-run-soak.md $(SOAK_ARGS)

clean:
	rm -rf build

# `make install`: the binary, the systemd unit and, when there is none yet, the
# config (an operator's config is never overwritten). DESTDIR stages the files
# into a tree; UGATE_BUILT=PATH installs a binary built elsewhere as it is,
# without building (tests/integration/test_deploy.py does).
.PHONY: install uninstall
PREFIX ?= /usr/local
DESTDIR ?=
UNITDIR ?= /etc/systemd/system
UGATE_BUILT ?= build/release/apps/ugate/ugate
# Fixed: the unit's ConfigurationDirectory=ugate and ExecStart name it.
UGATE_CONF := /etc/ugate/ugate.yaml

install: $(if $(filter file,$(origin UGATE_BUILT)),build)
	install -d -m 0755 $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(dir $(UGATE_CONF))
	install -m 0755 $(UGATE_BUILT) $(DESTDIR)$(PREFIX)/bin/ugate
	sed 's|^ExecStart=/usr/local/bin/ugate |ExecStart=$(PREFIX)/bin/ugate |' deploy/systemd/ugate.service \
	  > $(DESTDIR)$(UNITDIR)/ugate.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/ugate.service
	@grep -q '^ExecStart=$(PREFIX)/bin/ugate ' $(DESTDIR)$(UNITDIR)/ugate.service || \
	  { echo "install: ExecStart in $(DESTDIR)$(UNITDIR)/ugate.service does not name $(PREFIX)/bin/ugate"; exit 1; }
	@if [ -e $(DESTDIR)$(UGATE_CONF) ]; then \
	  echo "kept $(DESTDIR)$(UGATE_CONF) (deploy/ugate.yaml is the shipped one)"; \
	else \
	  install -m 0644 deploy/ugate.yaml $(DESTDIR)$(UGATE_CONF) && echo "installed $(DESTDIR)$(UGATE_CONF)"; \
	fi
	@echo "next: $(PREFIX)/bin/ugate check --config $(UGATE_CONF); systemctl daemon-reload; systemctl enable --now ugate"
	@echo "      (capabilities, keys: comments in $(UNITDIR)/ugate.service; logs: journalctl -u ugate -f)"

# Takes away the binary and the unit; the config and the state dir (keys) stay.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ugate $(DESTDIR)$(UNITDIR)/ugate.service
	@echo "left $(DESTDIR)$(UGATE_CONF) and /var/lib/ugate (keys); systemctl daemon-reload"
