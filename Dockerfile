# The buildit binary in a small Debian image, for server mode
# (docker-compose.yml runs it as `migrate`, `server` and `worker`).
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t buildit .
#   docker run --rm -e DATABASE_URL=... -p 8080:8080 buildit            # buildit server
#   docker run --rm -e DATABASE_URL=... buildit migrate
#
# Plain Dockerfile syntax only (no heredocs, no RUN --mount), so that both the
# classic builder and BuildKit accept it.

# go.mod asks for Go 1.26.8; the official golang images set GOTOOLCHAIN=local,
# so the 1.26 tag must point at 1.26.8 or newer (it does once it is pulled
# fresh). internal/repotest checks that this tag and go.mod agree.
FROM golang:1.26-bookworm AS build

WORKDIR /src

# Modules first, in a layer of their own: it is rebuilt only when go.mod or
# go.sum change.
COPY go.mod go.sum ./
RUN go mod download

COPY . .

# The same link-time version as `make build` (Makefile: -X main.version=…).
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/buildit ./cmd/buildit


FROM debian:bookworm-slim

# git: workers check out a run's repository into its workspace; ssh for
# ssh:// and user@host:path repositories.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates git openssh-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --create-home \
        --home-dir /home/buildit --shell /usr/sbin/nologin buildit \
    && install -d -o buildit -g buildit /var/lib/buildit/workspaces

COPY --from=build /out/buildit /usr/local/bin/buildit

USER buildit
WORKDIR /home/buildit

# `buildit server` listens on 127.0.0.1:8080 by default, which nothing outside
# the container can reach; listen on every interface here (--addr overrides).
ENV BUILDIT_ADDR=0.0.0.0:8080
EXPOSE 8080

# No HEALTHCHECK: the slim image has no curl or wget and buildit has no
# health-probe command; probe GET /healthz (up) and /readyz (schema current)
# from outside, for example from the orchestrator.

ENTRYPOINT ["/usr/local/bin/buildit"]
CMD ["server"]
