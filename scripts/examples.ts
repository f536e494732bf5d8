/**
 * The example flows shipped in examples/ (Import > Examples in the editor), written
 * as code so the two help desks stay alike where they should. `npm run examples`
 * writes the JSON files; a test checks that the committed files match this source.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { REMOTE_SYSTEM_NUMBERS } from '../src/core/settings';

type FlowNode = Record<string, unknown> & { id: string; type: string };
type MappingRow = { target: string; type: 'field' | 'display' | 'fixed' | 'value' | 'jsonata'; value: string; valueType?: string; map?: string; onInsert?: boolean };

export const EXAMPLES_DIR = resolve(__dirname, '..', '..', 'examples');

/** The remote system form's texts as the editor shows them, so that the tab infos name its fields exactly. */
export const REMOTE_SYSTEM_FORM = (
  JSON.parse(readFileSync(resolve(__dirname, '..', '..', 'nodes', 'locales', 'en-US', 'rps-remote-system.json'), 'utf8')) as {
    'rps-remote-system': { label: Record<string, string>; authType: Record<string, string>; inboundAuth: Record<string, string> };
  }
)['rps-remote-system'];

function field(target: string, source: string): MappingRow {
  return { target, type: 'field', value: source };
}

function display(target: string, source: string): MappingRow {
  return { target, type: 'display', value: source };
}

function expression(target: string, jsonata: string): MappingRow {
  return { target, type: 'jsonata', value: jsonata };
}

function valueMap(target: string, source: string, map: Record<string, string | number>): MappingRow {
  return { target, type: 'value', value: source, map: JSON.stringify(map) };
}

/** A remote system with the editor's defaults; credentials are entered by the user (or the demo), never stored here. */
function remoteSystem(id: string, name: string, url: string): FlowNode {
  return {
    id,
    type: 'rps-remote-system',
    name,
    url,
    store: '',
    authType: 'basic',
    // The defaults, as a node dragged from the palette has them.
    ...Object.fromEntries((['batchSize', 'maxInFlight', 'linger', 'timeout', 'retryDelay', 'retryMaxDelay', 'maxTries', 'probeInterval'] as const).map((k) => [k, String(REMOTE_SYSTEM_NUMBERS[k].value)])),
  };
}

/**
 * What to fill in on the remote system `name` before a flow works (a tab's info). The two
 * Node-REDs call each other, so both directions need credentials: `other` names the
 * other Node-RED and `back` its remote system for this one; `via` says which nodes open
 * the form and `why` what goes each way.
 */
function credentialSteps(o: { name: string; via: string; other: string; back: string; why: string }): string {
  const { label, authType, inboundAuth } = REMOTE_SYSTEM_FORM;
  // One line per paragraph and list item: the Information sidebar renders the info as Markdown.
  return [
    `Before it works, open the remote system "${o.name}" (double-click ${o.via}, then the pencil button next to its remote system) and fill in both directions: the two Node-REDs call each other, ${o.why}.`,
    '',
    `- ${label.outbound}: ${label.url} is the address of ${o.other} (with its HTTP node root, if it has one). ${label.authType} "${authType.basic}": ${label.user} and ${label.password} are what this Node-RED calls ${o.other} with; ${o.other} enters them as ${label.inboundUser} and ${label.inboundPassword} on ${o.back}.`,
    `- ${label.inbound}: ${label.inboundAuth} "${inboundAuth.basic}": ${label.inboundUser} and ${label.inboundPassword} are what ${o.other} must present when it calls this Node-RED; ${o.other} enters them as ${label.user} and ${label.password} on ${o.back}.`,
    '',
    'Then deploy. The example carries no credentials: Node-RED keeps them, encrypted, in its credentials file.',
  ].join('\n');
}

/** A template's steps: the other Node-RED is any, with a remote system for this one. */
function templateSteps(via: string): string {
  return credentialSteps({
    name: 'Remote instance',
    via,
    other: 'the other Node-RED',
    back: 'its remote system for this one',
    why: 'messages one way and the replies that link the twins the other way',
  });
}

/** A capture of incidents, every operation, every change (`o` sets the rest: id, place, wires...). */
function captureNode({ id, z, ...o }: Record<string, unknown> & { id: string; z: string }): FlowNode {
  return {
    id,
    type: 'rps-capture',
    z,
    name: '',
    table: 'incident',
    idField: 'id',
    insert: true,
    update: true,
    delete: true,
    includedFields: ['short_description', 'description', 'priority', 'state'],
    conditions: [],
    captureNonInteractive: true,
    journalFields: [],
    fieldTimes: true,
    store: '',
    ...o,
  };
}

/** Ids stay stable between generations so a re-import replaces rather than duplicates. */
function ids(prefix: string): (name: string) => string {
  return (name) => `${prefix}-${name}`;
}

const OUTBOUND_TEMPLATE_INFO = `Outbound Flow Template - Basic

Wire your local record changes into "record changed": msg.payload is the record
after the change, msg.previous (optional) the record before it, msg.operation is
insert, update or delete, msg.displayValues (optional) the text people see for
fields such as state. The capture decides whether the change is sent and which
fields go: here only incidents of priority 1 or 2, or that change to resolved
(it remembers each incident's state when msg.previous is not given); correlate
finds the twin on the remote system (its third output, left unwired, takes the
records whose link is inactive: they are not sent); map fields translates your field names to the
names both instances agreed on (with the state's display text, and an "urgent" flag
computed by a JSONata expression); send to remote writes the message into the
durable outbound queue and delivers it.

Set the remote system's URL and credentials, and give the process event the same
name as on the other instance.`;

const INBOUND_TEMPLATE_INFO = `Inbound Flow Template - Basic

inbound emits the messages the remote system sent for this process event, in
order per record. correlate tells whether the record already has a twin here
(output 1: update or delete it) or not (output 2: create it). Output 3 takes the
records whose link is inactive (deleted here after the remote deleted it): they are
not applied, but still end in complete inbound, which records them as processed
and links nothing; a message with msg.rps.reactivate = true sent into correlate
syncs the record again. Replace the two
function nodes with your own nodes that write the local record, and end every
path in complete inbound: it records the local record's id (msg.payload.id by default),
links it with the remote record, and lets the next change of that record through.
Errors caught by the Catch node mark the message as error; it then holds back
later changes of that record until it is retried or skipped.

After a crash or restart a message can be emitted again (msg.rps.redelivered is
true): make the write idempotent, e.g. by remembering msg.rps.sequence per record.`;

export function outboundTemplate(): FlowNode[] {
  const id = ids('rps-out-tpl');
  const z = id('tab');
  return [
    { id: z, type: 'tab', label: 'Outbound Flow Template - Basic', info: `${OUTBOUND_TEMPLATE_INFO}\n\n${templateSteps('correlate or send to remote')}` },
    { id: id('pe'), type: 'rps-process-event', name: 'My process event', description: '', domain: '' },
    remoteSystem(id('rs'), 'Remote instance', 'http://127.0.0.1:1881'),
    { id: id('comment'), type: 'comment', z, name: 'Outbound: capture → correlate → map → send', info: OUTBOUND_TEMPLATE_INFO, x: 220, y: 40, wires: [] },
    { id: id('in'), type: 'link in', z, name: 'record changed', links: [], x: 55, y: 100, wires: [[id('capture')]] },
    captureNode({
      id: id('capture'),
      z,
      // Priority 1 or 2, or a change to resolved.
      conditions: [{ rules: [{ field: 'priority', op: 'lte', value: '2' }] }, { rules: [{ field: 'state', op: 'changesTo', value: 'resolved' }] }],
      x: 170,
      y: 100,
      wires: [[id('correlate')]],
    }),
    { id: id('correlate'), type: 'rps-correlate', z, name: '', remoteSystem: id('rs'), inactiveOutput: true, outputs: 3, x: 400, y: 100, wires: [[id('map')], [id('map')], []] },
    {
      id: id('map'),
      type: 'rps-map',
      z,
      name: 'local → shared names',
      mappings: [
        field('summary', 'short_description'),
        field('details', 'description'),
        field('priority', 'priority'),
        field('state', 'state'),
        display('state_label', 'state'),
        expression('urgent', 'priority <= 2'),
      ],
      keepUnmapped: false,
      x: 670,
      y: 100,
      wires: [[id('send')]],
    },
    { id: id('send'), type: 'rps-send', z, name: '', remoteSystem: id('rs'), processEvent: id('pe'), x: 960, y: 100, wires: [[]] },
  ];
}

export function inboundTemplate(): FlowNode[] {
  const id = ids('rps-in-tpl');
  const z = id('tab');
  const update = `// Update (or delete) the local record msg.rps.localId with msg.payload.
// msg.rps.operation is "update" or "delete" ("insert" when the remote re-created it).
// Replace this node with the nodes that write your system of record.
msg.payload.id = msg.rps.localId;
return msg;`;
  const create = `// Create the local record from msg.payload and set msg.payload.id to its new id:
// complete inbound links that id with the remote record.
// A delete of a record that was never synced here has nothing to do.
// Replace this node with the nodes that write your system of record.
if (msg.rps.operation === 'delete') return msg;
msg.payload.id = 'local-' + msg.rps.source.id;
return msg;`;
  const inactive = `// The record's link is inactive (deleted here after the remote deleted it, or
// deactivated with msg.rps.deactivate): the change is not applied. complete inbound
// still ends the message (as processed, linking nothing); without it, the message
// would wait until the inbound node's timeout. To sync the record again, set
// msg.rps.reactivate = true and send the message back into correlate instead.
return msg;`;
  return [
    { id: z, type: 'tab', label: 'Inbound Flow Template - Basic', info: `${INBOUND_TEMPLATE_INFO}\n\n${templateSteps('inbound')}` },
    { id: id('pe'), type: 'rps-process-event', name: 'My process event', description: '', domain: '' },
    remoteSystem(id('rs'), 'Remote instance', 'http://127.0.0.1:1880'),
    { id: id('comment'), type: 'comment', z, name: 'Inbound: inbound → correlate → map → write → complete', info: INBOUND_TEMPLATE_INFO, x: 250, y: 40, wires: [] },
    { id: id('inbound'), type: 'rps-inbound', z, name: '', remoteSystem: id('rs'), processEvent: id('pe'), maxParallel: '16', timeout: '60', gapWait: '30', x: 200, y: 160, wires: [[id('correlate')]] },
    { id: id('correlate'), type: 'rps-correlate', z, name: '', remoteSystem: '', inactiveOutput: true, outputs: 3, x: 460, y: 140, wires: [[id('map-update')], [id('map-create')], [id('inactive')]] },
    {
      id: id('map-update'),
      type: 'rps-map',
      z,
      name: 'shared → local names',
      mappings: [field('short_description', 'summary'), field('description', 'details'), field('priority', 'priority'), field('state', 'state')],
      keepUnmapped: false,
      x: 660,
      y: 120,
      wires: [[id('update')]],
    },
    {
      id: id('map-create'),
      type: 'rps-map',
      z,
      name: 'shared → local names',
      mappings: [
        field('short_description', 'summary'),
        field('description', 'details'),
        field('priority', 'priority'),
        field('state', 'state'),
        // Set once, when the record is created here: later changes leave it as the team set it.
        { target: 'assignment_group', type: 'fixed', value: 'Service desk', valueType: 'str', onInsert: true },
      ],
      keepUnmapped: false,
      x: 660,
      y: 220,
      wires: [[id('create')]],
    },
    { id: id('update'), type: 'function', z, name: 'update local record', func: update, outputs: 1, x: 890, y: 120, wires: [[id('complete')]] },
    { id: id('create'), type: 'function', z, name: 'create local record', func: create, outputs: 1, x: 890, y: 220, wires: [[id('complete')]] },
    { id: id('inactive'), type: 'function', z, name: 'inactive link: not applied', func: inactive, outputs: 1, x: 690, y: 300, wires: [[id('complete')]] },
    { id: id('complete'), type: 'rps-complete', z, name: '', localTable: 'incident', localId: 'payload.id', localIdType: 'msg', x: 1120, y: 300, wires: [[]] },
    { id: id('catch'), type: 'catch', z, name: 'write failed', scope: [id('update'), id('create')], uncaught: false, x: 890, y: 380, wires: [[id('complete')]] },
  ];
}

const RETRY_INFO = `Error queue and retry

1. Outbound queue: a message the remote system did not take (it was down, or it
   refused the message) is in the outbound queue with status error. "retry
   outbound errors" puts such rows back to ready every 5 minutes, up to 5 times
   each; the inject nodes reprocess all errors now, or skip one row by its id
   (set msg.ids). Rows in error because the remote was down come back by
   themselves when the remote answers its probe again.

2. Inbound queue: a message whose inbound flow failed (a Catch node gave it to
   complete inbound with msg.error) waits in the inbound queue with status error and holds
   back later changes of the same record. "retry inbound errors" puts it back to
   ready on the same schedule, and inbound emits it again.

3. Durable error queue: any message wired into a queue retry node is held with its
   error (here: record changes the capture refused). On the schedule it comes out
   of the second output again, until it goes through or has had its retries.`;

export function retryExample(): FlowNode[] {
  const id = ids('rps-retry');
  const z = id('tab');
  const inject = (name: string, action: string, x: number, y: number, target: string, extra: Record<string, unknown>[] = []): FlowNode => ({
    id: id(`inject-${name}`),
    type: 'inject',
    z,
    name,
    props: [{ p: 'action', v: action, vt: 'str' }, ...extra],
    repeat: '',
    crontab: '',
    once: false,
    onceDelay: 0.1,
    topic: '',
    x,
    y,
    wires: [[target]],
  });
  return [
    { id: z, type: 'tab', label: 'Error queue and retry', info: `${RETRY_INFO}\n\n${templateSteps('send to remote or a queue retry node')}` },
    { id: id('pe'), type: 'rps-process-event', name: 'My process event', description: '', domain: '' },
    remoteSystem(id('rs'), 'Remote instance', 'http://127.0.0.1:1881'),
    { id: id('comment'), type: 'comment', z, name: 'Error queue and retry: outbound queue, inbound queue, held messages', info: RETRY_INFO, x: 290, y: 40, wires: [] },

    { id: id('c1'), type: 'comment', z, name: '1. Outbound queue: retry, reprocess, skip', info: '', x: 200, y: 100, wires: [] },
    inject('retry now', 'retry', 100, 140, id('retry-out')),
    inject('reprocess all errors', 'reprocess', 130, 180, id('retry-out')),
    inject('skip row 1', 'skip', 100, 220, id('retry-out'), [{ p: 'ids', v: '[1]', vt: 'json' }]),
    {
      id: id('retry-out'),
      type: 'rps-queue-retry',
      z,
      name: 'retry outbound errors',
      queue: 'outbound',
      remoteSystem: id('rs'),
      processEvent: '',
      store: '',
      interval: '300',
      maxRetries: '5',
      settle: '60',
      x: 400,
      y: 180,
      wires: [[id('debug-out')], []],
    },
    { id: id('debug-out'), type: 'debug', z, name: 'outbound action result', active: true, tosidebar: true, console: false, complete: 'payload', targetType: 'msg', x: 640, y: 180, wires: [] },

    { id: id('c2'), type: 'comment', z, name: '2. Inbound queue: retry failed inbound messages', info: '', x: 220, y: 280, wires: [] },
    inject('reprocess inbound errors', 'reprocess', 150, 320, id('retry-in')),
    {
      id: id('retry-in'),
      type: 'rps-queue-retry',
      z,
      name: 'retry inbound errors',
      queue: 'inbound',
      remoteSystem: id('rs'),
      processEvent: id('pe'),
      store: '',
      interval: '300',
      maxRetries: '5',
      settle: '60',
      x: 390,
      y: 320,
      wires: [[id('debug-in')], []],
    },
    { id: id('debug-in'), type: 'debug', z, name: 'inbound action result', active: true, tosidebar: true, console: false, complete: 'payload', targetType: 'msg', x: 640, y: 320, wires: [] },

    { id: id('c3'), type: 'comment', z, name: '3. Durable error queue: refused record changes are held and tried again', info: '', x: 290, y: 400, wires: [] },
    { id: id('in'), type: 'link in', z, name: 'record changed', links: [], x: 55, y: 440, wires: [[id('capture')]] },
    { id: id('capture'), type: 'rps-capture', z, name: '', table: 'incident', idField: 'id', insert: true, update: true, delete: true, includedFields: [], conditions: [], captureNonInteractive: true, store: '', x: 520, y: 440, wires: [[id('correlate')]] },
    { id: id('correlate'), type: 'rps-correlate', z, name: '', remoteSystem: id('rs'), x: 750, y: 440, wires: [[id('send')], [id('send')]] },
    { id: id('send'), type: 'rps-send', z, name: '', remoteSystem: id('rs'), processEvent: id('pe'), x: 1070, y: 440, wires: [[]] },
    { id: id('catch'), type: 'catch', z, name: 'capture failed', scope: [id('capture')], uncaught: false, x: 110, y: 500, wires: [[id('held')]] },
    {
      id: id('held'),
      type: 'rps-queue-retry',
      z,
      name: 'held record changes',
      queue: 'outbound',
      remoteSystem: '',
      processEvent: '',
      store: '',
      interval: '300',
      maxRetries: '5',
      settle: '60',
      x: 320,
      y: 500,
      wires: [[], [id('capture')]],
    },
  ];
}

export interface DeskSpec {
  key: 'a' | 'b';
  title: string;
  table: string;
  /** HTTP path of the desk's REST API, e.g. /incidents */
  path: string;
  idPrefix: string;
  fields: string[];
  other: string;
  otherUrl: string;
  toShared: MappingRow[];
  fromShared: MappingRow[];
}

export const DESK_A: DeskSpec = {
  key: 'a',
  title: 'Help desk A',
  table: 'incident',
  path: '/incidents',
  idPrefix: 'INC',
  fields: ['short_description', 'description', 'priority', 'state'],
  other: 'Help desk B',
  otherUrl: 'http://127.0.0.1:1881',
  toShared: [field('summary', 'short_description'), field('details', 'description'), field('priority', 'priority'), field('state', 'state')],
  fromShared: [field('short_description', 'summary'), field('description', 'details'), field('priority', 'priority'), field('state', 'state')],
};

export const DESK_B: DeskSpec = {
  key: 'b',
  title: 'Help desk B',
  table: 'case',
  path: '/cases',
  idPrefix: 'CS',
  fields: ['title', 'details', 'urgency', 'status'],
  other: 'Help desk A',
  otherUrl: 'http://127.0.0.1:1880',
  toShared: [
    field('summary', 'title'),
    field('details', 'details'),
    valueMap('priority', 'urgency', { critical: 1, high: 2, moderate: 3, low: 4 }),
    valueMap('state', 'status', { open: 'new', working: 'in_progress', solved: 'resolved', closed: 'closed' }),
  ],
  fromShared: [
    field('title', 'summary'),
    field('details', 'details'),
    valueMap('urgency', 'priority', { '1': 'critical', '2': 'high', '3': 'moderate', '4': 'low' }),
    valueMap('status', 'state', { new: 'open', in_progress: 'working', resolved: 'solved', closed: 'closed' }),
  ],
};

/** The journal fields of the "Two-way sync with comments" desks. */
const JOURNAL_FIELDS = ['comments', 'work_notes'];

/** The desk's local system of record: a table in flow context, with create/update/delete/get/list (and comment, with journal fields). */
function tableFunction(d: DeskSpec, journal: boolean): string {
  const comment = journal
    ? `
  case 'comment': {
    // A person adds a comment or work note: {field, value, author}.
    const before = table[id];
    if (!before) { missing(); break; }
    const field = msg.payload.field === 'work_notes' ? 'work_notes' : 'comments';
    const entry = { id: '${d.idPrefix}-' + RED.util.generateId(), value: String(msg.payload.value), author: String(msg.payload.author || 'api'), createdAt: now };
    const record = Object.assign({}, before, { [field]: (before[field] || []).concat([entry]), updated_at: now });
    table[id] = record;
    result = record;
    change = { operation: 'update', payload: record, previous: before };
    break;
  }`
    : '';
  const append = journal
    ? `
    // Entries from the other desk (msg.append, from msg.rps.journal), kept with their ids.
    for (const e of msg.append || []) record[e.field] = (record[e.field] || []).concat([{ id: e.id, value: e.value, author: e.author, createdAt: e.createdAt }]);`
    : '';
  return `// The local table of ${d.table} records (kept in flow context: a demo, not a database).
// In: msg.action (create, update, delete, get, list${journal ? ', comment' : ''}), msg.recordId, msg.payload.
// Out 1: the result, back to the caller. Out 2: the change, to the outbound flow.
const table = flow.get('records') || {};
const now = new Date().toISOString();
const id = msg.recordId;
let result;
let status = 200;
let change = null;
const missing = () => { status = 404; result = { error: 'no ${d.table} ' + id }; };
switch (msg.action) {
  case 'list':
    result = Object.values(table);
    break;
  case 'get':
    if (table[id]) result = table[id]; else missing();
    break;
  case 'create': {
    const next = (flow.get('next') || 0) + 1;
    flow.set('next', next);
    const record = Object.assign({}, msg.payload, { id: '${d.idPrefix}' + String(next).padStart(4, '0'), updated_at: now });
    table[record.id] = record;
    result = record;
    status = 201;
    change = { operation: 'insert', payload: record };
    break;
  }
  case 'update': {
    const before = table[id];
    if (!before) { missing(); break; }
    const record = Object.assign({}, before, msg.payload, { id, updated_at: now });${append}
    table[id] = record;
    result = record;
    change = { operation: 'update', payload: record, previous: before };
    break;
  }${comment}
  case 'delete': {
    const before = table[id];
    if (!before) { missing(); break; }
    delete table[id];
    result = before;
    change = { operation: 'delete', payload: before };
    break;
  }
  default:
    status = 400;
    result = { error: 'unknown action ' + msg.action };
}
flow.set('records', table);
msg.statusCode = status;
msg.payload = result;
if (change) {
  change.changedBy = msg.changedBy || 'api';
  // A change made by the inbound flow keeps msg.rps: capture marks it so it is not sent back.
  if (msg.rps) change.rps = msg.rps;
}
return [msg, change];`;
}

/** What the inbound message does to the local table (with journal fields: the entries to append). */
function inboundAction(journal: boolean): string {
  return `// Decide what the inbound message does to the local table.
const r = msg.rps;
// A message can be emitted again after a restart or redeploy (msg.rps.redelivered):
// one whose sequence was already applied goes straight to complete.
const applied = (flow.get('applied') || {})[r.source.table + '/' + r.source.id];
if (applied && r.sequence <= applied.sequence) {
  msg.payload = { id: applied.localId };
  return [null, msg];
}
msg.recordId = r.localId;
if (r.operation === 'delete') msg.action = 'delete';
else if (r.correlation) msg.action = 'update';
else msg.action = 'create';
msg.changedBy = 'sync';${journal ? "\nmsg.append = r.journal;" : ''}
// A delete of a record that never reached this desk has nothing to do.
if (msg.action === 'delete' && !msg.recordId) return [null, msg];
return [msg, null];`;
}

const CHECK_RESULT = `if (msg.statusCode >= 400) {
  node.error('local write failed: ' + JSON.stringify(msg.payload), msg);
  return null;
}
// Remember what was applied, so a repeated message is recognised.
const applied = flow.get('applied') || {};
applied[msg.rps.source.table + '/' + msg.rps.source.id] = { localId: msg.payload.id, sequence: msg.rps.sequence };
flow.set('applied', applied);
return msg;`;

/** A desk's steps: the other desk runs on a second Node-RED with the other example. */
function deskSteps(d: DeskSpec): string {
  const steps = credentialSteps({
    name: d.other,
    via: 'send to remote or inbound',
    other: d.other,
    back: `its remote system "${d.title}"`,
    why: 'each sends its changes to the other',
  });
  return [
    `On a second Node-RED, import "${d.other}", the other example of Two help desks.`,
    '',
    steps,
    '',
    `To try it, POST a record as JSON (${d.fields.join(', ')}) to ${d.path} here: it appears in the table of ${d.other}.`,
  ].join('\n');
}

/**
 * A desk of "Two help desks", or, with `journal`, of "Two-way sync with comments": the
 * same desk with comments and work notes (journal fields) added on either side.
 */
export function desk(d: DeskSpec, journal = false): FlowNode[] {
  const id = ids(journal ? `comments-${d.key}` : `desk-${d.key}`);
  const z = id('tab');
  const api = (method: string, path: string, action: string, y: number, name = ''): FlowNode[] => [
    { id: id(`http-${action}`), type: 'http in', z, name, url: path, method, upload: false, swaggerDoc: '', x: 130, y, wires: [[id(`act-${action}`)]] },
    {
      id: id(`act-${action}`),
      type: 'change',
      z,
      name: action,
      rules: [
        { t: 'set', p: 'action', pt: 'msg', to: action, tot: 'str' },
        { t: 'set', p: 'recordId', pt: 'msg', to: 'req.params.id', tot: 'msg' },
      ],
      x: 310,
      y,
      wires: [[id('call-api')]],
    },
  ];
  const info = `${d.title}: a small help desk with a table of ${d.table} records and a REST API
(GET/POST ${d.path}, GET/PUT/DELETE ${d.path}/:id${journal ? `, POST ${d.path}/:id/comments` : ''}). Every change is captured and
sent to ${d.other}; changes from ${d.other} are applied here. Field names differ
between the desks: map fields translates them to the shared names of the process
event "Incident exchange".${
    journal
      ? `

Both desks edit the same records: capture keeps the time of each field's change, and
"from shared names" decides, field by field, which of the other desk's values to write
(last writer wins), so both desks end with the same values. Comments and work notes
(POST {"field": "comments" or "work_notes", "value", "author"} to ${d.path}/:id/comments)
are journal fields: each entry reaches ${d.other} once, with its author and time, and
never comes back.`
      : ''
  }`;
  return [
    { id: z, type: 'tab', label: d.title, info: `${info}\n\n${deskSteps(d)}` },
    { id: id('pe'), type: 'rps-process-event', name: 'Incident exchange', description: 'Incidents raised on either desk are worked on both', domain: '' },
    remoteSystem(id('rs'), d.other, d.otherUrl),
    { id: id('comment'), type: 'comment', z, name: `${d.title}: ${d.table} table, REST API on ${d.path}, synced with ${d.other}`, info, x: 310, y: 40, wires: [] },
    ...api('post', d.path, 'create', 100),
    ...api('put', `${d.path}/:id`, 'update', 140),
    ...api('delete', `${d.path}/:id`, 'delete', 180),
    ...api('get', `${d.path}/:id`, 'get', 220),
    ...api('get', d.path, 'list', 260),
    ...(journal ? api('post', `${d.path}/:id/comments`, 'comment', 300, 'POST comments') : []),
    { id: id('call-api'), type: 'link call', z, name: `${d.table} table`, links: [id('table-in')], linkType: 'static', timeout: '30', x: 470, y: 180, wires: [[id('response')]] },
    { id: id('response'), type: 'http response', z, name: '', statusCode: '', headers: {}, x: 630, y: 180, wires: [] },

    { id: id('table-in'), type: 'link in', z, name: `${d.table} table`, links: [], x: 55, y: 380, wires: [[id('table')]] },
    { id: id('table'), type: 'function', z, name: `${d.table} table`, func: tableFunction(d, journal), outputs: 2, x: 180, y: 380, wires: [[id('table-return')], [id('capture')]] },
    { id: id('table-return'), type: 'link out', z, name: 'return', mode: 'return', links: [], x: 305, y: journal ? 340 : 320, wires: [] },

    {
      id: id('capture'),
      type: 'rps-capture',
      z,
      name: '',
      table: d.table,
      idField: 'id',
      insert: true,
      update: true,
      delete: true,
      includedFields: d.fields,
      conditions: [],
      captureNonInteractive: true,
      journalFields: journal ? JOURNAL_FIELDS : [],
      fieldTimes: true,
      store: '',
      x: 350,
      y: 380,
      wires: [[id('correlate-out')]],
    },
    { id: id('correlate-out'), type: 'rps-correlate', z, name: '', remoteSystem: id('rs'), x: 560, y: 380, wires: [[id('map-out')], [id('map-out')]] },
    { id: id('map-out'), type: 'rps-map', z, name: 'to shared names', mappings: d.toShared, keepUnmapped: false, x: 800, y: 380, wires: [[id('send')]] },
    { id: id('send'), type: 'rps-send', z, name: '', remoteSystem: id('rs'), processEvent: id('pe'), x: 1070, y: 380, wires: [[]] },

    { id: id('inbound'), type: 'rps-inbound', z, name: '', remoteSystem: id('rs'), processEvent: id('pe'), maxParallel: '16', timeout: '60', gapWait: '30', x: 180, y: 520, wires: [[id('correlate-in')]] },
    { id: id('correlate-in'), type: 'rps-correlate', z, name: '', remoteSystem: '', x: 440, y: 520, wires: [[id('map-in')], [id('map-in')]] },
    { id: id('map-in'), type: 'rps-map', z, name: 'from shared names', mappings: d.fromShared, keepUnmapped: false, conflicts: 'last-writer', conflictWindow: '300', x: 630, y: 520, wires: [[id('action')]] },
    { id: id('action'), type: 'function', z, name: 'create, update or delete', func: inboundAction(journal), outputs: 2, x: 870, y: 520, wires: [[id('call-sync')], [id('complete')]] },
    { id: id('call-sync'), type: 'link call', z, name: `${d.table} table`, links: [id('table-in')], linkType: 'static', timeout: '30', x: 1090, y: 460, wires: [[id('check')]] },
    { id: id('check'), type: 'function', z, name: 'check result', func: CHECK_RESULT, outputs: 1, x: 1270, y: 460, wires: [[id('complete')]] },
    { id: id('complete'), type: 'rps-complete', z, name: '', localTable: d.table, localId: 'payload.id', localIdType: 'msg', x: 1440, y: 520, wires: [[]] },
    { id: id('catch'), type: 'catch', z, name: 'write failed', scope: [id('call-sync'), id('check')], uncaught: false, x: 1080, y: 580, wires: [[id('complete')]] },
  ];
}

const FAN_OUT_INFO = `One record, two remotes

Three instances: this one (A) and two others, B and C. Every incident changed here is
sent to both: one capture is wired to a correlate → map fields → send to remote chain
per remote system. Each remote has its own twin of the record, its own sequence and its
own journal marks, and one that is down does not hold back the other: its changes wait
in the outbound queue and follow, in order, once it is back.

Wire your record changes into "record changed" (msg.payload the record, msg.operation
insert, update or delete, msg.previous optional). On B and on C, import "Inbound Flow
Template - Basic" and point its remote system at this Node-RED; give its process event
the same name, "Incident exchange".`;

/** "One record, two remotes": one capture, a send chain per remote system (B and C). */
export function fanOut(): FlowNode[] {
  const id = ids('fan-out');
  const z = id('tab');
  const steps = [
    credentialSteps({ name: 'Instance B', via: 'send to B', other: 'instance B', back: 'its remote system for this one', why: 'changes go to it and the replies that link the twins come back' }),
    'Do the same on the remote system "Instance C" (double-click send to C), with the address of instance C and the credentials the two of you agree on.',
  ];
  const chain = (r: 'B' | 'C', y: number): FlowNode[] => {
    const k = r.toLowerCase();
    return [
      remoteSystem(id(`rs-${k}`), `Instance ${r}`, r === 'B' ? 'http://127.0.0.1:1881' : 'http://127.0.0.1:1882'),
      { id: id(`correlate-${k}`), type: 'rps-correlate', z, name: '', remoteSystem: id(`rs-${k}`), x: 440, y, wires: [[id(`map-${k}`)], [id(`map-${k}`)]] },
      {
        id: id(`map-${k}`),
        type: 'rps-map',
        z,
        name: 'local → shared names',
        mappings: [field('summary', 'short_description'), field('details', 'description'), field('priority', 'priority'), field('state', 'state')],
        keepUnmapped: false,
        x: 680,
        y,
        wires: [[id(`send-${k}`)]],
      },
      { id: id(`send-${k}`), type: 'rps-send', z, name: `send to ${r}`, remoteSystem: id(`rs-${k}`), processEvent: id('pe'), x: 930, y, wires: [[]] },
    ];
  };
  return [
    { id: z, type: 'tab', label: 'One record, two remotes', info: [FAN_OUT_INFO, ...steps].join('\n\n') },
    { id: id('pe'), type: 'rps-process-event', name: 'Incident exchange', description: 'Incidents raised here are worked on B and C', domain: '' },
    { id: id('comment'), type: 'comment', z, name: 'One capture, a send chain per remote system', info: FAN_OUT_INFO, x: 230, y: 40, wires: [] },
    { id: id('in'), type: 'link in', z, name: 'record changed', links: [], x: 55, y: 140, wires: [[id('capture')]] },
    captureNode({ id: id('capture'), z, x: 190, y: 140, wires: [[id('correlate-b'), id('correlate-c')]] }),
    ...chain('B', 100),
    ...chain('C', 180),
  ];
}

/** A delta load with the form's defaults (`o` sets the rest: id, place, source, wires...). */
function deltaLoadNode({ id, z, ...o }: Record<string, unknown> & { id: string; z: string }): FlowNode {
  return {
    id,
    type: 'rps-delta-load',
    z,
    name: '',
    source: 'rest',
    url: '',
    remoteSystem: '',
    tls: '',
    headers: [],
    recordsPath: '',
    idField: 'id',
    updatedField: 'updated_at',
    timeFormat: 'iso8601',
    table: '',
    pageSize: '100',
    lookBack: '5',
    pagesInFlight: '1',
    recordTimeout: '60',
    initial: 'all',
    startAfter: '',
    initialFilter: '',
    createdField: '',
    schedule: 'interval',
    interval: '60',
    cron: '',
    runOnStart: true,
    store: '',
    ...o,
  };
}

/** An inject that sends `msg.action` (and `payload`, when given) into a delta load. */
function actionInject(o: { id: string; z: string; name: string; action: string; x: number; y: number; target: string }): FlowNode {
  return {
    id: o.id,
    type: 'inject',
    z: o.z,
    name: o.name,
    props: [{ p: 'action', v: o.action, vt: 'str' }],
    repeat: '',
    crontab: '',
    once: false,
    onceDelay: 0.1,
    topic: '',
    x: o.x,
    y: o.y,
    wires: [[o.target]],
  };
}

/**
 * The outbound chain of a delta load: capture → correlate → map fields → send to remote,
 * on one row at `y` from `x`. Correlate's third output (records whose link is inactive: not
 * sent) goes to `inactive`, a link out back into the delta load, so that they count as done.
 */
function loadChain(id: (name: string) => string, z: string, x: number, y: number, inactive: string): FlowNode[] {
  return [
    captureNode({ id: id('capture'), z, x, y, wires: [[id('correlate')]] }),
    { id: id('correlate'), type: 'rps-correlate', z, name: '', remoteSystem: id('rs'), inactiveOutput: true, outputs: 3, x: x + 240, y, wires: [[id('map')], [id('map')], [inactive]] },
    {
      id: id('map'),
      type: 'rps-map',
      z,
      name: 'local → shared names',
      mappings: [field('summary', 'short_description'), field('details', 'description'), field('priority', 'priority'), field('state', 'state')],
      keepUnmapped: false,
      x: x + 520,
      y,
      wires: [[id('send')]],
    },
    { id: id('send'), type: 'rps-send', z, name: '', remoteSystem: id('rs'), processEvent: id('pe'), x: x + 810, y, wires: [[]] },
  ];
}

const DELTA_LOAD_INFO = `Delta load with watermark

"incidents API" reads the incidents that changed since its last run from a REST API,
a page at a time, and emits each as a record change: capture decides whether it is
sent, correlate finds its twin on the remote system, map fields translates the field
names, send to remote writes it into the durable outbound queue.

1. The URL asks for the records after the watermark: {updatedAfter} and {idAfter} are
   the updated time and id of the last record done, {limit} the page size. The API
   answers {"result": [...]}, ordered by updated_at then id (Records at: result).
2. A record is done once send to remote has queued it, or capture ignored it;
   correlate's third output (records whose link is inactive, not sent) is wired back
   into the delta load, which counts them as done too. The watermark moves on only past
   records that are done, so a restart or a failure never loses a change.
3. Each run starts 5 s before the watermark (the look-back window) to pick up late
   commits; records of that window that were done already are dropped.
4. The first run loads every record (as inserts); later runs, every 60 s after the
   previous one ended, only the changed ones (as updates). "run now" starts a run,
   "load all again" forgets the watermark.`;

/** "Delta load with watermark": a REST source → capture → correlate → map → send. */
export function deltaLoadRest(): FlowNode[] {
  const id = ids('delta-rest');
  const z = id('tab');
  return [
    { id: z, type: 'tab', label: 'Delta load with watermark', info: `${DELTA_LOAD_INFO}\n\n${templateSteps('correlate or send to remote')}` },
    { id: id('pe'), type: 'rps-process-event', name: 'My process event', description: '', domain: '' },
    remoteSystem(id('rs'), 'Remote instance', 'http://127.0.0.1:1881'),
    { id: id('comment'), type: 'comment', z, name: 'Delta load: REST API → capture → correlate → map → send', info: DELTA_LOAD_INFO, x: 260, y: 40, wires: [] },
    actionInject({ id: id('run'), z, name: 'run now', action: 'run', x: 110, y: 100, target: id('load') }),
    actionInject({ id: id('reset'), z, name: 'load all again', action: 'reset', x: 120, y: 180, target: id('load') }),
    { id: id('done-in'), type: 'link in', z, name: 'records done', links: [id('done-out')], x: 135, y: 240, wires: [[id('load')]] },
    deltaLoadNode({
      id: id('load'),
      z,
      name: 'incidents API',
      url: 'http://127.0.0.1:1880/api/incidents?updated_after={updatedAfter}&id_after={idAfter}&limit={limit}',
      headers: [{ name: 'Accept', value: 'application/json' }],
      recordsPath: 'result',
      table: 'incident',
      x: 320,
      y: 140,
      wires: [[id('capture')], []],
    }),
    ...loadChain(id, z, 540, 140, id('done-out')),
    { id: id('done-out'), type: 'link out', z, name: 'inactive: done', mode: 'link', links: [id('done-in')], x: 960, y: 220, wires: [] },
  ];
}

const SQL_TABLE_INFO = `Delta load from a SQL table

Any source can feed a delta load: with Source "Flow", it asks for each page on its
second output and the flow sends the page back into its input.

1. A page request: msg.payload = {updatedAfter, idAfter, limit}. "SELECT a page" answers
   it with the records updated after updatedAfter, or at updatedAfter with an id after
   idAfter (idAfter "": at or after updatedAfter; updatedAfter "": every record),
   ordered by updated_at then id, at most limit of them: msg.payload = the rows, msg.rps
   kept. Here it reads a sample table kept in flow context ("add an incident" writes
   one); replace it with your database node running the query of the SQL comment.
2. The page comes back through the link "page answers" into the delta load, which emits
   each record on its first output: capture → correlate → map fields → send to remote.
3. A record is done once send to remote has queued it, or capture ignored it;
   correlate's third output (records whose link is inactive, not sent) is wired back
   too, so they count as done. The watermark moves on only past records that are done.`;

const SQL_TABLE_DDL = `The table and the index the page query needs (PostgreSQL)

CREATE TABLE incidents (
  id text COLLATE "C" PRIMARY KEY,
  short_description text,
  description text,
  priority int,
  state text,
  updated_at timestamptz(3) NOT NULL DEFAULT now()
);
CREATE INDEX incidents_delta ON incidents (updated_at, id);

The page query, with $1 = updatedAfter ('-infinity' when it is ''), $2 = idAfter, $3 = limit:

SELECT * FROM incidents
WHERE updated_at > $1 OR (updated_at = $1 AND id > $2)
ORDER BY updated_at, id
LIMIT $3;

Every id is after '' (text ids), so at the start of a run (idAfter '') the query reads
the records updated at or after updatedAfter. COLLATE "C" orders text ids the way the
delta load does; timestamptz(3) keeps times to the millisecond, as it counts them.`;

/** The sample table of "Delta load from a SQL table": one incident written with a new updated_at. */
const SQL_TABLE_WRITE = `// A sample incidents table in flow context, standing in for the SQL table:
// msg.payload (with an id) is written with updated_at = now.
const table = flow.get('incidents') || {};
const record = Object.assign({}, table[msg.payload.id], msg.payload, { updated_at: new Date().toISOString() });
table[record.id] = record;
flow.set('incidents', table);
return null;`;

/** The page query of "Delta load from a SQL table", on the sample table. */
const SQL_TABLE_PAGE = `// Answers the delta load's page request (msg.payload: updatedAfter, idAfter, limit)
// with the next page of the incidents table. With PostgreSQL, replace this node with
// your database node running (see the SQL comment)
//   SELECT * FROM incidents
//   WHERE updated_at > $1 OR (updated_at = $1 AND id > $2)
//   ORDER BY updated_at, id LIMIT $3
// with the parameters below, and put its rows in msg.payload (dates as ISO 8601 text).
// Keep msg.rps as it is: the delta load knows its answer by it. On an error, set
// msg.error and send the message back all the same: the run stops with that error.
const p = msg.payload;
const params = [p.updatedAfter === '' ? '-infinity' : p.updatedAfter, p.idAfter, p.limit];
// The same query on the sample table (ids compared as text, as COLLATE "C" does).
const after = params[0] === '-infinity' ? -Infinity : Date.parse(params[0]);
msg.payload = Object.values(flow.get('incidents') || {})
  .filter((r) => Date.parse(r.updated_at) > after || (Date.parse(r.updated_at) === after && r.id > params[1]))
  .sort((a, b) => Date.parse(a.updated_at) - Date.parse(b.updated_at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  .slice(0, params[2]);
return msg;`;

/** "Delta load from a SQL table": any source, through page requests on output 2 and page answers on the input. */
export function deltaLoadSql(): FlowNode[] {
  const id = ids('delta-sql');
  const z = id('tab');
  return [
    { id: z, type: 'tab', label: 'Delta load from a SQL table', info: `${SQL_TABLE_INFO}\n\n${templateSteps('correlate or send to remote')}` },
    { id: id('pe'), type: 'rps-process-event', name: 'My process event', description: '', domain: '' },
    remoteSystem(id('rs'), 'Remote instance', 'http://127.0.0.1:1881'),
    { id: id('comment'), type: 'comment', z, name: 'Delta load from a table: page requests out, pages back in', info: SQL_TABLE_INFO, x: 270, y: 40, wires: [] },
    { id: id('sql'), type: 'comment', z, name: 'SQL: the table, its (updated_at, id) index and the page query', info: SQL_TABLE_DDL, x: 820, y: 40, wires: [] },
    actionInject({ id: id('run'), z, name: 'run now', action: 'run', x: 110, y: 100, target: id('load') }),
    { id: id('answers'), type: 'link in', z, name: 'page answers', links: [id('answer-out'), id('done-out')], x: 135, y: 180, wires: [[id('load')]] },
    deltaLoadNode({ id: id('load'), z, name: 'incidents table', source: 'flow', table: 'incident', x: 310, y: 140, wires: [[id('capture')], [id('page')]] }),
    { id: id('page'), type: 'function', z, name: 'SELECT a page', func: SQL_TABLE_PAGE, outputs: 1, x: 540, y: 260, wires: [[id('answer-out')]] },
    { id: id('answer-out'), type: 'link out', z, name: 'page answer', mode: 'link', links: [id('answers')], x: 695, y: 260, wires: [] },
    ...loadChain(id, z, 540, 140, id('done-out')),
    { id: id('done-out'), type: 'link out', z, name: 'inactive: done', mode: 'link', links: [id('answers')], x: 960, y: 220, wires: [] },
    {
      id: id('add'),
      type: 'inject',
      z,
      name: 'add an incident',
      props: [{ p: 'payload' }],
      repeat: '',
      crontab: '',
      once: false,
      onceDelay: 0.1,
      topic: '',
      payload: '{"id":"INC0001","short_description":"Printer on floor 2 is out of paper","description":"","priority":2,"state":"new"}',
      payloadType: 'json',
      x: 130,
      y: 340,
      wires: [[id('write')]],
    },
    { id: id('write'), type: 'function', z, name: 'write sample table', func: SQL_TABLE_WRITE, outputs: 1, x: 330, y: 340, wires: [] },
  ];
}

const MONITORING_INFO = `Monitoring with Dashboard 2.0

The sync stats node reads the figures of the remote system's queues every 10 seconds and on any input message; Dashboard 2.0 widgets show them at /dashboard (page "Sync"):

- a line chart of rows processed per minute, outbound, inbound and in error (output 2: one message per series, msg.topic is the series);
- a gauge of the outbound success rate over 24 hours, in % (msg.payload.outbound.successPercent);
- texts for the outbound rows waiting, in error and the 95th percentile of their processing time (msg.payload.outbound.waiting, .error, .p95Ms), picked by each widget's value property;
- a template with both directions' figures from msg.payload.

This example needs FlowFuse Dashboard 2.0 (@flowfuse/node-red-dashboard): install it from the palette manager (Manage palette > Install) before you import this flow. Remote Process Sync itself does not depend on it; any dashboard can use the sync stats node's messages. Leave the remote system empty in the sync stats node for the figures of every queue of the store.`;

/** "Monitoring with Dashboard 2.0": the sync stats node's figures on Dashboard 2.0 widgets (the dashboard is installed apart). */
export function monitoringDashboard(): FlowNode[] {
  const id = ids('monitoring');
  const z = id('tab');
  const group = id('ui-group');
  /** A text widget that shows one figure of msg.payload (its value property picks it). */
  const text = (name: string, label: string, value: string, order: number, y: number): FlowNode => ({
    id: id(`text-${name}`),
    type: 'ui-text',
    z,
    group,
    order,
    width: 0,
    height: 0,
    name: '',
    label,
    format: '{{msg.payload}}',
    layout: 'row-spread',
    style: false,
    font: '',
    fontSize: 16,
    color: '#717171',
    wrapText: false,
    className: `rps-${name}`,
    value,
    valueType: 'msg',
    x: 620,
    y,
    wires: [],
  });
  return [
    { id: z, type: 'tab', label: 'Monitoring with Dashboard 2.0', info: `${MONITORING_INFO}\n\n${templateSteps('the sync stats node')}` },
    remoteSystem(id('rs'), 'Remote instance', 'http://127.0.0.1:1881'),
    { id: id('comment'), type: 'comment', z, name: 'Sync figures on Dashboard 2.0 (install @flowfuse/node-red-dashboard first)', info: MONITORING_INFO, x: 310, y: 40, wires: [] },
    {
      id: id('refresh'),
      type: 'inject',
      z,
      name: 'refresh now',
      props: [],
      repeat: '',
      crontab: '',
      once: false,
      onceDelay: 0.1,
      topic: '',
      x: 110,
      y: 140,
      wires: [[id('stats')]],
    },
    {
      id: id('stats'),
      type: 'rps-stats',
      z,
      name: 'sync figures',
      remoteSystem: id('rs'),
      processEvent: '',
      store: '',
      interval: '10',
      x: 300,
      y: 140,
      wires: [[id('gauge'), id('text-waiting'), id('text-error'), id('text-p95'), id('template')], [id('chart')]],
    },
    {
      id: id('chart'),
      type: 'ui-chart',
      z,
      group,
      name: '',
      label: 'Rows per minute',
      order: 1,
      chartType: 'line',
      category: 'topic',
      categoryType: 'msg',
      xAxisLabel: '',
      xAxisProperty: '',
      xAxisPropertyType: 'timestamp',
      xAxisType: 'time',
      xAxisFormat: '',
      xAxisFormatType: 'auto',
      xmin: '',
      xmax: '',
      yAxisLabel: 'rows',
      yAxisProperty: 'payload',
      yAxisPropertyType: 'msg',
      ymin: '0',
      ymax: '',
      bins: 10,
      action: 'append',
      stackSeries: false,
      pointShape: 'circle',
      pointRadius: 4,
      showLegend: true,
      removeOlder: 1,
      removeOlderUnit: '3600',
      removeOlderPoints: '',
      colors: ['#0095FF', '#2CA02C', '#FF0000', '#FF7F0E', '#A347E1', '#D62728', '#FF9896', '#9467BD', '#C5B0D5'],
      textColor: ['#666666'],
      textColorDefault: true,
      gridColor: ['#e5e5e5'],
      gridColorDefault: true,
      width: 12,
      height: 6,
      className: 'rps-chart',
      interpolation: 'linear',
      x: 590,
      y: 100,
      wires: [[]],
    },
    {
      id: id('gauge'),
      type: 'ui-gauge',
      z,
      name: '',
      group,
      order: 2,
      value: 'payload.outbound.successPercent',
      valueType: 'msg',
      width: 4,
      height: 4,
      gtype: 'gauge-half',
      gstyle: 'rounded',
      title: 'Outbound success (24 h)',
      alwaysShowTitle: false,
      floatingTitlePosition: 'top-left',
      units: '',
      icon: '',
      prefix: '',
      suffix: '%',
      segments: [
        { from: '0', color: '#EA5353', text: '', textType: 'label' },
        { from: '90', color: '#FFC800', text: '', textType: 'label' },
        { from: '99', color: '#5CD65C', text: '', textType: 'label' },
      ],
      min: 0,
      max: 100,
      sizeThickness: 16,
      sizeGap: 4,
      sizeKeyThickness: 8,
      styleRounded: true,
      styleGlow: false,
      className: 'rps-success',
      x: 610,
      y: 160,
      wires: [[]],
    },
    text('waiting', 'Outbound waiting', 'payload.outbound.waiting', 3, 200),
    text('error', 'Outbound in error', 'payload.outbound.error', 4, 240),
    text('p95', 'Outbound p95 (ms)', 'payload.outbound.p95Ms', 5, 280),
    {
      id: id('template'),
      type: 'ui-template',
      z,
      group,
      page: '',
      ui: '',
      name: 'both directions',
      order: 6,
      width: 0,
      height: 0,
      head: '',
      format: MONITORING_TEMPLATE,
      storeOutMessages: true,
      passthru: false,
      resendOnRefresh: true,
      templateScope: 'local',
      className: 'rps-directions',
      x: 620,
      y: 320,
      wires: [[]],
    },
    {
      id: group,
      type: 'ui-group',
      name: 'Remote Process Sync',
      page: id('ui-page'),
      width: 12,
      height: 1,
      order: 1,
      showTitle: true,
      className: '',
      visible: 'true',
      disabled: 'false',
      groupType: 'default',
    },
    {
      id: id('ui-page'),
      type: 'ui-page',
      name: 'Sync',
      ui: id('ui-base'),
      path: '/sync',
      icon: 'sync',
      layout: 'grid',
      theme: id('ui-theme'),
      breakpoints: [
        { name: 'Default', px: '0', cols: '3' },
        { name: 'Tablet', px: '576', cols: '6' },
        { name: 'Small Desktop', px: '768', cols: '9' },
        { name: 'Desktop', px: '1024', cols: '12' },
      ],
      order: 1,
      className: '',
      visible: 'true',
      disabled: 'false',
    },
    {
      id: id('ui-base'),
      type: 'ui-base',
      name: 'Sync monitor',
      path: '/dashboard',
      appIcon: '',
      includeClientData: true,
      acceptsClientConfig: ['ui-notification', 'ui-control'],
      showPathInSidebar: false,
      headerContent: 'page',
      navigationStyle: 'default',
      titleBarStyle: 'default',
      showReconnectNotification: true,
      notificationDisplayTime: 1,
      showDisconnectNotification: true,
      allowInstall: false,
    },
    {
      id: id('ui-theme'),
      type: 'ui-theme',
      name: 'Sync theme',
      colors: { surface: '#fcfcfd', primary: '#0d74ce', bgPage: '#f9f9fb', groupBg: '#ffffff', groupOutline: '#d9d9e0' },
      sizes: { density: 'default', pagePadding: '12px', groupGap: '12px', groupBorderRadius: '4px', widgetGap: '12px' },
    },
  ];
}

/** The ui-template of the monitoring example: both directions' figures from msg.payload (Vue, as Dashboard 2.0 renders it). */
const MONITORING_TEMPLATE = `<template>
  <table v-if="msg && msg.payload && msg.payload.outbound" class="rps-figures">
    <tr><th></th><th>outbound</th><th>inbound</th></tr>
    <tr v-for="row in rows" :key="row.key">
      <td>{{ row.label }}</td>
      <td class="rps-out">{{ show(msg.payload.outbound[row.key]) }}</td>
      <td class="rps-in">{{ show(msg.payload.inbound[row.key]) }}</td>
    </tr>
  </table>
  <p v-else>waiting for the first figures</p>
</template>

<script>
export default {
  data() {
    return {
      rows: [
        { key: 'waiting', label: 'waiting' },
        { key: 'error', label: 'in error' },
        { key: 'perMinute', label: 'last minute' },
        { key: 'perHour', label: 'last hour' },
        { key: 'perDay', label: 'last 24 h' },
        { key: 'successPercent', label: 'success %' },
        { key: 'averageMs', label: 'average ms' },
        { key: 'p95Ms', label: 'p95 ms' },
        { key: 'oldestWaitingSeconds', label: 'oldest waiting s' }
      ]
    }
  },
  methods: {
    show(v) {
      return v === null || v === undefined ? '–' : v
    }
  }
}
</script>

<style>
.rps-figures td, .rps-figures th { padding: 2px 12px; text-align: right; }
.rps-figures td:first-child { text-align: left; }
</style>`;

const ATTACHMENTS_INFO = `Attachments

Each record is a folder of files under the folder in the tab's environment variable RPS_FILES (Edit the tab: Environment variables): record r1's files are in \`RPS_FILES/r1\`. Import this same flow on both Node-REDs, each with its own folder, and the files of a record follow it both ways.

- Send: \`POST /rps-example/records/:id/sync\` says that record :id changed. Its folder goes with the change (attachments, send mode): only the files that are new or changed since the last sync to the remote (all of them on the record's first sync), and the names of the files removed from the folder. The files travel by the attachment protocol, verified by SHA-256, after the record.
- Receive: inbound → correlate gives the local record (the twin, or a new one with the sender's id); attachments (receive mode) asks for the files the record lacks and passes the message to complete inbound. Each file then comes out of its second output with its content; "store or remove" writes it into the record's folder (or removes it) and complete inbound ends it. A file that cannot be written goes to the Catch node, is marked as error and tried again.

This example hands the content as a Buffer, which suits files of a few megabytes. For large files set "Content as" to a file path and move the file with your own node: nothing then holds the file in memory.`;

export function attachmentsExample(): FlowNode[] {
  const id = ids('attachments');
  const z = id('tab');
  const folder = "$env('RPS_FILES') & '/' & ";
  return [
    {
      id: z,
      type: 'tab',
      label: 'Attachments',
      info: `${ATTACHMENTS_INFO}\n\n${templateSteps('send to remote')}`,
      env: [{ name: 'RPS_FILES', value: '/tmp/rps-files', type: 'str' }],
    },
    remoteSystem(id('rs'), 'Remote instance', 'http://127.0.0.1:1881'),
    { id: id('pe'), type: 'rps-process-event', name: 'Record files', description: 'A record and its folder of files', domain: '' },
    { id: id('comment'), type: 'comment', z, name: 'A folder of files per record, synced both ways', info: ATTACHMENTS_INFO, x: 250, y: 40, wires: [] },
    { id: id('http-in'), type: 'http in', z, name: 'record changed', url: '/rps-example/records/:id/sync', method: 'post', upload: false, swaggerDoc: '', x: 140, y: 120, wires: [[id('record')]] },
    {
      id: id('record'),
      type: 'change',
      z,
      name: 'record and its folder',
      rules: [
        { t: 'set', p: 'payload', pt: 'msg', to: '{ "id": req.params.id }', tot: 'jsonata' },
        { t: 'set', p: 'operation', pt: 'msg', to: 'update', tot: 'str' },
        { t: 'set', p: 'attachments', pt: 'msg', to: `${folder}req.params.id`, tot: 'jsonata' },
      ],
      x: 360,
      y: 120,
      wires: [[id('capture')]],
    },
    captureNode({ id: id('capture'), z, table: 'record', includedFields: ['id'], delete: false, fieldTimes: false, x: 570, y: 120, wires: [[id('correlate-out')]] }),
    { id: id('correlate-out'), type: 'rps-correlate', z, name: '', remoteSystem: id('rs'), x: 790, y: 120, wires: [[id('files-out')], [id('files-out')]] },
    {
      id: id('files-out'),
      type: 'rps-attachment-sync',
      z,
      name: 'its files',
      mode: 'send',
      remoteSystem: id('rs'),
      processEvent: '',
      property: 'attachments',
      strategy: 'deltas',
      removals: true,
      maxSizeMb: '50',
      extensions: '',
      keyDays: '7',
      localId: 'payload.id',
      localIdType: 'msg',
      localTable: '',
      existing: '',
      content: 'buffer',
      outputs: 1,
      x: 1010,
      y: 120,
      wires: [[id('send')]],
    },
    { id: id('send'), type: 'rps-send', z, name: '', remoteSystem: id('rs'), processEvent: id('pe'), x: 1230, y: 120, wires: [[id('answer')]] },
    { id: id('answer'), type: 'http response', z, name: '', statusCode: '202', headers: {}, x: 1460, y: 120, wires: [] },
    { id: id('inbound'), type: 'rps-inbound', z, name: '', remoteSystem: id('rs'), processEvent: id('pe'), maxParallel: '4', timeout: '60', gapWait: '30', x: 190, y: 260, wires: [[id('correlate-in')]] },
    { id: id('correlate-in'), type: 'rps-correlate', z, name: '', x: 420, y: 260, wires: [[id('local')], [id('local')], [id('done')]] },
    {
      id: id('local'),
      type: 'change',
      z,
      name: 'the local record',
      rules: [{ t: 'set', p: 'payload', pt: 'msg', to: '{ "id": rps.correlation ? rps.correlation.localId : rps.source.id }', tot: 'jsonata' }],
      x: 600,
      y: 260,
      wires: [[id('files-in')]],
    },
    {
      id: id('files-in'),
      type: 'rps-attachment-sync',
      z,
      name: 'its files',
      mode: 'receive',
      remoteSystem: id('rs'),
      processEvent: id('pe'),
      property: 'attachments',
      strategy: 'deltas',
      removals: false,
      maxSizeMb: '0',
      extensions: '',
      keyDays: '7',
      localId: 'payload.id',
      localIdType: 'msg',
      localTable: 'record',
      existing: '',
      content: 'buffer',
      outputs: 2,
      x: 800,
      y: 260,
      wires: [[id('done')], [id('where')]],
    },
    {
      id: id('where'),
      type: 'change',
      z,
      name: 'into the record folder',
      rules: [{ t: 'set', p: 'filename', pt: 'msg', to: `${folder}rps.localId & '/' & filename`, tot: 'jsonata' }],
      x: 1000,
      y: 340,
      wires: [[id('action')]],
    },
    {
      id: id('action'),
      type: 'switch',
      z,
      name: 'store or remove',
      property: 'rps.action',
      propertyType: 'msg',
      rules: [
        { t: 'eq', v: 'store', vt: 'str' },
        { t: 'eq', v: 'remove', vt: 'str' },
      ],
      checkall: 'false',
      repair: false,
      outputs: 2,
      x: 1210,
      y: 340,
      wires: [[id('write')], [id('remove')]],
    },
    { id: id('write'), type: 'file', z, name: 'write the file', filename: 'filename', filenameType: 'msg', appendNewline: false, createDir: true, overwriteFile: 'true', encoding: 'none', x: 1420, y: 320, wires: [[id('done')]] },
    { id: id('remove'), type: 'file', z, name: 'remove the file', filename: 'filename', filenameType: 'msg', appendNewline: false, createDir: false, overwriteFile: 'delete', encoding: 'none', x: 1420, y: 380, wires: [[id('done')]] },
    { id: id('catch'), type: 'catch', z, name: 'a file not written', scope: [id('write'), id('remove')], uncaught: false, x: 1420, y: 440, wires: [[id('done')]] },
    { id: id('done'), type: 'rps-complete', z, name: '', localTable: 'record', localId: 'payload.id', localIdType: 'msg', x: 1660, y: 260, wires: [[]] },
  ];
}

export const EXAMPLES: Record<string, () => FlowNode[]> = {
  'Outbound Flow Template - Basic.json': outboundTemplate,
  'Inbound Flow Template - Basic.json': inboundTemplate,
  'Error queue and retry.json': retryExample,
  'Two help desks/Help desk A.json': () => desk(DESK_A),
  'Two help desks/Help desk B.json': () => desk(DESK_B),
  'Two-way sync with comments/Help desk A.json': () => desk(DESK_A, true),
  'Two-way sync with comments/Help desk B.json': () => desk(DESK_B, true),
  'One record, two remotes.json': fanOut,
  'Delta load with watermark.json': deltaLoadRest,
  'Delta load from a SQL table.json': deltaLoadSql,
  'Monitoring with Dashboard 2.0.json': monitoringDashboard,
  'Attachments.json': attachmentsExample,
};

export function exampleText(flows: FlowNode[]): string {
  return JSON.stringify(flows, null, 2) + '\n';
}

if (require.main === module) {
  for (const [file, make] of Object.entries(EXAMPLES)) {
    const path = join(EXAMPLES_DIR, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, exampleText(make()));
    console.log(`wrote examples/${file}`);
  }
}
