/**
 * A delta load's REST source: the page's URL from the template ({updatedAfter},
 * {idAfter}, {limit}), one authenticated GET, and the records at the answer's path.
 * HTTP failures are sorted by the source client: worth retrying, or the run stops.
 */
import { SourceClient } from '../transport/source';
import type { TlsOptions } from '../transport/client';
import { LoadError, type PageAnswer, type PageRequest, type PageSource, pageRecords } from './delta-load';

export type { SourceClient };

/** A client for a source that needs no authentication (or only a client certificate). */
export function plainSourceClient(tls: TlsOptions | undefined, timeoutMs: number): SourceClient {
  return new SourceClient({ auth: { type: 'none' }, tls, timeoutMs });
}

/** The URL with the page's values put in its placeholders (URL-encoded). */
export function pageUrl(template: string, request: Pick<PageRequest, 'updatedAfter' | 'idAfter' | 'limit'>): string {
  return template
    .replace(/\{updatedAfter\}/g, encodeURIComponent(request.updatedAfter))
    .replace(/\{idAfter\}/g, encodeURIComponent(request.idAfter))
    .replace(/\{limit\}/g, String(request.limit));
}

/** A REST API as page source. */
export class RestSource implements PageSource {
  constructor(
    private readonly client: SourceClient,
    private readonly url: string,
    private readonly headers: Record<string, string>,
    private readonly recordsPath: string,
  ) {}

  async fetch(request: PageRequest, signal: AbortSignal): Promise<PageAnswer> {
    const answer = await this.client.get(pageUrl(this.url, request), this.headers, signal);
    switch (answer.kind) {
      case 'ok': {
        const records = pageRecords(answer.body, this.recordsPath);
        return records instanceof LoadError ? { kind: 'refused', error: records } : { kind: 'page', records };
      }
      case 'not-json':
        return { kind: 'refused', error: new LoadError('not-json') };
      case 'transient':
        return answer.retryAfterMs === undefined ? { kind: 'transient', error: answer.error } : { kind: 'transient', error: answer.error, retryAfterMs: answer.retryAfterMs };
      case 'refused':
        return { kind: 'refused', error: new LoadError('http', { status: answer.status, reason: answer.reason }) };
    }
  }

  close(): void {
    this.client.close();
  }
}

