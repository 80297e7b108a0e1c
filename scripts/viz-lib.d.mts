// Types for viz-lib.mjs, so that the TypeScript test can import it under `strict`.
export interface MachineModule {
  /** Repository-relative path of the source, e.g. `src/machines/registry.machine.ts`. */
  file: string;
  exports: Record<string, unknown>;
}
export const repoRoot: string;
export const outputDir: string;
export function loadMachineModules(from: 'src' | 'dist'): Promise<MachineModule[]>;
export function renderVisualizations(modules: MachineModule[]): Promise<Map<string, string>>;
export function compareWithFolder(files: Map<string, string>, dir?: string): string[];
