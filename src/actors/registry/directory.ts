// Who holds what on this replica: which endpoint session receives each endpoint's pushes, every
// local session identified as an endpoint (revocations and claims reach them all), and which
// client sessions hold each credential. Bookkeeping only: what a claim or a revocation means for a
// session is its chart's decision.
export interface HeldEndpoint {
  readonly appVersionName: string;
}

export class Directory<Endpoint extends HeldEndpoint, Client> {
  /** endpointId → the endpoint session that receives its pushes. */
  private readonly holders = new Map<string, Endpoint>();
  /** endpointId → every local endpoint session identified as it (active or roamed). */
  private readonly identified = new Map<string, Set<Endpoint>>();
  private readonly credentialHolders = new Map<string, Set<Client>>();

  holderOf(endpointId: string): Endpoint | undefined {
    return this.holders.get(endpointId);
  }

  /** endpointId → appVersionName of every endpoint whose pushes this replica receives. */
  heldEndpoints(): Record<string, string> {
    const held: Record<string, string> = {};
    for (const [endpointId, session] of this.holders) held[endpointId] = session.appVersionName;
    return held;
  }

  /** `session` now receives the endpoint's pushes. Returns the other local sessions identified as it. */
  claim(session: Endpoint, endpointId: string): Endpoint[] {
    this.holders.set(endpointId, session);
    addTo(this.identified, endpointId, session);
    return this.identifiedAs(endpointId).filter((other) => other !== session);
  }

  release(session: Endpoint, endpointId: string | null): void {
    if (endpointId !== null && this.holders.get(endpointId) === session) this.holders.delete(endpointId);
  }

  holds(session: Endpoint, endpointId: string | null): boolean {
    return endpointId !== null && this.holders.get(endpointId) === session;
  }

  identifiedAs(endpointId: string): Endpoint[] {
    return [...(this.identified.get(endpointId) ?? [])];
  }

  /** The session has finished: it holds and is identified as nothing any more. */
  forgetEndpoint(session: Endpoint, endpointId: string | null): void {
    this.release(session, endpointId);
    if (endpointId !== null) removeFrom(this.identified, endpointId, session);
  }

  credentialsHeld(session: Client, credentialIds: readonly string[]): void {
    for (const credentialId of credentialIds) addTo(this.credentialHolders, credentialId, session);
  }

  credentialsReleased(session: Client, credentialIds: readonly string[]): void {
    for (const credentialId of credentialIds) removeFrom(this.credentialHolders, credentialId, session);
  }

  holdersOfCredential(credentialId: string): Client[] {
    return [...(this.credentialHolders.get(credentialId) ?? [])];
  }
}

function addTo<T>(map: Map<string, Set<T>>, key: string, item: T): void {
  let items = map.get(key);
  if (items === undefined) map.set(key, (items = new Set()));
  items.add(item);
}

function removeFrom<T>(map: Map<string, Set<T>>, key: string, item: T): void {
  const items = map.get(key);
  items?.delete(item);
  if (items?.size === 0) map.delete(key);
}
