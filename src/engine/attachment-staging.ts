/**
 * Where attachment content waits on disk, beside a store (never in it: a 200 MB file
 * goes through a stream, and a database row is read whole):
 *
 * - `out/<sha256>`: content a flow gave us to send, kept by its hash. The same file
 *   attached to many records, or sent to many remotes, is kept once; a key names a hash,
 *   so it always finds exactly the bytes it was made for.
 * - `in/<row id>`: what a remote has pushed of one inbound file so far. It grows as
 *   pushes arrive (a push resumes where the last one stopped) and is verified, size and
 *   SHA-256, before anything reaches the flow.
 *
 * A file appears under its final name only once it is whole and on disk (written to a
 * temporary name, synced, renamed), so a crash leaves either nothing or the complete
 * content, plus at worst a temporary file that the next start removes.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Content as a flow gives it: the bytes, a file's path, or a stream to read once. */
export type AttachmentContent = Buffer | string | Readable;

/** Content was larger than allowed: nothing of it was kept. */
export class ContentTooLargeError extends Error {
  override readonly name = 'ContentTooLargeError';
  constructor(readonly maxBytes: number) {
    super(`larger than ${maxBytes} bytes`);
  }
}

export interface StagedContent {
  hash: string;
  size: number;
}

/** What a staged inbound file turned out to be: whole and right, short, or not what was announced. */
export type Verification = 'verified' | 'incomplete' | 'mismatch';

const TEMP_PREFIX = 'tmp-';

/** Counts and hashes what flows through, and stops the stream past `maxBytes` (0: no bound). */
class Measure extends Transform {
  readonly hash = createHash('sha256');
  size = 0;

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += chunk.length;
    if (this.maxBytes > 0 && this.size > this.maxBytes) {
      callback(new ContentTooLargeError(this.maxBytes));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }
}

function readableOf(content: AttachmentContent): Readable {
  if (Buffer.isBuffer(content)) return Readable.from([content]);
  if (typeof content === 'string') return createReadStream(content);
  return content;
}

export class AttachmentStaging {
  private readonly outDir: string;
  private readonly inDir: string;
  private ready: Promise<void> | undefined;

  constructor(readonly root: string) {
    this.outDir = join(root, 'out');
    this.inDir = join(root, 'in');
  }

  /** Creates the folders and removes what a crash left half-written. */
  private prepare(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.outDir, { recursive: true });
      await mkdir(this.inDir, { recursive: true });
      for (const name of await readdir(this.outDir)) if (name.startsWith(TEMP_PREFIX)) await rm(join(this.outDir, name), { force: true });
    })();
    return this.ready;
  }

  /**
   * Keeps content to send: streams it to disk while hashing, once, whatever its size.
   * Refused with ContentTooLargeError, keeping nothing, past `maxBytes` (0: no bound).
   */
  async stageOut(content: AttachmentContent, maxBytes = 0): Promise<StagedContent> {
    await this.prepare();
    const temp = join(this.outDir, `${TEMP_PREFIX}${randomUUID()}`);
    const measure = new Measure(maxBytes);
    try {
      await pipeline(readableOf(content), measure, createWriteStream(temp));
      await syncFile(temp);
      const hash = measure.hash.digest('hex');
      // Content already kept (the same bytes staged before) stays as it is.
      await rename(temp, this.outPath(hash));
      return { hash, size: measure.size };
    } finally {
      await rm(temp, { force: true });
    }
  }

  outPath(hash: string): string {
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new Error('not a SHA-256 in hex');
    return join(this.outDir, hash);
  }

  /** The size of staged content to send, or undefined when it is not (or no longer) kept. */
  async outSize(hash: string): Promise<number | undefined> {
    try {
      return (await stat(this.outPath(hash))).size;
    } catch {
      return undefined;
    }
  }

  /** Removes content to send that nothing needs any more. */
  async removeOut(hash: string): Promise<void> {
    await rm(this.outPath(hash), { force: true });
  }

  /** The hashes of content kept to send that was staged before `before` (for the cleaner). */
  async outHashes(before: number): Promise<string[]> {
    await this.prepare();
    const hashes: string[] = [];
    for (const name of await readdir(this.outDir)) {
      if (!/^[0-9a-f]{64}$/.test(name)) continue;
      const info = await stat(join(this.outDir, name)).catch(() => undefined);
      if (info && info.mtimeMs < before) hashes.push(name);
    }
    return hashes;
  }

  /** Where the pushed bytes of inbound file `id` are kept. */
  async inPath(id: number): Promise<string> {
    await this.prepare();
    return join(this.inDir, String(id));
  }

  /** Whether inbound file `id` is whole (`size` bytes) and has the SHA-256 it was announced with. */
  async verifyIn(id: number, size: number, hash: string): Promise<Verification> {
    const path = await this.inPath(id);
    let actual: number;
    try {
      actual = (await stat(path)).size;
    } catch {
      return 'incomplete';
    }
    if (actual < size) return 'incomplete';
    if (actual > size) return 'mismatch';
    const digest = createHash('sha256');
    await pipeline(createReadStream(path), digest);
    return digest.digest('hex') === hash ? 'verified' : 'mismatch';
  }

  /** The bytes of inbound file `id` on disk (0: none). */
  async inSize(id: number): Promise<number> {
    try {
      return (await stat(await this.inPath(id))).size;
    } catch {
      return 0;
    }
  }

  /** Flushes inbound file `id` to the disk (before its row says it is verified). */
  async syncIn(id: number): Promise<void> {
    await syncFile(await this.inPath(id));
  }

  async removeIn(id: number): Promise<void> {
    await rm(await this.inPath(id), { force: true });
  }
}

/** Flushes a file's content to the disk (so that a rename after it never names a file a power cut could empty). */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
