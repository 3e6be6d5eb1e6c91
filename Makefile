# Herald developer commands. `make test` is the test command (CI runs it via .ci/run).
#
#   make test    install + start the local AWS stand-ins, go test ./..., stop them (and npm ci
#                the packages the console's tests read)
#   make bench   benchmarks, with the stand-ins up
#   make fault-suite  the fault suite at full size (10,000 events; the test command runs 300)
#                and the five-SIGKILL test, with the stand-ins up; prints the figures
#   make build   Lambda bootstraps (linux/arm64) into .aws-sam-build/<function>/bootstrap
#   make run     run Herald locally (embedded default, with the demo webhook)
#   make lint    gofmt + go vet
#
# The stand-ins (DynamoDB Local, SQS, SES v2, Lambda RIE) are managed by
# tests/standins/standins.sh; see tests/standin for how tests reach them.

GO ?= go
WITH_STANDINS := bash tests/standins/with-standins.sh

.PHONY: test bench fault-suite cost build run lint npm-deps console-vendor standins-install standins-up standins-down

test: npm-deps
	$(WITH_STANDINS) $(GO) test -count=1 ./...

# The npm packages the tests read: the console's pinned front-end libraries (to check the
# vendored copies) and axe-core for the browser tests. npm ci only when the lock file changed.
NPM_DIRS := infra/console tests/browser
npm-deps:
	@for d in $(NPM_DIRS); do \
		if [ ! -f $$d/node_modules/.package-lock.json ] || [ $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; then \
			echo "npm ci in $$d"; (cd $$d && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
		fi; \
	done

# Refresh the console's vendored libraries from the versions infra/console/package.json pins.
console-vendor:
	cd infra/console && npm ci --no-audit --no-fund --loglevel=error
	cp infra/console/node_modules/@picocss/pico/css/pico.min.css infra/console/assets/vendor/pico.min.css
	cp infra/console/node_modules/@picocss/pico/LICENSE.md infra/console/assets/vendor/pico.LICENSE.md

# The delivery benchmark's ratio moves by ±0.05 in a 1-s run, as much as what it measures:
# it runs for 5 s, after the others.
bench:
	$(WITH_STANDINS) $(GO) test -run '^$$' -bench . -skip DeliveryPathVsBareClient -benchmem ./...
	$(GO) test -run '^$$' -bench DeliveryPathVsBareClient -benchtime 5s -benchmem ./tests/bench

FAULT_EVENTS ?= 10000
fault-suite:
	HERALD_FAULT_EVENTS=$(FAULT_EVENTS) $(WITH_STANDINS) $(GO) test -count=1 -v -timeout 60m \
		-run 'TestFaultSuite|TestKilledFiveTimesUnderLoadLosesNothing' ./tests/e2e ./tests/local

build:
	@set -e; for dir in functions/*/; do \
		[ -d "$$dir" ] || continue; \
		ls "$$dir"*.go >/dev/null 2>&1 || continue; \
		name=$$(basename "$$dir"); \
		echo "build functions/$$name -> .aws-sam-build/$$name/bootstrap"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags=-s -tags lambda.norpc \
			-o .aws-sam-build/$$name/bootstrap ./functions/$$name; \
	done

run:
	$(GO) run ./infra/herald -demo

lint:
	@files=$$(find . -type d \( -name node_modules -o -name '.?*' \) -prune -o -type f -name '*.go' -print); \
	unformatted=$$(gofmt -l $$files); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# Manual control of the stand-ins (e.g. to run one package's tests repeatedly):
#   make standins-up && . tests/standins/.run/env && go test ./some/pkg && make standins-down
standins-install:
	bash tests/standins/standins.sh install

standins-up: standins-install
	bash tests/standins/standins.sh up

standins-down:
	bash tests/standins/standins.sh down

# What a million deliveries cost (issue 12): the workloads of tests/cost through the real
# handlers on the stand-ins, priced at tests/cost/prices.json; prints a table per workload.
cost:
	HERALD_COST_REPORT=1 $(WITH_STANDINS) $(GO) test -count=1 -run TestCost -v ./tests/cost
