// The layer rules of src/, checked in `npm test` (test/unit/layers.test.ts) and by `npm run lint:layers`.
// Type-only imports count as dependencies (tsPreCompilationDeps): a cycle through types is still a cycle.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-file-cycles',
      comment: 'Files import each other only one way.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      comment: 'Folders of src/ (at every depth) depend on each other only one way.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'charts-import-only-xstate',
      comment: 'The charts in src/machines are pure: xstate and each other, nothing else.',
      severity: 'error',
      from: { path: '^src/machines/' },
      to: { pathNot: ['^src/machines/', '^node_modules/xstate/'] },
    },
    {
      name: 'core-never-imports-adapters',
      comment: 'src/actors (the core) owns its ports; adapters implement them. It never imports src/infra or the composition root.',
      severity: 'error',
      from: { path: '^src/actors/' },
      to: { path: ['^src/infra/', '^src/main[./]'] },
    },
    {
      name: 'adapters-never-import-the-composition-root',
      comment: 'Only src/main.ts and src/main/ put the pieces together.',
      severity: 'error',
      from: { path: '^src/(actors|infra|machines)/' },
      to: { path: '^src/main[./]' },
    },
    {
      name: 'product-never-imports-dev-or-test-code',
      comment: 'src/ is what ships: the dev stack, benchmarks, scripts and tests stay outside it.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(dev|test|bench|scripts|dist|dist-dev)/' },
    },
    {
      name: 'product-imports-only-what-ships',
      comment: 'src/ imports production dependencies and node built-ins only (devDependencies are not in the image).',
      severity: 'error',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev', 'npm-no-pkg', 'npm-unknown', 'unknown', 'undetermined'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
