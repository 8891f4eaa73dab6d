# syntax=docker/dockerfile:1
# Omega, CPU image. Build: docker build -t omega:cpu .
# Run:   docker run --read-only --tmpfs /tmp --stop-timeout 40 -p 8080:8080 \
#          -v /srv/models/all-MiniLM-L6-v2:/models/model:ro -v omega-data:/var/lib/omega omega:cpu
# (docs/OPERATIONS.md: deploy with containers). The GPU image is Dockerfile.cuda.

# ---- build stage: the README's own install script, then a release build installed to /opt/omega
FROM debian:12 AS build
WORKDIR /src
COPY tools/install-deps.sh tools/install-deps.sh
# OMEGA_DEPS=build: only the compiler and the -dev packages (no test tools in the build stage)
RUN OMEGA_DEPS=build tools/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DOMEGA_BUILD_TESTS=OFF -DOMEGA_BUILD_BENCH=OFF -DOMEGA_CUDA=OFF \
 && cmake --build /build -j"$(nproc)" \
 && cmake --install /build --prefix /opt/omega --strip

# ---- runtime stage: the shared libraries omega links (ldd build/omega: OpenBLAS, jansson,
# libmicrohttpd, utf8proc, oniguruma, libcrypto, zlib; libgfortran5 comes with libopenblas0) and curl for
# the HEALTHCHECK (1.5 MB; its -f exit status is the HTTP status, which is all a probe needs)
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libopenblas0 libjansson4 libmicrohttpd12 libutf8proc2 libonig5 libssl3 zlib1g curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 omega \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/omega --no-create-home --shell /usr/sbin/nologin omega \
 && mkdir -p /models /var/lib/omega /etc/omega \
 && chown 10001:10001 /var/lib/omega
COPY --from=build /opt/omega/bin/omega /usr/local/bin/omega
COPY ops/config/omega-accel-defaults.env /etc/omega/omega.env
RUN /usr/local/bin/omega --help > /dev/null

# Settings come from /etc/omega/omega.env (the defaults file), then the environment (-e KEY=VALUE
# overrides any of them), then the command line. The model folder is mounted at /models/model.
# The HMAC secret: mount it (e.g. at /run/secrets/omega-hmac) and set OMEGA_HMAC_SECRET_FILE.
ENV OMEGA_CONFIG_FILE=/etc/omega/omega.env \
    OMEGA_MODEL=/models/model \
    OMEGA_DATA_DIR=/var/lib/omega
VOLUME ["/models", "/var/lib/omega"]
EXPOSE 8080
USER 10001:10001
# /ready: 200 once the model is loaded and warmed, 503 while loading or draining. curl -f turns
# an HTTP error into a non-zero exit; the start period covers loading a large model.
HEALTHCHECK --interval=10s --timeout=3s --start-period=300s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "--max-time", "2", "http://127.0.0.1:8080/ready"]
# Exec form: omega is PID 1 and gets SIGTERM itself (it drains for OMEGA_DRAIN_GRACE_MS, then
# exits 0; give docker stop a longer --stop-timeout). No init: omega waits for its signals with
# sigwait, so PID 1's default-ignore rule does not apply, and it starts no child processes to reap.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/omega", "serve"]
CMD ["--host", "0.0.0.0", "--port", "8080"]
