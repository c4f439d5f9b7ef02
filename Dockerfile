# syntax=docker/dockerfile:1
# The vpnwatch production image.
#
#   docker build -t vpnwatch .            (or: podman build -t vpnwatch .)
#   docker run -d --name vpnwatch -p 8080:8080 \
#     -v vpnwatch-state:/var/lib/vpnwatch \
#     -v "$PWD/vpnwatch.yaml:/etc/vpnwatch/vpnwatch.yaml:ro" \
#     -e AZURE_CLIENT_ID -e AZURE_TENANT_ID -e AZURE_CLIENT_SECRET \
#     -e VPNWATCH_SERVICE__WEBHOOK__SECRET \
#     vpnwatch
#
# Secrets come from the environment or mounted files at run time; none is in the image. The
# image sets service.host, service.port and store.path through VPNWATCH_* variables, which win
# over the mounted file: listen on the container's interfaces, keep the store in the volume.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vpnwatch/ vpnwatch/
# Bytecode for everything, hash-based and unchecked: the image is immutable, so the .pyc stay
# valid whatever the file times after COPY --from, and the non-root user never needs to write
# them. Without them every start compiles azure-mgmt-network: 2.5 s and 300 MB instead of 0.4 s.
RUN python -m venv /opt/vpnwatch \
 && /opt/vpnwatch/bin/pip install --no-cache-dir --no-compile . \
 && /opt/vpnwatch/bin/python -m compileall -q -f -j 0 --invalidation-mode unchecked-hash \
      /opt/vpnwatch/lib \
 && /opt/vpnwatch/bin/python -c "import azure.mgmt.network.aio, vpnwatch.cli, vpnwatch.service.app"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="vpnwatch" \
      org.opencontainers.image.description="Monitoring agent for Azure hybrid connectivity: VPN gateways, ExpressRoute, BGP" \
      org.opencontainers.image.licenses="Apache-2.0"
# The standard library's bytecode too, when the base image does not ship it (a no-op otherwise).
RUN python -m compileall -q -j 0 /usr/local/lib/python3.11 \
 && groupadd --system --gid 10001 vpnwatch \
 && useradd --system --uid 10001 --gid vpnwatch --home-dir /var/lib/vpnwatch --no-create-home \
      --shell /usr/sbin/nologin vpnwatch \
 && install -d -o vpnwatch -g vpnwatch -m 0750 /var/lib/vpnwatch \
 && install -d -m 0755 /etc/vpnwatch
COPY --from=build /opt/vpnwatch /opt/vpnwatch
ENV PATH=/opt/vpnwatch/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VPNWATCH_SERVICE__HOST=0.0.0.0 \
    VPNWATCH_SERVICE__PORT=8080 \
    VPNWATCH_STORE__PATH=/var/lib/vpnwatch/vpnwatch.sqlite3
# The SQLite store: open incidents and their history survive a restart or an image upgrade.
VOLUME ["/var/lib/vpnwatch"]
USER 10001:10001
EXPOSE 8080
# /livez answers while the process serves HTTP; readiness (/readyz) is for load balancers, not
# for restarting a container that waits for Azure.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('VPNWATCH_SERVICE__PORT', '8080') + '/livez', timeout=4)"]
ENTRYPOINT ["vpnwatch"]
CMD ["run", "--config", "/etc/vpnwatch/vpnwatch.yaml"]
