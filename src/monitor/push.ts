/**
 * Pushes the monitor's figures to open editors: computed once for all of them, at most
 * every `minGapMs` while rows finish or operators act (poke, with one more push a gap
 * after the last poked one), and every `idleMs` otherwise (ages grow, remotes change
 * state); published only when they changed. So the store answers one set of aggregate
 * queries per interval whatever the number of open editors, and an idle integration
 * costs one set every `idleMs`. The gap grows with the time the figures take (ten times
 * it): with a huge queue on SQLite, whose queries run on Node.js's own thread, the
 * monitor never takes more than a tenth of it.
 */
import type { Figures } from './figures';

export class FiguresPush {
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private last = 0;
  private lastText = '';
  private running = false;
  private stopped = false;
  /** A poke came since the last run: the next run is followed by one more (see run). */
  private poked = false;
  /** The gap between pushes now: minGapMs, or ten times what the last figures took. */
  private gapMs: number;

  constructor(
    private readonly compute: () => Promise<Figures>,
    private readonly publish: (figures: Figures) => void,
    private readonly fault: (err: Error) => void,
    private readonly minGapMs = 2000,
    private readonly idleMs = 15_000,
  ) {
    this.gapMs = minGapMs;
  }

  start(): void {
    this.arm(Date.now() + 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Something changed: push soon (not sooner than minGapMs after the last push). */
  poke(): void {
    this.poked = true;
    this.arm(Math.max(Date.now(), this.last + this.gapMs));
  }

  private arm(at: number): void {
    if (this.stopped || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    // Never keeps the process alive: Node-RED's own server does.
    this.timer = setTimeout(() => void this.run(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.running) return;
    this.running = true;
    // Rows that just finished are in the queues at once, but in the minute sums only when
    // the stats recorder next writes them (within a second): a run that a poke asked for
    // is followed by one more a gap later, so that windows and charts catch up with the
    // queue counts instead of waiting for the idle push.
    const followUp = this.poked;
    this.poked = false;
    const started = Date.now();
    try {
      const figures = await this.compute();
      this.gapMs = Math.max(this.minGapMs, 10 * (Date.now() - started));
      // `at` changes every time: compare the rest.
      const text = JSON.stringify({ ...figures, at: 0 });
      if (text !== this.lastText) {
        this.lastText = text;
        this.publish(figures);
      }
    } catch (err) {
      this.fault(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.running = false;
      this.last = Date.now();
      // A poke while this run computed found it running and was dropped: it counts as one too.
      this.arm(this.last + (followUp || this.poked ? this.gapMs : Math.max(this.idleMs, this.gapMs)));
    }
  }
}
