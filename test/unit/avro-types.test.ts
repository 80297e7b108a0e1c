// src/infra/nats/avro-types.generated.ts is what `npm run gen:avro` renders from schemas.ts: a changed
// schema fails here until the types are regenerated, and the typecheck then shows every use to fix.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generatedFile, loadSchemas, renderAvroTypes } from '../../scripts/avro-types-lib.mjs';
import * as schemas from '../../src/infra/nats/schemas.js';

const record = (fields: unknown[]) => ({ name: 'Sample', namespace: 'org.example', type: 'record', fields });

describe('generated Avro types', () => {
  it('are what `npm run gen:avro` renders from src/infra/nats/schemas.ts', async () => {
    const rendered = renderAvroTypes(await loadSchemas());
    expect(rendered, 'avro-types.generated.ts is out of date: run `npm run gen:avro` and commit the result')
      .toBe(readFileSync(generatedFile, 'utf8'));
  });

  it('change with a schema', () => {
    const renamed = structuredClone(schemas.clientDataSchema) as unknown as { fields: { name: string }[] };
    renamed.fields[0]!.name = 'correlationKey';
    const rendered = renderAvroTypes({ ...schemas, clientDataSchema: renamed });
    expect(rendered).toContain('  correlationKey: string;');
    expect(rendered).not.toBe(renderAvroTypes(schemas));
  });

  it('map each Avro type to the value avsc decodes it to', () => {
    const rendered = renderAvroTypes({
      sampleSchema: record([
        { name: 'id', type: 'string' },
        { name: 'count', type: 'long' },
        { name: 'ratio', type: ['null', 'double'] },
        { name: 'payload', type: 'bytes' },
        { name: 'digest', type: { name: 'Digest', type: 'fixed', size: 16 } },
        { name: 'flag', type: 'boolean' },
        { name: 'state', type: { name: 'State', type: 'enum', symbols: ['ON', 'OFF'] } },
        { name: 'tags', type: { type: 'array', items: ['null', 'string'] } },
        { name: 'children', type: { type: 'map', values: { name: 'child', type: 'record', fields: [{ name: 'n', type: 'int' }] } } },
      ]),
    });
    expect(rendered).toContain([
      '/** org.example.Sample */',
      'export interface Sample {',
      '  id: string;',
      '  count: number;',
      '  ratio: null | number;',
      '  payload: Buffer;',
      '  digest: Buffer;',
      '  flag: boolean;',
      '  state: State;',
      '  tags: (null | string)[];',
      '  children: Record<string, Child>;',
      '}',
    ].join('\n'));
    expect(rendered).toContain("export type State = 'ON' | 'OFF';");
    expect(rendered).toContain('export interface Child {\n  n: number;\n}');
    expect(rendered).toContain('  sampleSchema: Sample;');
  });

  it('give the traffic report BigInt longs and every other schema numbers', () => {
    const rendered = renderAvroTypes(schemas);
    expect(rendered).toContain('  timeFrom: bigint;');
    expect(rendered).toContain("new Set(['trafficReportSchema'])");
    expect(renderAvroTypes({ sampleSchema: record([{ name: 'count', type: 'long' }]) })).toContain('  count: number;');
  });

  it('refuse what avsc would not decode to a plain value, naming the schema', () => {
    expect(() => renderAvroTypes({ sampleSchema: record([{ name: 'either', type: ['int', 'string'] }]) }))
      .toThrow('sampleSchema: union ["int","string"] has more than one branch besides null');
    expect(() => renderAvroTypes({ sampleSchema: record([{ name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } }]) }))
      .toThrow('sampleSchema: logical type timestamp-millis is not supported');
  });
});
