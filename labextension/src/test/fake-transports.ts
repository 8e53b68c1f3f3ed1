/**
 * Transports for the client tests: each records what the client sends, and the test hands
 * over the server's frames (replies, events, publications) in the order it chooses.
 */
import { type ChannelEvent, RealtimeClient } from '../client/client.js';
import type { TransportName } from '../client/ladder.js';
import type { Command } from '../client/protocol.js';
import type { Transport, TransportOptions } from '../client/transport.js';

export class FakeTransports {
  transports: { name: TransportName; options: TransportOptions; sent: Command[] }[] = [];

  create = (name: TransportName, options: TransportOptions): Transport => {
    const entry = { name, options, sent: [] as Command[] };
    this.transports.push(entry);
    return {
      name,
      open: () => setTimeout(() => options.handlers.open(), 0),
      send: commands => entry.sent.push(...commands),
      sendBinary: () => undefined,
      close: () => undefined
    };
  };

  get last() {
    return this.transports[this.transports.length - 1];
  }

  push(frame: object): void {
    const kind = 'id' in frame ? 'reply' : 'event' in frame ? 'event' : 'publication';
    this.last.options.handlers.frame({ kind, frame } as never);
  }

  pub(offset: number, epoch = 'e1', channel = 'c'): void {
    this.push({ channel, epoch, offset, data: offset, ts: 0, sender: 'u' });
  }

  /** Publications `from` to `to` (inclusive) of channel `c` in epoch e1. */
  pubs(from: number, to: number): void {
    for (let n = from; n <= to; n++) {
      this.pub(n);
    }
  }
}

export const tick = (ms = 5) => new Promise(resolve => setTimeout(resolve, ms));

/** Wait until `check()` holds (a loaded machine may take longer than a fixed tick). */
export async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await tick(2);
  }
}

/** A client connected over `server`'s transports, and a handler that records events. */
export function connectFake<S extends FakeTransports>(server: S, transports: TransportName[]) {
  const client = new RealtimeClient({
    transports,
    backoff: { base: 1, max: 1 },
    createTransport: server.create
  });
  const events: ChannelEvent[] = [];
  client.connect('http://server/base/', 't');
  return { server, client, events, handler: (e: ChannelEvent) => events.push(e) };
}

/** Events as offsets, `gap@N` and event types, for short assertions. */
export const summary = (events: ChannelEvent[]) =>
  events.map(e => (e.type === 'publication' ? e.offset : e.type === 'gap' ? `gap@${e.offset}` : e.type));
