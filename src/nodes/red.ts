/**
 * The part of the Node-RED runtime API this package uses, typed narrowly. Only
 * src/nodes/ (and later src/monitor/) may import it: the engine never sees Node-RED.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export type StatusFill = 'red' | 'green' | 'yellow' | 'blue' | 'grey';
export interface NodeStatus {
  fill?: StatusFill;
  shape?: 'ring' | 'dot';
  text?: string;
}

export interface NodeMessage {
  _msgid?: string;
  payload?: unknown;
  topic?: string;
  [key: string]: unknown;
}

export type SendFn = (msg: NodeMessage | (NodeMessage | NodeMessage[] | null)[] | null) => void;
export type DoneFn = (err?: Error) => void;
export type InputListener = (msg: NodeMessage, send: SendFn, done: DoneFn) => void;
export type CloseListener = (removed: boolean, done: () => void) => void;

export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  z?: string;
}

export interface Node<Creds extends object = Record<string, string | undefined>> {
  id: string;
  type: string;
  name?: string;
  z?: string;
  credentials: Partial<Creds>;
  on(event: 'input', listener: InputListener): void;
  on(event: 'close', listener: CloseListener): void;
  send(msg: NodeMessage | (NodeMessage | null)[]): void;
  status(status: NodeStatus): void;
  log(msg: unknown): void;
  warn(msg: unknown): void;
  error(err: unknown, msg?: NodeMessage): void;
  debug(msg: unknown): void;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

export interface HttpRouter {
  get(path: string, ...handlers: RequestHandler[]): void;
  post(path: string, ...handlers: RequestHandler[]): void;
  use(handler: RequestHandler): void;
  /** The app this one is mounted in (Express sets it on mount). */
  parent?: HttpRouter;
  /** Express: the app's full mount path ('' when not mounted). */
  path?(): string;
  /** Express: whether an app setting (e.g. `strict routing`) is on. */
  enabled?(setting: string): boolean;
  _router?: { stack: { route?: { path: string; methods: Record<string, boolean> }; handle?: unknown }[] };
}

export interface RegisterOptions {
  credentials?: Record<string, { type: 'text' | 'password' }>;
  settings?: Record<string, { value: unknown; exportable?: boolean }>;
}

/** A JSONata expression as RED.util.prepareJSONataExpression returns it. */
export interface PreparedExpression {
  /** Binds `$name` for the evaluations that follow. */
  assign(name: string, value: unknown): void;
  /** Node-RED's own flag: evaluate against `{ msg: input }` (set when the text mentions `msg`). */
  _legacyMode?: boolean;
}

export interface NodeAPI {
  nodes: {
    createNode(node: object, def: NodeDef): void;
    registerType<N, D>(type: string, ctor: (this: N, def: D) => void, options?: RegisterOptions): void;
    getNode(id: string): unknown;
    /** Calls `visit` with the configuration of every deployed node (config nodes too). */
    eachNode?(visit: (config: NodeDef & Record<string, unknown>) => void): void;
  };
  /** Node-RED's runtime-to-editor messages (e.g. `RED.comms.publish(topic, data, retain)`). */
  comms?: { publish(topic: string, data: unknown, retain?: boolean): void };
  /** Present on the RED a plugin module is given. */
  plugins?: { registerPlugin(id: string, definition: { type?: string; onadd?: () => void }): void };
  settings: {
    userDir?: string;
    httpNodeRoot?: string | false;
    /** Any setting, settings.js or runtime (.config.runtime.json); throws while the runtime settings are not loaded. */
    get?(name: string): unknown;
    [key: string]: unknown;
  };
  httpNode?: HttpRouter;
  httpAdmin?: HttpRouter;
  auth?: { needsPermission(permission: string): RequestHandler };
  util: {
    getMessageProperty(msg: NodeMessage, expr: string): unknown;
    setMessageProperty(msg: NodeMessage, expr: string, value: unknown, createMissing?: boolean): boolean;
    evaluateNodeProperty(value: string, type: string, node: object, msg: NodeMessage | undefined): unknown;
    /** Parses a JSONata expression (throws on bad syntax) and adds Node-RED's functions ($env, $flowContext, …). */
    prepareJSONataExpression(expression: string, node: object): PreparedExpression;
    /** Evaluates a prepared expression with `input` as `$`; Node-RED 4.1 and 5 call back once. */
    evaluateJSONataExpression(expression: PreparedExpression, input: object, callback: (err: Error | null, result?: unknown) => void): void;
  };
  log: { info(m: unknown): void; warn(m: unknown): void; error(m: unknown): void; debug(m: unknown): void };
  /** The runtime's events (e.g. 'flows:started', once every node of a deploy has started). */
  events: {
    once(event: string, listener: () => void): void;
    removeListener(event: string, listener: () => void): void;
  };
  _(key: string, params?: Record<string, unknown>): string;
}
