# syntax=docker/dockerfile:1
#
# One image holds every fleetpulse binary; docker-compose.yml picks the one a
# service runs with its command. Build: docker build -t fleetpulse .

# ---- build: every main package under cmd/, static, without local paths ----
FROM golang:1.26 AS build
WORKDIR /src
# go.mod asks for go 1.26.8: use the image's toolchain, never download one.
ENV GOTOOLCHAIN=local
# No `go mod download`: it would fetch every module go.mod requires, DuckDB's
# native libraries for five platforms (~570 MB) among them, which only a test
# package links. go build fetches what the binaries import.
COPY go.mod go.sum ./
COPY . .
# timetzdata embeds the IANA time zone database: daily aggregates are cut at
# each device's local midnight whatever the runtime image carries.
RUN CGO_ENABLED=0 go build -trimpath -tags timetzdata -ldflags="-s -w" -o /out/ ./cmd/...

# ---- runtime: no shell, no package manager, runs as uid 65532 ----
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
# command API, read API, projector health and metrics
EXPOSE 8080 8081 8082
CMD ["/usr/local/bin/fleetpulse", "help"]
