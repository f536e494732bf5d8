/**
 * A private PostgreSQL server for tests that stop, kill and restart it: `initdb` into a
 * temporary folder, a free loopback port, its socket in that folder, password
 * authentication over TCP. Never the machine's shared server (tools/pg.ts),
 * which other tests and other people use.
 *
 * PostgreSQL refuses to run as root: as root, the server runs as the `postgres` OS
 * user (`runuser`), which owns the folder. The binaries are Debian's
 * (/usr/lib/postgresql/<version>/bin, the newest version there), or those in
 * RPS_TEST_PG_BIN.
 *
 * Whatever happens to the test, the server is killed and its folder removed when this
 * process exits (see destroyAll).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, closeSync, existsSync, openSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { freePort } from '../../tools/nodered';

const run = promisify(execFile);

/** The folder of initdb, pg_ctl and postgres. */
function binDir(): string {
  const fromEnv = process.env.RPS_TEST_PG_BIN;
  if (fromEnv) return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length === 0) {
    throw new Error(`no PostgreSQL server binaries in ${root}/<version>/bin (apt-get install postgresql), nor RPS_TEST_PG_BIN set to their folder`);
  }
  versions.sort((a, b) => Number(a) - Number(b));
  return join(root, versions[versions.length - 1], 'bin');
}

const AS_ROOT = process.getuid?.() === 0;
/** The OS user the server runs as. */
const OS_USER = AS_ROOT ? 'postgres' : userInfo().username;

/** Servers not yet destroyed: killed when this process exits, whatever the tests did. */
const live = new Set<PgServer>();
process.once('exit', () => {
  for (const s of live) s.destroySync();
});

/** Is `pid` a live process (not a zombie)? */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The state follows the parenthesised command name.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The processes whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Polls `done` (a state with no event to wait for) until it holds; fails after `timeoutMs`. */
export async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class PgServer {
  /** The password of the `postgres` database user (TCP connections need it). */
  readonly password = `pw-${Math.random().toString(36).slice(2)}-restart`;
  private readonly bin = binDir();
  private readonly data: string;
  private readonly socketDir: string;
  /** Processes of a killed postmaster that may still hold its shared memory. */
  private orphans: number[] = [];
  /** The running server (runuser, or the postmaster itself). */
  private server: ChildProcess | undefined;
  /** Resolves when the running server's process has exited. */
  private serverExit: Promise<void> = Promise.resolve();

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {
    this.data = join(dir, 'data');
    this.socketDir = dir;
  }

  /** Creates the cluster and starts it. */
  static async create(): Promise<PgServer> {
    const dir = mkdtempSync(join(tmpdir(), 'rps-pg-'));
    const server = new PgServer(await freePort(), dir);
    live.add(server);
    try {
      await server.init();
      await server.start();
    } catch (err) {
      server.destroySync();
      throw err;
    }
    return server;
  }

  /** Whether the server process runs (it may not take connections yet, or any more). */
  get running(): boolean {
    return this.server !== undefined;
  }

  /** postgres://postgres@127.0.0.1:<port>/postgres: no password in it (it is `password`). */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** The URL with the password, for the test's own connections. */
  get urlWithPassword(): string {
    return `postgres://postgres:${encodeURIComponent(this.password)}@127.0.0.1:${this.port}/postgres`;
  }

  private async exec(file: string, args: string[]): Promise<string> {
    const command = AS_ROOT ? ['runuser', ['-u', OS_USER, '--', join(this.bin, file), ...args]] as const : [join(this.bin, file), args] as const;
    try {
      const { stdout } = await run(command[0], [...command[1]], { cwd: this.dir, timeout: 120_000 });
      return stdout;
    } catch (err) {
      const e = err as Error & { stdout?: string; stderr?: string };
      throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}\n${this.serverLog()}`);
    }
  }

  private async init(): Promise<void> {
    const pwfile = join(this.dir, 'pwfile');
    writeFileSync(pwfile, `${this.password}\n`);
    if (AS_ROOT) {
      const { uid, gid } = await this.osIds();
      chownSync(this.dir, uid, gid);
      chownSync(pwfile, uid, gid);
    }
    await this.exec('initdb', ['-D', this.data, '-U', 'postgres', '--pwfile', pwfile, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    rmSync(pwfile);
  }

  private async osIds(): Promise<{ uid: number; gid: number }> {
    const { stdout } = await run('id', ['-u', OS_USER]);
    const { stdout: g } = await run('id', ['-g', OS_USER]);
    return { uid: Number(stdout.trim()), gid: Number(g.trim()) };
  }

  /**
   * Starts the server (again, on the same port and data) and resolves once it takes
   * connections. The postmaster is a child of this process (through runuser as root), so
   * that it is reaped when killed: a zombie would keep its pid "running" in
   * postmaster.pid, and the next start would refuse.
   */
  async start(): Promise<void> {
    if (this.server) throw new Error('PostgreSQL test server: already running');
    // A killed postmaster's children leave by themselves (they notice it died); until then
    // its shared memory is in use and a new postmaster refuses to start.
    const orphans = this.orphans;
    await until("the killed server's processes to exit", () => orphans.every((pid) => !alive(pid)), 30_000);
    this.orphans = [];
    const args = [
      '-D', this.data,
      '-p', String(this.port),
      '-k', this.socketDir,
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'fsync=off',
      '-c', 'full_page_writes=off',
    ];
    const log = openSync(join(this.dir, 'server.log'), 'a');
    const [file, argv] = AS_ROOT ? ['runuser', ['-u', OS_USER, '--', join(this.bin, 'postgres'), ...args]] : [join(this.bin, 'postgres'), args];
    const child = spawn(file, argv, { cwd: this.dir, stdio: ['ignore', log, log] });
    closeSync(log);
    this.server = child;
    let exited = false;
    this.serverExit = new Promise((resolve) =>
      child.once('exit', () => {
        exited = true;
        if (this.server === child) this.server = undefined;
        resolve();
      }),
    );
    await until('a connection to succeed', async () => exited || (await this.connects()), 120_000);
    if (exited) throw new Error(`PostgreSQL test server did not start:\n${this.serverLog()}`);
  }

  /** Whether a connection and a query succeed now. */
  async connects(): Promise<boolean> {
    const c = new Client({ connectionString: this.urlWithPassword, connectionTimeoutMillis: 5000 });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.query('SELECT 1');
      return true;
    } catch {
      return false;
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /** `pg_ctl stop -m immediate`: every backend ends at once, no checkpoint (crash recovery at the next start). */
  async stopImmediate(): Promise<void> {
    await this.exec('pg_ctl', ['stop', '-D', this.data, '-m', 'immediate', '-w']);
    await this.serverExit;
  }

  /** The postmaster's pid, from postmaster.pid; undefined when it is not running. */
  postmasterPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      return pid > 0 && alive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** SIGKILL to the postmaster: it dies without a word; its backends follow when they notice. */
  async killPostmaster(): Promise<void> {
    const pid = this.postmasterPid();
    if (pid === undefined) throw new Error('PostgreSQL test server: no postmaster running');
    this.orphans = childrenOf(pid);
    process.kill(pid, 'SIGKILL');
    await this.serverExit;
  }

  /** Runs one statement as the superuser, on a connection of its own. */
  async query<R extends Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> {
    const c = new Client({ connectionString: this.urlWithPassword });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return (await c.query<R>(text, values)).rows;
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  serverLog(): string {
    try {
      return readFileSync(join(this.dir, 'server.log'), 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  }

  /** Kills the server and removes its folder. */
  async destroy(): Promise<void> {
    this.destroySync();
  }

  /** Synchronous, for the exit handler: SIGKILL to the postmaster and its processes, the folder removed. */
  destroySync(): void {
    live.delete(this);
    this.server?.kill('SIGKILL');
    const pid = this.postmasterPid();
    if (pid !== undefined) {
      for (const child of childrenOf(pid)) {
        try {
          process.kill(child, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    for (const orphan of this.orphans) {
      try {
        process.kill(orphan, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
