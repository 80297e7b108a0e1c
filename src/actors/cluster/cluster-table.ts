// Which replica holds which endpoint, as the fold of the 9/ELCE events seen (pushes for an endpoint
// held elsewhere are republished to that replica),
// completed by what other replicas say they hold when this one first hears of them (a replica that
// starts later has missed their earlier events).
//
// Each endpoint also keeps its application version, so that the endpoints of a replica that died
// can be announced disconnected on its behalf (9/ELCE events list endpointId → appVersionName).
// The (replica, version) pairs are few and shared, so an entry costs no more than a replica id did.

interface Holder {
  readonly replicaId: string;
  readonly appVersionName: string;
}

/** endpointId → appVersionName, as 9/ELCE events and endpoint lists carry them. */
export type EndpointVersions = Record<string, string>;

export class ClusterTable {
  private readonly holderByEndpoint = new Map<string, Holder>();
  private readonly holders = new Map<string, Holder>();

  connected(endpoints: EndpointVersions, replicaId: string): void {
    for (const [endpointId, appVersionName] of Object.entries(endpoints)) {
      this.holderByEndpoint.set(endpointId, this.holder(replicaId, appVersionName));
    }
  }

  /** What a replica says it holds right now: fills in endpoints the events have not told us about. */
  learned(endpoints: EndpointVersions, replicaId: string): void {
    for (const [endpointId, appVersionName] of Object.entries(endpoints)) {
      if (!this.holderByEndpoint.has(endpointId)) this.holderByEndpoint.set(endpointId, this.holder(replicaId, appVersionName));
    }
  }

  /** A replica's `disconnected` only clears what that replica held: a later claim elsewhere wins. */
  disconnected(endpointIds: Iterable<string>, replicaId: string): void {
    for (const endpointId of endpointIds) {
      if (this.holderByEndpoint.get(endpointId)?.replicaId === replicaId) this.holderByEndpoint.delete(endpointId);
    }
  }

  /** A replica that is gone (shut down or declared dead) holds nothing any more; returns what it held. */
  forgetReplica(replicaId: string): EndpointVersions {
    const forgotten: EndpointVersions = {};
    for (const [endpointId, holder] of this.holderByEndpoint) {
      if (holder.replicaId !== replicaId) continue;
      this.holderByEndpoint.delete(endpointId);
      forgotten[endpointId] = holder.appVersionName;
    }
    for (const [key, holder] of this.holders) if (holder.replicaId === replicaId) this.holders.delete(key);
    return forgotten;
  }

  replicaOf(endpointId: string): string | undefined {
    return this.holderByEndpoint.get(endpointId)?.replicaId;
  }

  private holder(replicaId: string, appVersionName: string): Holder {
    const key = `${replicaId}\n${appVersionName}`;
    let holder = this.holders.get(key);
    if (holder === undefined) this.holders.set(key, (holder = { replicaId, appVersionName }));
    return holder;
  }
}
