/**
 * Connection states in words: the badge's label for one connection, and the status bar's
 * summary of all the page's connections. Pure.
 *
 * Public names: `SHORT`, `describeState`, `summarize`, `Summary`, `statusText`.
 */
import type { ConnectionState, TransportName } from './client/index.js';

/** Short transport names as the server spells them (`RealtimeApp.transports`). */
export const SHORT: Record<TransportName, string> = {
  websocket: 'ws',
  sse: 'sse',
  stream: 'stream',
  poll: 'poll'
};

/** A short label (`live · ws`) and a longer description of a connection state. */
export function describeState(state: ConnectionState): { label: string; title: string } {
  switch (state.state) {
    case 'connecting':
      return { label: 'connecting', title: 'Connecting to the realtime hub' };
    case 'connected':
      return {
        label: `live · ${SHORT[state.transport]}`,
        title: `Live over ${state.transport}`
      };
    case 'reconnecting':
      return {
        label: 'reconnecting',
        title: `Reconnecting (attempt ${state.attempt}, in ${Math.round(state.delay)} ms): ${state.reason}`
      };
    default:
      return { label: 'offline', title: `Disconnected: ${state.reason}` };
  }
}

/** The page's connections at a glance. */
export interface Summary {
  /** `idle` (no connection), else the state of the connection furthest from live. */
  state: 'idle' | ConnectionState['state'];
  /** How many connections are open, and how many of them are live. */
  total: number;
  live: number;
  /** The transports the live connections use, without repeats, best first. */
  transports: TransportName[];
}

const WORST_FIRST: ConnectionState['state'][] = [
  'disconnected',
  'reconnecting',
  'connecting',
  'connected'
];

const ORDER: TransportName[] = ['websocket', 'sse', 'stream', 'poll'];

export function summarize(states: readonly ConnectionState[]): Summary {
  if (states.length === 0) {
    return { state: 'idle', total: 0, live: 0, transports: [] };
  }
  const state = WORST_FIRST.find(name => states.some(s => s.state === name)) ?? 'connected';
  const used = new Set<TransportName>();
  states.forEach(s => s.state === 'connected' && used.add(s.transport));
  return {
    state,
    total: states.length,
    live: states.filter(s => s.state === 'connected').length,
    transports: ORDER.filter(name => used.has(name))
  };
}

/**
 * The status bar's text: `idle`; one connection as its badge says (`live · ws`); several
 * as how many are live and over what (`4 live · ws, sse, stream, poll`, `1/2 live · ws`).
 */
export function statusText(states: readonly ConnectionState[]): string {
  const summary = summarize(states);
  if (summary.total === 0) {
    return 'idle';
  }
  if (summary.total === 1) {
    return describeState(states[0]).label;
  }
  const count = summary.live === summary.total ? `${summary.live}` : `${summary.live}/${summary.total}`;
  const over = summary.transports.map(name => SHORT[name]).join(', ');
  return over ? `${count} live · ${over}` : `${count} live`;
}
