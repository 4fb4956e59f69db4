# omsecrets. `make demo` runs the main job on the bundled example; `make test`
# runs every check CI runs.

GO          ?= go
BIN         ?= bin/omsecrets
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
FUZZTIME    ?= 20000x
FUZZTIME_LONG ?= 2000000x
IMAGE       ?= omsecrets:$(VERSION)
# The real kube-apiserver the Kubernetes store's tests run (internal/testbed/kubeapiserver, a nested
# module), built once into .cache and found by internal/testbed/kubetest through this variable.
KUBE_APISERVER_VERSION := v1.37.2
export OMSECRETS_KUBE_APISERVER ?= $(CURDIR)/.cache/kube-apiserver/$(KUBE_APISERVER_VERSION)/kube-apiserver
# The pinned Python environment of the real-Airflow tests: Airflow 3 and OpenMetadata 2.0's packages from
# airflow/requirements.lock (exact versions and hashes), installed by uv (itself pinned) into .cache.
UV_VERSION  := 0.13.8
PYTOOLS     := $(CURDIR)/.cache/pytools
UV          := $(PYTOOLS)/bin/uv
export OMSECRETS_PYENV ?= $(CURDIR)/.cache/pyenv

# Every fuzz target in the tree, as ./package:FuzzTarget. Budgets are execution counts (Nx):
# with a duration, Go 1.26's fuzz coordinator can fail a clean run with
# "context deadline exceeded" as time runs out (go.dev/issue/75804).
FUZZ_TARGETS := $(shell grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed -E 's|^(.*)/[^/]*:func (Fuzz.*)|\1:\2|' | sort)

.PHONY: all build test fmt-check vet lint staticcheck unit fuzz-short fuzz bench demo docker tidy-check cover clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/omsecrets

## test: gofmt check, go vet, staticcheck, race tests, a short run of every fuzz target, the DAG runner's tests
## (stand-ins, then the real packages), the end-to-end test in real Airflow 3 and OpenMetadata 2.0 packages.
test: fmt-check vet staticcheck unit fuzz-short airflow-test airflow-real-test e2e

## airflow-test: the DAG runner's tests (airflow/tests), with Debian's python3 and python3-jinja2.
.PHONY: airflow-test
airflow-test:
	/usr/bin/python3 -m unittest discover -s airflow/tests -v

## airflow-real-test: the DAG runner against the real packages (airflow/tests/real): OpenMetadata 2.0's builders,
## Airflow 3's DagBag, install.sh on OpenMetadata's package, with the pinned environment's python.
.PHONY: airflow-real-test
airflow-real-test: pyenv
	$(OMSECRETS_PYENV)/bin/python -m unittest discover -s airflow/tests/real -t airflow/tests/real -v

## e2e: the end-to-end test (airflow/e2e): a pipeline deployed by OpenMetadata's own deploy code, parsed and run by
## real Airflow 3 and OpenMetadata 2.0's packages (make pyenv), resolved by bin/omsecrets from moto, ingesting from
## Debian's PostgreSQL (/usr/lib/postgresql/15/bin; .ci/run installs it); only OpenMetadata's server is stood in for.
.PHONY: e2e
e2e: build pyenv
	@test -x $(OMSECRETS_PYENV)/bin/python || { echo "e2e: no Python environment at $(OMSECRETS_PYENV) (make pyenv)"; exit 1; }
	@$(OMSECRETS_PYENV)/bin/python -c 'from importlib.metadata import version as v; \
		print("airflow", v("apache-airflow")); print("openmetadata-ingestion", v("openmetadata-ingestion"))'
	OMSECRETS_BIN=$(abspath $(BIN)) PYTHONWARNINGS=ignore $(OMSECRETS_PYENV)/bin/python -m unittest discover -s airflow/e2e -v

## pyenv: the pinned Python environment (airflow/requirements.lock) in .cache/pyenv; rebuilt when the lock's
## content changes (the stamp is named by its hash, so another checkout's newer lock file of the same content, or a
## touched one, rebuilds nothing).
.PHONY: pyenv pyenv-lock
PYENV_STAMP := $(OMSECRETS_PYENV)/.installed-$(shell sha256sum airflow/requirements.lock | cut -c1-16)
pyenv: $(PYENV_STAMP)
$(UV):
	python3 -m venv $(PYTOOLS)
	$(PYTOOLS)/bin/pip install -q uv==$(UV_VERSION)
$(PYENV_STAMP): | $(UV)
	rm -rf $(OMSECRETS_PYENV)
	$(UV) venv -q --python 3.11 $(OMSECRETS_PYENV)
	VIRTUAL_ENV=$(OMSECRETS_PYENV) $(UV) pip sync -q --require-hashes airflow/requirements.lock
	touch $@

## pyenv-lock: compile airflow/requirements.in into airflow/requirements.lock (exact versions, hashes).
pyenv-lock: | $(UV)
	$(UV) pip compile -q --python 3.11 --generate-hashes --custom-compile-command 'make pyenv-lock' \
		airflow/requirements.in -o airflow/requirements.lock

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(STATICCHECK)
	$(STATICCHECK) -checks all ./...

lint: fmt-check vet staticcheck

unit: kube-apiserver
	$(GO) test -race -count=1 ./...

## kube-apiserver: build the real kube-apiserver for internal/testbed/kubetest (cold: ~6 min on 2 cores); etcd comes
## from Debian's etcd-server package.
.PHONY: kube-apiserver
kube-apiserver: $(OMSECRETS_KUBE_APISERVER)
$(OMSECRETS_KUBE_APISERVER): internal/testbed/kubeapiserver/go.mod internal/testbed/kubeapiserver/go.sum internal/testbed/kubeapiserver/main.go
	mkdir -p $(@D)
	cd internal/testbed/kubeapiserver && CGO_ENABLED=0 $(GO) build -trimpath -o $@.tmp \
		-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_APISERVER_VERSION) -X k8s.io/component-base/version.gitTreeState=clean" .
	mv $@.tmp $@

fuzz-short:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) $$pkg; \
	done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=$(FUZZTIME_LONG)

## bench: Go benchmarks, then the load harness (internal/loadtest: AWS call economics against the AWS
## test server, and the omsecrets binary running as a daemon: latency, idle CPU, RSS), one run each.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem $$($(GO) list ./... | grep -v /internal/loadtest)
	$(GO) test -run='^$$' -bench=. -benchtime=1x -timeout=30m ./internal/loadtest

## chaos: the chaos tests at full size (internal/chaos: SIGKILL, a full tmpfs, OpenMetadata and store
## faults, a 10-minute soak, a Kubernetes churn of 20,000 pipeline and Secret changes, memory at 500 and
## 5,000 definitions); `go test ./...` runs them short.
.PHONY: chaos
chaos: $(OMSECRETS_KUBE_APISERVER)
	OMSECRETS_CHAOS=full $(GO) test -run Chaos -timeout 45m -count=1 -v ./internal/chaos/

## demo: resolve examples/local with its file store into tmpfs and show the result, values redacted.
demo: build
	BIN=$(BIN) ./scripts/demo.sh

## docs: rewrite the parts of README.md and docs/ made from the code's tables (flags, store settings, store specs);
## TestDocs (in make test) fails when the committed copies differ.
.PHONY: docs
docs:
	$(GO) test ./cmd/omsecrets -run '^TestDocs$$' -count=1 -update

docker:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .
	docker run --rm $(IMAGE) version

tidy-check:
	$(GO) mod tidy -diff

cover:
	$(GO) test -coverprofile=cover.out ./... && $(GO) tool cover -func=cover.out | tail -1

clean:
	rm -rf bin cover.out
