# syntax=docker/dockerfile:1
# orgsecrets-controller image: built on Debian 12 exactly the way CI builds
# (scripts/deps.sh, the lean static libcurl of scripts/curl.sh, then CMake
# with -DORGSECRETS_WERROR=ON), run on distroless (glibc, libssl3, CA
# certificates; no shell, no package manager). The lean libcurl is built from
# the Debian source of the libcurl4-openssl-dev installed here, so a curl
# security update reaches the image when the image is rebuilt.
# tests/install (validate.js dockerfile) keeps the build commands in step
# with the Makefile.

FROM debian:12 AS build
WORKDIR /src
# Dependencies first, so that source edits reuse this layer.
COPY scripts/deps.sh scripts/deps.sh
RUN bash scripts/deps.sh && rm -rf /var/lib/apt/lists/*
# HTTP/HTTPS-only static libcurl from Debian's patched source (scripts/curl.sh
# fetches it with its own apt configuration and leaves no apt lists behind).
COPY scripts/curl.sh scripts/curl.sh
RUN bash scripts/curl.sh /src/build/_deps/curl
COPY . .
RUN cmake -S . -B build -DORGSECRETS_WERROR=ON -DORGSECRETS_CURL_PREFIX=/src/build/_deps/curl -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target orgsecrets orgsecrets-controller -j "$(nproc)"
# Stage the binaries and the shared libraries they need beyond what
# distroless/base already has (glibc and OpenSSL 3), at their real paths
# (libcurl is linked in, so none of its Kerberos, LDAP, RTMP or SSH ones).
RUN set -eu; \
    mkdir -p /staging/usr/local/bin; \
    for bin in orgsecrets orgsecrets-controller; do \
      install -m 0755 "$(find build -type f -name "$bin" -perm -u+x | head -n 1)" /staging/usr/local/bin/; \
    done; \
    ldd /staging/usr/local/bin/orgsecrets /staging/usr/local/bin/orgsecrets-controller \
      | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u > /tmp/libs; \
    while read -r lib; do \
      case "$(basename "$lib")" in \
        libc.so.*|libm.so.*|libdl.so.*|librt.so.*|libpthread.so.*|libresolv.so.*|ld-linux*|libssl.so.3|libcrypto.so.3) continue ;; \
      esac; \
      dir="/staging$(readlink -f "$(dirname "$lib")")"; \
      mkdir -p "$dir"; \
      cp -L "$lib" "$dir/"; \
    done < /tmp/libs; \
    find /staging -type f | sort

FROM gcr.io/distroless/base-debian12:nonroot
LABEL org.opencontainers.image.title="orgsecrets-controller" \
      org.opencontainers.image.description="Delivers age-sealed organization secrets from Git to Kubernetes" \
      org.opencontainers.image.source="https://github.com/orgsecrets/orgsecrets" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /staging/ /
USER 65532:65532
EXPOSE 8080 8443
ENTRYPOINT ["/usr/local/bin/orgsecrets-controller"]
