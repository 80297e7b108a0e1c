import { describe, expect, it } from 'vitest';
import { ClusterTable } from '../../src/actors/cluster/cluster-table.js';
import { ReplicaLiveness } from '../../src/actors/cluster/replica-liveness.js';

describe('cluster table (fold of ELCE events)', () => {
  it('follows the latest claim and ignores a stale replica disconnecting', () => {
    const table = new ClusterTable();
    table.connected(['e1', 'e2'], 'r1');
    table.connected(['e1'], 'r2'); // e1 roamed to r2
    table.disconnected(['e1', 'e2'], 'r1'); // r1 leaving must not clear r2's e1
    expect(table.replicaOf('e1')).toBe('r2');
    expect(table.replicaOf('e2')).toBeUndefined();
  });

  it('fills in what a replica says it holds, without overriding what the events said', () => {
    const table = new ClusterTable();
    table.connected(['e1'], 'r2');
    table.learned(['e1', 'e2'], 'r1');
    expect([table.replicaOf('e1'), table.replicaOf('e2')]).toEqual(['r2', 'r1']);
  });

  it('forgets everything a gone replica held', () => {
    const table = new ClusterTable();
    table.connected(['e1', 'e2'], 'r1');
    table.connected(['e3'], 'r2');
    expect(table.forgetReplica('r1')).toBe(2);
    expect([table.replicaOf('e1'), table.replicaOf('e3')]).toEqual([undefined, 'r2']);
  });
});

describe('replica liveness', () => {
  it('declares a replica gone once it has been silent for the timeout, never itself', () => {
    const gone: string[] = [];
    const liveness = new ReplicaLiveness('me', 15_000, (replica) => gone.push(replica));
    liveness.seen('me', 0);
    liveness.seen('r1', 0);
    liveness.seen('r2', 0);
    liveness.seen('r2', 10_000);
    liveness.sweep(14_999);
    expect(gone).toEqual([]);
    liveness.sweep(15_000);
    expect(gone).toEqual(['r1']);
    liveness.sweep(25_000);
    expect(gone).toEqual(['r1', 'r2']);
    expect(liveness.knownReplicas).toEqual([]);
  });

  it('a replica that left is forgotten at once and never declared gone; heard of again, it is new', () => {
    const gone: string[] = [];
    const heardOf: string[] = [];
    const liveness = new ReplicaLiveness('me', 1_000, (replica) => gone.push(replica), (replica) => heardOf.push(replica));
    liveness.seen('r1', 0);
    expect(liveness.left('r1')).toBe(true);
    expect(liveness.left('r1')).toBe(false);
    liveness.sweep(5_000);
    expect(gone).toEqual([]);
    liveness.seen('r1', 6_000);
    expect(heardOf).toEqual(['r1', 'r1']);
  });

  it('reports a replica the first time it is heard of, and again when it comes back after being declared gone', () => {
    const heardOf: string[] = [];
    const liveness = new ReplicaLiveness('me', 1_000, () => {}, (replica) => heardOf.push(replica));
    liveness.seen('r1', 0);
    liveness.seen('r1', 500);
    liveness.seen('me', 500);
    liveness.sweep(1_500);
    liveness.seen('r1', 2_000);
    expect(heardOf).toEqual(['r1', 'r1']);
  });
});
