import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const root = fileURLToPath(new URL('..', import.meta.url));

/** Wait until `cond` holds, polling, or fail after `timeoutMs` (no fixed sleeps in tests). */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * The first queue name `prefix-0`, `prefix-1`, ... whose bucket owners (as `sys` places them
 * now) satisfy `fits`. Owners follow node ids, which are random: a test that needs a node to
 * own buckets chooses the name by owner instead of hoping a fixed name lands there.
 */
export function queueNameWhere(sys: { queue: { owner(name: string, bucket: number): string } }, prefix: string, numBuckets: number, fits: (owners: string[]) => boolean): string {
  for (let k = 0; k < 10_000; k++) {
    const name = `${prefix}-${k}`;
    if (fits(Array.from({ length: numBuckets }, (_, b) => sys.queue.owner(name, b)))) return name;
  }
  throw new Error(`no queue name ${prefix}-N places its buckets as the test needs`);
}

/** How many of `owners` are `node`. */
export const owns = (owners: string[], node: string): number => owners.filter((o) => o === node).length;

/** A promise with its resolver, to gate actor code from a test. */
export function gate<T = void>(): { promise: Promise<T>; open: (v: T) => void } {
  let open!: (v: T) => void;
  const promise = new Promise<T>((r) => { open = r; });
  return { promise, open };
}

const children = new Set<ChildProcess>();
// Children live until their spec file ends (nodes started in beforeAll serve many tests).
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
});

/** A child process: its handle, its exit with all output, and its output so far. */
export type Proc = { child: ChildProcess; done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>; stdout: () => string; stderr: () => string };

/** Run a node child process (always killed at teardown). */
export function runNode(args: string[], opts: { cwd?: string; env?: Record<string, string>; stdin?: boolean } = {}): Proc {
  return runProcess(process.execPath, args, opts);
}

/** Run any child process (always killed at teardown); resolves with its exit and output. */
export function runProcess(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string>; stdin?: boolean } = {}): Proc {
  const child = spawn(cmd, args, { cwd: opts.cwd ?? root, stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, stdout: () => stdout, stderr: () => stderr };
}

/**
 * The value of `key` in the first line a child printed as `{"<key>": ...}` (a fixture's
 * report), waiting for it; an error with the child's stderr if it exits first.
 */
export async function line<T>(p: Proc, key: string, timeoutMs = 30_000): Promise<T> {
  const find = () => p.stdout().split('\n').find((l) => l.startsWith(`{"${key}"`));
  await waitFor(() => find() !== undefined || p.child.exitCode !== null, timeoutMs, `the child's ${key}`);
  const l = find();
  if (!l) throw new Error(`the child exited before printing ${key}: ${p.stderr()}`);
  return JSON.parse(l)[key] as T;
}

/**
 * Whether `done` is still pending after `windowMs`. Proving that something does NOT happen
 * (a process does not exit) needs a window; everything that waits for something uses waitFor.
 */
export async function stillPendingAfter(done: Promise<unknown>, windowMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const window = new Promise<'pending'>((r) => { timer = setTimeout(() => r('pending'), windowMs); });
  const r = await Promise.race([done.then(() => 'settled' as const), window]);
  clearTimeout(timer);
  return r === 'pending';
}

/** A cluster node in a child process (`fixtures/node.mjs`), once it printed its address. */
export interface Child { addr: string; nodeId: string; pid: number; proc: Proc }

/**
 * Start `fixtures/node.mjs` (or another fixture `script`) with `args` and wait until it is
 * listening. `opts.wrap` runs it through another command (a network namespace's
 * `ip netns exec`); `opts.cwd` in another working directory.
 */
export async function startNode(args: string[], readyMs = 15_000, script = 'node.mjs', opts: { wrap?: (cmd: string, args: string[]) => [string, string[]]; cwd?: string } = {}): Promise<Child> {
  const argv = [join(root, '__test__/fixtures', script), ...args];
  const proc = opts.wrap ? runProcess(...opts.wrap(process.execPath, argv), { cwd: opts.cwd }) : runNode(argv, { cwd: opts.cwd });
  await waitFor(() => proc.stdout().includes('\n') || proc.child.exitCode !== null, readyMs, 'child node ready');
  if (!proc.stdout().includes('\n')) throw new Error(`child node exited: ${proc.stderr()}`);
  return { ...JSON.parse(proc.stdout().split('\n')[0]), proc };
}
