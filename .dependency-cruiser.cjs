// The import rules of src/, checked by test/unit/dependency-rules.test.ts (and by hand with
// `npx depcruise src`). Data flows one way: cli/server/app → http → services → the lower layers
// (db, storage, auth, registry, errors, hashing, memory), and no module reaches itself again.
/** Modules of the layers that everything else builds on. */
const LOWER = '^src/(db|storage|auth|registry|errors|hashing|memory)/';
/** The HTTP layer, the domain services, the CLI and the process wiring. */
const HIGHER = '^src/(http|services|client)/|^src/(cli|cli-accounts|app|server|main|deps|config)\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'A module must not import one that imports it back, directly or through others.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'lower-imports-higher',
      comment: 'db, storage, auth, registry, errors, hashing and memory know nothing of HTTP, services, the CLI or config.ts.',
      severity: 'error',
      from: { path: LOWER },
      to: { path: HIGHER },
    },
    {
      name: 'services-import-http-or-cli',
      comment: 'The domain services are called by the HTTP layer and the CLI, never the other way round.',
      severity: 'error',
      from: { path: '^src/services/' },
      to: { path: '^src/(http|client)/|^src/(cli|cli-accounts|app|server|main|deps)\\.ts$' },
    },
    {
      name: 'storage-drivers-apart',
      comment: 'Each storage driver (storage/fs, storage/s3) stands alone: neither imports the other.',
      severity: 'error',
      from: { path: '^src/storage/(fs|s3)/' },
      to: { path: '^src/storage/(fs|s3)/', pathNot: '^src/storage/$1/' },
    },
    {
      name: 'storage-driver-outside-factory',
      comment: 'A storage driver is reached only through the factory (storage/create-blob-store.ts) and the BlobStore interface.',
      severity: 'error',
      from: { pathNot: '^src/storage/(fs/|s3/|create-blob-store\\.ts$)' },
      to: { path: '^src/storage/(fs|s3)/' },
    },
    {
      name: 'client-outside-cli',
      comment: "The CLI's HTTP client and its commands are the CLI's alone.",
      severity: 'error',
      from: { pathNot: '^src/client/|^src/cli\\.ts$' },
      to: { path: '^src/client/' },
    },
  ],
  options: {
    // TypeScript 7 has no compiler API for dependency-cruiser to parse with; swc reads .ts,
    // `import type` included.
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    // The web UI's browser app (src/ui/app) is a program of its own, bundled by esbuild with its own
    // tsconfig; swc's TypeScript parser here reads no TSX. test/unit/dependency-rules.test.ts checks
    // that it imports nothing outside its folder but packages.
    exclude: { path: 'node_modules|^src/ui/app/' },
  },
};
