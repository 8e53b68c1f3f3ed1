/**
 * Where each channel is: the last (epoch, offset) delivered to the page, which is what a
 * reconnecting client sends as `since` (see "Positions" in `docs/protocol.md`).
 *
 * Pure logic, no I/O. Guarantees to its caller:
 * - a publication is delivered at most once per (epoch, offset): replays that overlap what
 *   was already delivered (a resubscribe, a transport upgrade that runs two transports for a
 *   moment) are dropped;
 * - a loss is reported once: a `gap` event from the server, a skipped offset or a new epoch,
 *   or a subscribe result with `recovered: false`, whichever comes first.
 *
 * Public names: `PositionTracker`, `Verdict`.
 */
import type { GapEvent, Position, SubscribeResult } from './protocol.js';

/** What to do with an incoming publication, and the gap to report before it, if any. */
export interface Verdict {
  deliver: boolean;
  gap: GapEvent | null;
}

export class PositionTracker {
  private readonly positions = new Map<string, Position>();
  /** Channels whose loss was reported and not yet followed by a publication. */
  private readonly gapped = new Set<string>();
  /** Channels with a loss reported since their last `beginSubscribe`. */
  private readonly reported = new Set<string>();

  /** The last position delivered in `channel`, if any: the `since` of a resubscribe. */
  get(channel: string): Position | undefined {
    const pos = this.positions.get(channel);
    return pos ? { ...pos } : undefined;
  }

  /** Start from a position the caller knows (a `since` given to subscribe). */
  set(channel: string, pos: Position): void {
    this.positions.set(channel, { epoch: pos.epoch, offset: pos.offset });
  }

  delete(channel: string): void {
    this.positions.delete(channel);
    this.gapped.delete(channel);
    this.reported.delete(channel);
  }

  /** A subscribe command is about to be sent for `channel`. */
  beginSubscribe(channel: string): void {
    this.reported.delete(channel);
  }

  /**
   * Judge a publication at (epoch, offset) in `channel` and move the position when it is
   * delivered. A publication of another epoch, or one that skips offsets, is delivered
   * with the gap it reveals, unless that loss was reported already.
   */
  accept(channel: string, epoch: string, offset: number): Verdict {
    const last = this.positions.get(channel);
    if (last !== undefined && last.epoch === epoch && offset <= last.offset) {
      return { deliver: false, gap: null };
    }
    this.positions.set(channel, { epoch, offset });
    const contiguous =
      last === undefined || (last.epoch === epoch && offset === last.offset + 1);
    const known = this.gapped.delete(channel);
    if (contiguous || known) {
      return { deliver: true, gap: null };
    }
    this.reported.add(channel);
    return { deliver: true, gap: { event: 'gap', channel, epoch, offset: offset - 1 } };
  }

  /** A `gap` event from the server. Returns false when this loss was reported already. */
  gap(event: GapEvent): boolean {
    if (this.gapped.has(event.channel)) {
      return false;
    }
    this.gapped.add(event.channel);
    this.reported.add(event.channel);
    return true;
  }

  /**
   * A subscribe result (a reply, or a `subscribed` event). The replay came before it, so
   * the channel is now at least at the result's position. Returns the gap to report when
   * the server could not recover from `since` and nothing reported the loss yet.
   */
  subscribed(
    channel: string,
    result: SubscribeResult,
    since: Position | undefined
  ): GapEvent | null {
    const last = this.positions.get(channel);
    if (last === undefined || last.epoch !== result.epoch || last.offset < result.offset) {
      this.positions.set(channel, { epoch: result.epoch, offset: result.offset });
    }
    this.gapped.delete(channel);
    if (since === undefined || result.recovered || this.reported.has(channel)) {
      return null;
    }
    this.reported.add(channel);
    return { event: 'gap', channel, epoch: result.epoch, offset: result.offset };
  }
}
