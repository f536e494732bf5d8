/** What the contract suites of the store's concerns share: the store factory and message makers. */
import type { Message, MessageDraft } from '../../../src/core/protocol';
import type { Store } from '../../../src/store/store';

export interface StoreFactory {
  /** A new, empty store. */
  create(): Promise<Store>;
  /** The same store opened again, as after a restart (the old handle is closed first). */
  reopen(store: Store): Promise<Store>;
}

let counter = 0;
export function draft(table: string, id: string, overrides: Partial<MessageDraft> = {}): MessageDraft {
  counter += 1;
  return {
    id: `msg-${counter}-${Math.random().toString(36).slice(2)}`,
    kind: 'change',
    processEvent: 'PE',
    source: { instanceId: 'here', table, id },
    operation: 'update',
    capturedAt: new Date(0).toISOString(),
    interactive: true,
    fields: { v: counter },
    changedFields: ['v'],
    journal: [],
    attachments: [],
    ...overrides,
  };
}

export function received(table: string, id: string, sequence: number, overrides: Partial<Message> = {}): Message {
  return { ...draft(table, id), instanceId: undefined, sequence, ...overrides } as unknown as Message;
}

/** The clock of the contract suites. */
export const T0 = 1_000_000;


/** A new store for each test of the suite, closed after it (the one a test reopened, if it did). */
export function eachStore(factory: StoreFactory, set: (store: Store) => void, get: () => Store): void {
  beforeEach(async () => {
    set(await factory.create());
  });
  afterEach(async () => {
    await get().close();
  });
}
