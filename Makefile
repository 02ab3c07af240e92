# The two commands a newcomer needs (README): `make dev` and `make test`.
.PHONY: dev test build

export PATH := $(PATH):/usr/local/go/bin

dev:
	scripts/ensure-postgres.sh
	go run ./cmd/fleetpulse dev

test:
	scripts/test.sh

build:
	go build -o bin/ ./cmd/...
