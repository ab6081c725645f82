# kube-api-ambassador: build with the dev dependencies, ship only the compiled output and the
# production dependencies on a distroless Node.js 24 (LTS) base: no shell, no package manager,
# a fixed non-root user. test/integration/image.test.ts performs these same steps and runs the result.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund
# Type declarations, source maps and docs are half of node_modules and unused at run time.
RUN find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' \) -delete

FROM gcr.io/distroless/nodejs24-debian12:nonroot
LABEL org.opencontainers.image.title="kube-api-ambassador" \
      org.opencontainers.image.description="A sidecar that gives every program in a pod a safe, observable door to the Kubernetes API at http://localhost:8001" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0"
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# distroless "nonroot": uid and gid 65532. The root filesystem may be read-only: nothing is written.
USER 65532:65532
EXPOSE 8002
# The V8 old generation is sized from the container's memory limit, which Node reads from its
# cgroup: half of it (96 MiB in the manifests' 192Mi). Measured with wrk in front of nginx (the
# bench's, 4 s cells, repeated; a shared machine): unbounded, the old generation grew to 60-80 MiB
# under 64 connections of /version (peak RSS 136-142 MiB); at half the limit the peak was 105 MiB at
# the same CPU per request. A third, a quarter or an eighth made the 5 MB list at 16-64 connections
# 1.2-2.5x dearer (mark-compacts); 2 MiB semi-spaces added RSS without saving CPU. The same limit
# reaches the program as --memory-limit (KUBE_API_AMBASSADOR_MEMORY_LIMIT) for its budget.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=1", "--max-old-space-size-percentage=50", "/app/dist/main.js"]
