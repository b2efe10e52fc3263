# syntax=docker/dockerfile:1
# chaingate image: TypeScript compiled in a Node 24 build stage; the runtime stage is distroless
# (no shell, no package manager) and holds only package.json, production node_modules, dist/, the
# example chains and Node's compile cache of the bundle. Build from the repository root:
# docker build -t chaingate:0.1.0 .

# The base images, as build arguments so that a build without Docker Hub or gcr.io can substitute
# local stand-ins (test/node/image.ts); the defaults are the public images.
ARG BUILD_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

# ---- build ---------------------------------------------------------------------------------
FROM ${BUILD_IMAGE} AS build
WORKDIR /app
ENV NODE_ENV=development npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

# Dependencies first, so the layer is reused while only sources change. --ignore-scripts: no
# production dependency has an install script; the dev-only ones that do (the `node` package,
# which would download a second Node binary, and esbuild) are not needed to compile, and the
# `prepare` script (tsc) would run before the sources are here.
COPY package.json package-lock.json ./
# npm ci first (exactly the lockfile). It refuses a lockfile that lacks the optional
# platform-specific packages of a dependency (rollup's, via vitest), which happens when the lock
# was written against a registry mirror that does not carry them; then npm install, which keeps
# every locked version and only resolves the missing optional entries.
RUN npm ci --ignore-scripts \
 || { echo 'npm ci refused package-lock.json; installing the locked versions with npm install' >&2; \
      npm install --ignore-scripts --no-save; }

COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.ts ./scripts/bundle.ts
COPY src ./src
# tsc, then esbuild's one-file bundle of chaingate and its dependencies (scripts/bundle.ts).
RUN npm run build

# Drop devDependencies (typescript, vitest, node, @aws-cdk/lambda-layer-kubectl-v33, ...).
RUN npm prune --omit=dev --ignore-scripts && find node_modules -depth -type d -empty -delete

# The runtime stage's uid fills this with Node's compile cache (below); it must own it.
RUN mkdir compile-cache

# ---- runtime -------------------------------------------------------------------------------
# debian12 like the build stage (same glibc); :nonroot runs as uid/gid 65532.
FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production

COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# `chaingate serve` with no cluster and no --chains serves these.
COPY examples ./examples
COPY --from=build --chown=65532:65532 /app/compile-cache ./compile-cache

USER 65532:65532
# Node's compile cache: V8's code for the bundle, made here by the node and the uid that run it
# (Node keeps one directory per version and uid), so that each start skips compiling most of the
# bundle (BENCHMARKS.md, chain load). --version loads the whole bundle and exits. At run time
# the cache is only read: Node writes nothing when it matches, and ignores a read-only directory.
ENV NODE_COMPILE_CACHE=/app/compile-cache
RUN ["/nodejs/bin/node", "--max-semi-space-size=8", "dist/bundle/chaingate.cjs", "--version"]
# 9443: HTTPS admission; 8081: /healthz, /readyz, /metrics.
EXPOSE 9443 8081
# The distroless Node images keep node at /nodejs/bin/node (their own ENTRYPOINT).
# dist/bundle/chaingate.cjs is chaingate in one file: Node starts it about a second sooner than
# the ~1,200 module files of dist/cli and node_modules (BENCHMARKS.md, chain load). No
# --enable-source-maps: parsing the bundle's map at start-up cost half of that again; stack
# traces name the bundle's lines (`node scripts/bundle.ts --sourcemap` writes a map for them).
# --max-semi-space-size=8: V8's default young generation let garbage from loading 10,000
# chains raise the peak RSS by ~70 MiB over the 400 MiB goal (BENCHMARKS.md, scale); 8 MiB
# semi-spaces keep it under, and reviews allocate little enough not to notice.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=8", "dist/bundle/chaingate.cjs"]
# /app is read-only for uid 65532 (and the chart mounts the root filesystem read-only): a
# generated certificate goes to /tmp. The chart passes its own arguments.
CMD ["serve", "--cert-dir", "/tmp/certs"]
