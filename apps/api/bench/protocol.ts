/** Messages between the bench (run.ts) and its server process (server.ts), over Node's IPC channel. */

/** One statement the server sent through the driver, with its parameters as passed to `pg`. */
export interface CapturedStatement {
  /** Which driver connection ran it (numbered in order of first use). */
  connection: number;
  text: string;
  values: unknown[];
  /** When it was sent, in ms since the capture started. */
  atMs: number;
  /** From send to answer, as seen by the server. */
  ms: number;
}

export type ServerRequest =
  | { type: 'stats'; id: number }
  | { type: 'capture-start'; id: number }
  | { type: 'capture-stop'; id: number }
  | { type: 'probe-start'; id: number }
  | { type: 'probe-stop'; id: number }
  | { type: 'stop'; id: number };

/** Where a server's time went between `probe-start` and `probe-stop` (all in ms). */
export interface Probe {
  /** How late the event loop ran its timers (perf_hooks.monitorEventLoopDelay, 10 ms resolution). */
  loopDelay: { p50: number; p99: number; max: number };
  /** Garbage-collection pauses of the main thread, by kind (minor, major, incremental, weakcb). */
  gc: Record<string, { count: number; totalMs: number; maxMs: number }>;
  /** From asking the driver's pool for a connection to getting one. */
  poolWait: { count: number; p50: number; p99: number; max: number };
}

export type ServerReply =
  | { type: 'ready'; url: string }
  | { type: 'ok'; id: number }
  | { type: 'stats'; id: number; statements: number; queryMs: number; cpu: NodeJS.CpuUsage; memory: NodeJS.MemoryUsage }
  | { type: 'captured'; id: number; statements: CapturedStatement[] }
  | { type: 'probed'; id: number; probe: Probe };
