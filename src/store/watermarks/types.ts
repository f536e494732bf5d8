/**
 * Watermarks of delta loads (see core/delta.ts): per rps-delta-load node id, the position
 * (updated time, id) up to which every record has been handled. A watermark only moves
 * forward (a write behind the stored one is refused: two runs, or a run that finished
 * late, cannot take it back); only a reset, a person's action, moves it back. Kept across
 * restarts and redeploys.
 */
import type { Watermark } from '../../core/delta';

export interface Watermarks {
  /** The node's watermark; undefined when it has none (its next run is an initial load). */
  read(node: string): Promise<Watermark | undefined>;
  /**
   * Moves the node's watermark forward to `to`; returns false, and leaves it as it is,
   * when `to` is not later than the stored one (compareWatermarks).
   */
  write(node: string, to: Watermark, now: number): Promise<boolean>;
  /**
   * Sets the watermark whatever it was: to a time (epoch ms: records updated at or after
   * it are loaded again) or, with null, to nothing (the next run is an initial load).
   * Committed on disk when the promise resolves.
   */
  reset(node: string, to: number | null, now: number): Promise<void>;
}
