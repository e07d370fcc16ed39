# orgsecrets-controller image: built on Debian 12 (scripts/deps.sh build,
# the lean static libcurl of scripts/curl.sh, CMake with -DORGSECRETS_WERROR=ON
# and the tests off, `cmake --install`), run on distroless (glibc, libssl3, CA
# certificates; no shell, no package manager) as 65532. The lean libcurl is
# built from the Debian source of the libcurl4-openssl-dev installed here, so
# a curl security update reaches the image when the image is rebuilt.
# tests/install (validate.js dockerfile) keeps the build commands in step
# with the Makefile; install.image_build builds this file with buildah.
#
# The base images are pinned by digest (a tag can move; a digest cannot).
# To update them, look up the current digests and replace both below, e.g.
#   skopeo inspect --format '{{.Digest}}' docker://docker.io/library/debian:12
#   skopeo inspect --format '{{.Digest}}' docker://gcr.io/distroless/base-debian12:nonroot
# then rebuild and run `ctest -R install.image` (skopeo is a Debian package).
# Both can be overridden, e.g. for a local mirror or an offline build:
#   --build-arg BUILD_IMAGE=... --build-arg RUNTIME_IMAGE=...
ARG BUILD_IMAGE=docker.io/library/debian:12@sha256:b4042f895d5d1f8df415caebe7c416f9dbcf0dc8867abb225955006de50b21f3
ARG RUNTIME_IMAGE=gcr.io/distroless/base-debian12:nonroot@sha256:8b9f2e503e55aff85b79d6b22c7a63a65170e8698ae80de680e3f5ea600977bf

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
# Build dependencies only (no test toolchain), first, so that source edits
# reuse this layer.
COPY scripts/deps.sh scripts/deps.sh
RUN bash scripts/deps.sh build && rm -rf /var/lib/apt/lists/*
# HTTP/HTTPS-only static libcurl from Debian's patched source (scripts/curl.sh
# fetches it with its own apt configuration, scripts/debian-source.sh, and
# leaves no apt lists behind).
COPY scripts/curl.sh scripts/debian-source.sh scripts/
RUN bash scripts/curl.sh /src/build/_deps/curl
COPY . .
RUN cmake -S . -B build -DORGSECRETS_WERROR=ON -DORGSECRETS_TESTS=OFF -DORGSECRETS_CURL_PREFIX=/src/build/_deps/curl -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target orgsecrets orgsecrets-controller -j "$(nproc)"
# The binaries (cmake --install) and the shared libraries they need beyond
# what distroless/base already has (libcurl is linked in, so none of its
# Kerberos, LDAP, RTMP or SSH ones).
RUN bash scripts/image-stage.sh build /staging

FROM ${RUNTIME_IMAGE}
# VERSION is project(VERSION) in CMakeLists.txt (validate.js checks it);
# REVISION is the source's commit, e.g. --build-arg REVISION=$(git rev-parse HEAD).
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="orgsecrets-controller" \
      org.opencontainers.image.description="Delivers age-sealed organization secrets from Git to Kubernetes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/orgsecrets/orgsecrets" \
      org.opencontainers.image.url="https://github.com/orgsecrets/orgsecrets" \
      org.opencontainers.image.documentation="https://github.com/orgsecrets/orgsecrets/blob/main/docs/install.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/base-debian12:nonroot"
COPY --from=build /staging/ /
USER 65532:65532
EXPOSE 8080 8443
ENTRYPOINT ["/usr/local/bin/orgsecrets-controller"]
