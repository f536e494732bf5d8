/**
 * Journal marks: which journal entries (comments, work notes) each remote system has,
 * because we sent it there or it came from there. An entry is sent to a remote only
 * while it has no mark for that remote, and the mark is written in the transaction that
 * queues the message (outbound enqueue), so an entry is never sent twice nor lost. An
 * entry received is taken in only the first time this store sees its id, from any
 * remote (inbound accept): an entry that comes back, or comes again by another way, is
 * dropped from the message.
 */
export interface JournalMarks {
  /** The entries of `entryIds` that `remoteSystem` has (a mark for it). */
  known(remoteSystem: string, entryIds: readonly string[]): Promise<Set<string>>;
}

/** One mark: remote system and entry id. */
export interface JournalMark {
  remoteSystem: string;
  entryId: string;
}
