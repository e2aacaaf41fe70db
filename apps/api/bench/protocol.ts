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
  | { type: 'stop'; id: number };

export type ServerReply =
  | { type: 'ready'; url: string }
  | { type: 'ok'; id: number }
  | { type: 'stats'; id: number; statements: number; queryMs: number; cpu: NodeJS.CpuUsage; memory: NodeJS.MemoryUsage }
  | { type: 'captured'; id: number; statements: CapturedStatement[] };
