/**
 * Real Node-RED processes for the demo, the benchmarks and the end-to-end tests: each instance has its
 * own user directory and loopback port, loads this package from the project folder
 * (settings.nodesDir), and gets its flows through the admin API. Instances can be
 * killed with SIGKILL and started again on the same directory and port.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export const PROJECT_ROOT = resolve(__dirname, '..', '..');
const RED_JS = require.resolve('node-red/red.js', { paths: [PROJECT_ROOT] });

export interface InstanceOptions {
  name: string;
  /** Defaults to a free loopback port. */
  port?: number;
  /** Defaults to a new temporary directory. */
  userDir?: string;
  /** Echo the instance's log to this process's stdout. */
  echo?: boolean;
  /** Extra settings merged into settings.js (JSON-serialisable values only). */
  settings?: Record<string, unknown>;
  /** Extra arguments for the node binary, e.g. --cpu-prof for a benchmark. */
  nodeArgs?: string[];
  /** JavaScript source of an object whose properties are added to settings.js (for functions, e.g. httpNodeMiddleware). */
  settingsCode?: string;
  /**
   * Packages of the project's node_modules (e.g. '@flowfuse/node-red-dashboard') that the
   * instance loads too: linked into its userDir/node_modules, where Node-RED looks for
   * installed node packages.
   */
  modules?: string[];
}

export type FlowNode = Record<string, unknown> & { id: string; type: string };

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

export class NodeRedInstance {
  readonly name: string;
  readonly port: number;
  readonly userDir: string;
  readonly url: string;
  readonly log: string[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private lineListeners = new Set<(line: string) => void>();
  private readonly echo: boolean;
  /** Extra arguments for the node binary; may be changed between launches. */
  nodeArgs: string[];
  /** Sent as a bearer token with admin API requests (deploy, flows) when Node-RED runs with adminAuth. */
  adminToken: string | undefined;
  /** The admin API's path (httpAdminRoot, no trailing slash), or false when it is off. */
  private adminRoot: string | false = '';
  /** The settings last written to settings.js (without settingsCode). */
  private written: Record<string, unknown> = {};

  private constructor(options: Required<Pick<InstanceOptions, 'name' | 'port' | 'userDir'>> & InstanceOptions) {
    this.name = options.name;
    this.port = options.port;
    this.userDir = options.userDir;
    this.url = `http://127.0.0.1:${options.port}`;
    this.echo = options.echo ?? false;
    this.nodeArgs = options.nodeArgs ?? [];
    mkdirSync(this.userDir, { recursive: true });
    this.linkModules(options.modules ?? []);
    this.configure(options);
  }

  /** Links each package into userDir/node_modules (once: a restart on the same directory finds the links there). */
  private linkModules(modules: readonly string[]): void {
    for (const name of modules) {
      const link = join(this.userDir, 'node_modules', name);
      mkdirSync(dirname(link), { recursive: true });
      if (!existsSync(link)) symlinkSync(join(PROJECT_ROOT, 'node_modules', name), link, 'dir');
    }
  }

  /**
   * Writes settings.js: the test defaults plus `settings` and `settingsCode`. Node-RED reads
   * it at start, so a running instance must be restarted for new settings to apply.
   */
  configure(options: Pick<InstanceOptions, 'settings' | 'settingsCode'>): void {
    const settings = {
      uiHost: '127.0.0.1',
      uiPort: this.port,
      nodesDir: [PROJECT_ROOT],
      flowFile: 'flows.json',
      credentialSecret: `rps-test-secret-${this.name}`,
      logging: { console: { level: 'info', metrics: false, audit: false } },
      diagnostics: { enabled: false, ui: false },
      telemetry: { enabled: false, updateNotification: false },
      editorTheme: { tours: false, projects: { enabled: false } },
      externalModules: { autoInstall: false, palette: { allowInstall: false } },
      ...options.settings,
    };
    // httpAdminRoot must be given in `settings` (not settingsCode) for deploy() to find the admin API.
    const root = options.settings?.httpAdminRoot;
    this.adminRoot = root === false ? false : typeof root === 'string' ? `/${root}`.replace(/\/+/g, '/').replace(/\/$/, '') : '';
    this.written = settings;
    const code = options.settingsCode ? `Object.assign(${JSON.stringify(settings, null, 2)}, ${options.settingsCode})` : JSON.stringify(settings, null, 2);
    writeFileSync(join(this.userDir, 'settings.js'), `module.exports = ${code};\n`);
  }

  /** The credentialSecret in its settings.js (what seals the secrets in its store). */
  get credentialSecret(): unknown {
    return this.written.credentialSecret;
  }

  /** The admin API's base URL (under httpAdminRoot). */
  get adminUrl(): string {
    if (this.adminRoot === false) throw new Error(`${this.name} runs without the admin API (httpAdminRoot: false)`);
    return this.url + this.adminRoot;
  }

  private adminHeaders(): Record<string, string> {
    return this.adminToken ? { Authorization: `Bearer ${this.adminToken}` } : {};
  }

  static async start(options: InstanceOptions): Promise<NodeRedInstance> {
    const port = options.port ?? (await freePort());
    const userDir = options.userDir ?? mkdtempSync(join(tmpdir(), `rps-${options.name}-`));
    const instance = new NodeRedInstance({ ...options, port, userDir });
    await instance.launch();
    return instance;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves when the running process exits (at once when none runs). */
  whenExited(): Promise<void> {
    return this.exited;
  }

  /** Starts the process (again) and resolves once it serves HTTP and its flows have started. */
  async launch(): Promise<void> {
    if (this.child) throw new Error(`${this.name} is already running`);
    const from = this.log.length;
    const child = spawn(process.execPath, [...this.nodeArgs, RED_JS, '--userDir', this.userDir, '--settings', join(this.userDir, 'settings.js')], {
      cwd: this.userDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    this.child = child;
    this.exited = new Promise((res) => child.once('exit', () => res()));
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    let buffer = '';
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        this.log.push(line);
        if (this.echo) process.stdout.write(`[${this.name}] ${line}\n`);
        for (const listener of this.lineListeners) listener(line);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    // Both lines must appear, in either order: the server listens, and the flows (if any) have started.
    const seen = (text: string): boolean => this.log.slice(from).some((l) => l.includes(text));
    const serving = seen('Server now running at') ? Promise.resolve('') : this.waitForLine(/Server now running at/, 60_000, child);
    const started = seen('Started flows') ? Promise.resolve('') : this.waitForLine(/Started flows/, 60_000, child);
    await Promise.all([serving, started]);
  }

  /** Resolves on the first log line (from now on) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs: number, child?: ChildProcess): Promise<string> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        cleanup();
        rej(new Error(`${this.name}: no log line matching ${pattern} within ${timeoutMs} ms\n${this.log.slice(-30).join('\n')}`));
      }, timeoutMs);
      const onExit = (): void => {
        cleanup();
        rej(new Error(`${this.name} exited while waiting for ${pattern}\n${this.log.slice(-30).join('\n')}`));
      };
      const listener = (line: string): void => {
        if (!pattern.test(line)) return;
        cleanup();
        res(line);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.lineListeners.delete(listener);
        child?.off('exit', onExit);
      };
      this.lineListeners.add(listener);
      child?.once('exit', onExit);
    });
  }

  /** Replaces all flows through the admin API (credentials may be given on nodes as `credentials`). */
  async deploy(flows: readonly FlowNode[]): Promise<void> {
    // The admin API answers before the new flows have started; their start is logged.
    const started = this.waitForLine(/Started flows/, 60_000, this.child);
    started.catch(() => undefined);
    const res = await fetch(`${this.adminUrl}/flows`, {
      method: 'POST',
      headers: { ...this.adminHeaders(), 'Content-Type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ flows }),
    });
    if (!res.ok) throw new Error(`${this.name}: deploy failed: HTTP ${res.status} ${await res.text()}`);
    await started;
  }

  /**
   * Resolves once the deployed remote system `id` has read its states from the store
   * (until then its routes answer 503 "starting"); rejects when it does not within 10 s.
   */
  async remoteSystemLoaded(id: string): Promise<void> {
    const res = await fetch(`${this.adminUrl}/rps-remote-system/${encodeURIComponent(id)}/state?wait=10000`, { headers: this.adminHeaders() });
    const body = (await res.json()) as { outbound?: string; inbound?: string };
    if (!res.ok || body.outbound === 'loading' || body.inbound === 'loading') throw new Error(`${this.name}: remote system ${id} has not read its states: HTTP ${res.status} ${JSON.stringify(body)}`);
  }

  async flows(): Promise<FlowNode[]> {
    const res = await fetch(`${this.adminUrl}/flows`, { headers: { ...this.adminHeaders(), 'Node-RED-API-Version': 'v1' } });
    return (await res.json()) as FlowNode[];
  }

  /** SIGKILL: no close handlers run, nothing is flushed. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM: Node-RED stops its flows and exits. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    await this.exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  logText(): string {
    return this.log.join('\n');
  }
}
