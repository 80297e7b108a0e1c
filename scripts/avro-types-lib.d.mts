// Types for avro-types-lib.mjs, so that the TypeScript test can import it under `strict`.
export const repoRoot: string;
export const schemasFile: string;
export const generatedFile: string;
export const bigIntLongSchemas: Set<string>;
export function loadSchemas(): Promise<Record<string, unknown>>;
export function renderAvroTypes(schemaModule: Record<string, unknown>): string;
