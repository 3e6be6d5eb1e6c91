# Herald developer commands. `make test` is the test command (CI runs it via .ci/run).
#
#   make test    install + start the local AWS stand-ins, go test ./..., stop them
#   make bench   benchmarks, with the stand-ins up
#   make build   Lambda bootstraps (linux/arm64) into .aws-sam-build/<function>/bootstrap
#   make run     run Herald locally (embedded default, with the demo webhook)
#   make lint    gofmt + go vet
#
# The stand-ins (DynamoDB Local, SQS, SES v2, Lambda RIE) are managed by
# tests/standins/standins.sh; see tests/standin for how tests reach them.

GO ?= go
WITH_STANDINS := bash tests/standins/with-standins.sh

.PHONY: test bench build run lint standins-install standins-up standins-down

test:
	$(WITH_STANDINS) $(GO) test -count=1 ./...

bench:
	$(WITH_STANDINS) $(GO) test -run '^$$' -bench . -benchmem ./...

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
