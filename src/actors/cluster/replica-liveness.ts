// Noticing replicas that vanished without a clean shutdown (kill -9, node loss): every replica
// heartbeats on NATS; a replica silent for `missedBeats` intervals is declared gone and its
// endpoints leave the cluster table, so pushes for them are no longer forwarded into the void.
// (A replica that shuts down cleanly announces its endpoints disconnected itself, then says it is
// leaving: `left` forgets it at once, with no "gone" alarm.)

export class ReplicaLiveness {
  private readonly lastSeen = new Map<string, number>();

  constructor(
    private readonly selfReplicaId: string,
    private readonly timeoutMs: number,
    private readonly onGone: (replicaId: string) => void,
    /** A replica not known (any more): just started, or back after being declared gone. */
    private readonly onNew: (replicaId: string) => void = () => {},
  ) {}

  /** A heartbeat, or any sign of life such as an ELCE event from that replica. */
  seen(replicaId: string, now: number): void {
    if (replicaId === this.selfReplicaId) return;
    const known = this.lastSeen.has(replicaId);
    this.lastSeen.set(replicaId, now);
    if (!known) this.onNew(replicaId);
  }

  /** The replica shut down cleanly: forget it now (true if it was known), so no sweep declares it gone. */
  left(replicaId: string): boolean {
    return this.lastSeen.delete(replicaId);
  }

  /** Declares gone every replica not seen within the timeout. */
  sweep(now: number): void {
    for (const [replicaId, at] of this.lastSeen) {
      if (now - at < this.timeoutMs) continue;
      this.lastSeen.delete(replicaId);
      this.onGone(replicaId);
    }
  }

  get knownReplicas(): string[] {
    return [...this.lastSeen.keys()];
  }
}
