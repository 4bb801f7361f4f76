# tether container image: the one `tether` binary (every subcommand), run as a non-root user.
#
#   docker build -t ghcr.io/tether-dev/tether:0.1.0 .
#
# The tag is the version `tether version` reports (project(VERSION) in CMakeLists.txt), which is
# also the tag deploy/controller/deployment.yaml runs. CI does not build this image (no container
# daemon there); see docs/deploy.md.

# ---- build: the Debian packages scripts/install-deps.sh installs for the binary (no test,
# fuzz, benchmark or lint tools), then a Release build of the `tether` target only.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libcurl4-openssl-dev libssl-dev libboost1.81-dev \
      nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev libcli11-dev \
      libre2-dev libexpected-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DTETHER_TESTS=OFF -DTETHER_BENCH=OFF \
 && cmake --build /build --target tether \
 && install -D -s /build/src/cli/tether /out/usr/local/bin/tether

# ---- runtime: only the shared libraries the binary links (ldd), CA certificates for HTTPS to
# Prometheus and notification receivers, and an unprivileged user whose numeric id matches the
# Deployment's runAsUser (restricted Pod Security needs a numeric, non-root user).
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libcurl4 libssl3 libyaml-cpp0.7 libfmt9 libspdlog1.10 libre2-9 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 tether \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin tether
COPY --from=build /out/ /
USER 65532:65532
# /metrics and /healthz, /readyz of `tether controller`.
EXPOSE 8080 8081
ENTRYPOINT ["tether"]
CMD ["--help"]
