# clipd in a container: a headless daemon with the in-memory clipboard, for a server or a
# relay between machines. Build: docker build -t clipd .
# Run:   docker run -d -p 7439:7439 -v clipd-state:/var/lib/clipd/state clipd

ARG SWIFT_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl-dev libwayland-dev libx11-dev libxfixes-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product clipd --static-swift-stdlib \
    && install -m 0755 .build/release/clipd /usr/local/bin/clipd

FROM ${RUNTIME_IMAGE}
# Runtime needs OpenSSL's libcrypto, libX11 + libXfixes and libwayland-client (the desktop
# backends are linked in); the Swift runtime is linked statically.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 libwayland-client0 libx11-6 libxfixes3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 clipd \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/clipd --create-home clipd \
    && install -d -m 0700 -o clipd -g clipd /var/lib/clipd/state
COPY --from=build /usr/local/bin/clipd /usr/local/bin/clipd
USER 10001:10001
ENV CLIPD_HOME=/var/lib/clipd/state
VOLUME ["/var/lib/clipd/state"]
EXPOSE 7439
ENTRYPOINT ["/usr/local/bin/clipd"]
CMD ["run", "--backend", "memory", "--listen", "0.0.0.0:7439"]
