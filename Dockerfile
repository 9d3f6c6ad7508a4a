# syntax=docker/dockerfile:1
# MedBlock node image. Build: `docker build -t medblock:latest .`
# Run: `docker run -v ./nodes/orderer-1:/etc/medblock:ro -v orderer-1-data:/var/lib/medblock medblock:latest`
# (`medblock testnet render --compose DIR` / `--kubernetes DIR` write the configs and key material).

# --- builder: the toolchain plus what RocksDB's bindings need (libclang) --------------------
FROM rust:1.95-bookworm AS builder
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The same script as a bare-metal install (README, "Release binary").
RUN scripts/install-release /out

# --- runtime: the binary only, as a non-root user ------------------------------------------
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 medblock \
 && useradd --system --uid 10001 --gid medblock --home-dir /var/lib/medblock medblock \
 && mkdir -p /var/lib/medblock /etc/medblock \
 && chown medblock:medblock /var/lib/medblock
COPY --from=builder /out/bin/medblock /usr/local/bin/medblock
USER 10001:10001
# Ledger, queues, EMRs, API tokens: keep them on a volume.
VOLUME ["/var/lib/medblock"]
# p2p (libp2p TCP) and HTTP (health, metrics, status, department API).
EXPOSE 7000 8080
# Configuration: a node.toml mounted at /etc/medblock (file), `--config` (flag), or
# MEDBLOCK_CONFIG (environment).
ENV MEDBLOCK_CONFIG=/etc/medblock/node.toml
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz >/dev/null || exit 1
ENTRYPOINT ["medblock"]
CMD ["node", "run"]
