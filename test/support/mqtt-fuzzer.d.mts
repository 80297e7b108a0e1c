// Types for mqtt-fuzzer.mjs, so that the TypeScript test can import it under `strict`.

export interface FuzzTarget {
  /** KPC's plain MQTT port on 127.0.0.1 (the fuzzer connects nowhere else). */
  port: number;
  /** Credentials the ECAP provider accepts (used in some CONNECTs, so later packets get past authentication). */
  credentials: { username: string; password: string };
  appVersion: string;
  extensions: string[];
}

export interface Rng {
  next(): number;
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  bytes(n: number): Buffer;
}

export interface CasePlan {
  index: number;
  seed: number;
  shape: string;
  frames: Array<{ cmd: string; mutation: string; bytes: Buffer }>;
  chunk: number;
  idleMs: number;
  summary: string;
}

export interface FuzzStats {
  seed: number;
  cases: number;
  packetsSent: number;
  bytesSent: number;
  /** How connections ended: closed-by-server, closed, idle, hard-timeout. */
  endings: Record<string, number>;
  /** CONNACK return codes received. */
  connacks: Record<string, number>;
  /** Packets received from KPC, by type. */
  received: Record<string, number>;
  mutations: Record<string, number>;
  shapes: Record<string, number>;
  socketErrors: Record<string, number>;
  /** Replies from KPC that mqtt-packet could not parse (should stay 0). */
  unparseableReplies: number;
  /** The last 20 cases started, for a report when something breaks. */
  recent: string[];
  stoppedEarly: boolean;
}

export interface FuzzOptions {
  target: FuzzTarget;
  seed?: number;
  durationMs?: number;
  maxCases?: number;
  concurrency?: number;
  /** Polled between cases; true ends the run (e.g. KPC exited). */
  shouldStop?: () => boolean;
  onProgress?: (stats: FuzzStats) => void;
  progressEveryMs?: number;
}

export function createRng(seed: number): Rng;
export function randomSeed(): number;
export function describeCase(seed: number, index: number, target: FuzzTarget): CasePlan;
export function runFuzz(options: FuzzOptions): Promise<FuzzStats>;
/** Resolves with a problem description, or null when a good client connected and got its answer. */
export function goodRequest(options: { port: number; credentials: { username: string; password: string }; topic: string; timeoutMs?: number }): Promise<string | null>;
export function formatStats(stats: FuzzStats): string;
