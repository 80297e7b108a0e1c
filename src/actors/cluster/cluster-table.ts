// Which replica holds which endpoint, as the fold of the 9/ELCE events seen (pushes for an endpoint
// held elsewhere are republished to that replica),
// completed by what other replicas say they hold when this one first hears of them (a replica that
// starts later has missed their earlier events).

export class ClusterTable {
  private readonly replicaByEndpoint = new Map<string, string>();

  connected(endpointIds: Iterable<string>, replicaId: string): void {
    for (const endpointId of endpointIds) this.replicaByEndpoint.set(endpointId, replicaId);
  }

  /** What a replica says it holds right now: fills in endpoints the events have not told us about. */
  learned(endpointIds: Iterable<string>, replicaId: string): void {
    for (const endpointId of endpointIds) {
      if (!this.replicaByEndpoint.has(endpointId)) this.replicaByEndpoint.set(endpointId, replicaId);
    }
  }

  /** A replica's `disconnected` only clears what that replica held: a later claim elsewhere wins. */
  disconnected(endpointIds: Iterable<string>, replicaId: string): void {
    for (const endpointId of endpointIds) {
      if (this.replicaByEndpoint.get(endpointId) === replicaId) this.replicaByEndpoint.delete(endpointId);
    }
  }

  /** A replica that is gone (shut down or declared dead) holds nothing any more. */
  forgetReplica(replicaId: string): number {
    let forgotten = 0;
    for (const [endpointId, holder] of this.replicaByEndpoint) {
      if (holder === replicaId) {
        this.replicaByEndpoint.delete(endpointId);
        forgotten++;
      }
    }
    return forgotten;
  }

  replicaOf(endpointId: string): string | undefined {
    return this.replicaByEndpoint.get(endpointId);
  }
}
