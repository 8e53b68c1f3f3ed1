/**
 * The one connection of a client: picks a transport, falls back when one cannot open in
 * time, reconnects with backoff after a drop or a stall, and probes better transports
 * while running on a fallback. It knows nothing of channels: it tells its owner when a
 * transport is ready (`hooks.open`, after which the owner resubscribes) and when the
 * connection was lost (replies to commands in flight will never come).
 *
 * Timing (all in ms, all options): `openTimeout` 2000 for a transport to open (doubled
 * after each round in which nothing opened, up to 16000); `stallTimeout` 45000 without
 * any traffic, heartbeats included, counts as a stall; `pingInterval` 20000 between
 * pings on WebSocket (the other transports get heartbeats from the server);
 * `upgradeDelay` 30000 before probing a better transport (doubled after each failed
 * probe, up to 600000).
 *
 * Public names: `Connection`, `ConnectionOptions`, `ConnectionHooks`, `ConnectionState`.
 */
import { Backoff, type BackoffOptions } from './backoff.js';
import { type CloseInfo, closeDecision } from './errors.js';
import type { Endpoint } from './http.js';
import { TRANSPORTS, type Step, TransportLadder, type TransportName } from './ladder.js';
import type { Command, PublishCommand, ServerFrame } from './protocol.js';
import type { Transport, TransportHandlers, TransportOptions } from './transport.js';
import { PollTransport } from './transports/poll.js';
import { SseTransport } from './transports/sse.js';
import { RECYCLE, XhrStreamTransport } from './transports/stream.js';
import { WebSocketTransport } from './transports/websocket.js';

export type ConnectionState =
  | { state: 'connecting' }
  | { state: 'connected'; transport: TransportName }
  | { state: 'reconnecting'; attempt: number; delay: number; reason: string }
  | { state: 'disconnected'; reason: string };

export interface ConnectionOptions {
  /** The transports allowed (default all); they are tried best first. */
  transports?: TransportName[];
  openTimeout?: number;
  stallTimeout?: number;
  pingInterval?: number;
  upgradeDelay?: number;
  /** Long-poll timeout in seconds (default 25). */
  pollTimeout?: number;
  backoff?: BackoffOptions;
  /** Build a transport (default: the built-in ones). */
  createTransport?: (name: TransportName, options: TransportOptions) => Transport;
}

export interface ConnectionHooks {
  open(): void;
  frame(frame: ServerFrame): void;
  /**
   * The connection was lost: replies to commands in flight will not come. `unrun`: the
   * server refused the transport (`transport_disabled`) before running any command.
   */
  lost(unrun?: boolean): void;
  /** True when no command awaits a reply, so the transport may be switched. */
  idle(): boolean;
  state(state: ConnectionState): void;
}

const BUILTIN = {
  websocket: WebSocketTransport,
  sse: SseTransport,
  stream: XhrStreamTransport,
  poll: PollTransport
};

const STABLE_AFTER = 5000;

export class Connection {
  private readonly ladder: TransportLadder;
  private readonly backoff: Backoff;
  private active: Transport | null = null;
  private opening: Transport | null = null;
  private probe: Transport | null = null;
  private timers = new Map<string, ReturnType<typeof setTimeout>>();
  private endpoint: Endpoint | null = null;
  private openedAt = 0;
  private lastActivity = 0;
  private failedRounds = 0;
  private upgradeDelay: number;
  private retryNow: (() => void) | null = null;

  constructor(
    private readonly hooks: ConnectionHooks,
    private readonly options: ConnectionOptions = {}
  ) {
    this.ladder = new TransportLadder(options.transports ?? TRANSPORTS);
    this.backoff = new Backoff(options.backoff);
    this.upgradeDelay = options.upgradeDelay ?? 30000;
  }

  /** The transport in use, or null while not connected. */
  get transport(): TransportName | null {
    return this.active?.name ?? null;
  }

  start(endpoint: Endpoint): void {
    this.endpoint = endpoint;
    this.hooks.state({ state: 'connecting' });
    if (typeof window !== 'undefined') {
      window.addEventListener('online', this.onOnline);
    }
    this.attempt(this.ladder.start(), 'connecting');
  }

  stop(reason = 'closed by the client'): void {
    this.endpoint = null;
    this.clearTimers();
    for (const t of [this.active, this.opening, this.probe]) {
      t?.close();
    }
    const wasActive = this.active !== null;
    this.active = this.opening = this.probe = null;
    if (typeof window !== 'undefined') {
      window.removeEventListener('online', this.onOnline);
    }
    if (wasActive) {
      this.hooks.lost();
    }
    this.hooks.state({ state: 'disconnected', reason });
  }

  send(commands: Command[]): void {
    this.active?.send(commands);
  }

  sendBinary(command: PublishCommand, bytes: Uint8Array): void {
    this.active?.sendBinary(command, bytes);
  }

  // -- attempts --

  private attempt(step: Step, reason: string): void {
    if (this.endpoint === null) {
      return;
    }
    if (!step.wait) {
      this.openTransport(step.transport);
      return;
    }
    const delay = this.backoff.next();
    this.hooks.state({ state: 'reconnecting', attempt: this.backoff.attempt, delay, reason });
    this.retryNow = () => this.openTransport(step.transport);
    this.timer('retry', delay, () => {
      this.retryNow = null;
      this.openTransport(step.transport);
    });
  }

  private readonly onOnline = (): void => {
    const retry = this.retryNow;
    if (retry) {
      this.clearTimer('retry');
      this.retryNow = null;
      retry();
    }
  };

  private openTransport(name: TransportName): void {
    const transport = this.spawn(name);
    this.opening = transport;
    const timeout = Math.min((this.options.openTimeout ?? 2000) * 2 ** this.failedRounds, 16000);
    this.timer('open', timeout, () => {
      transport.close();
      this.onClose(transport, { code: 0, reason: `${name} did not open in ${timeout} ms` });
    });
    transport.open();
  }

  /** A transport whose events go where its current role (opening, active, probe) says. */
  private spawn(name: TransportName): Transport {
    const handlers: TransportHandlers = {
      open: () => this.onOpen(transport),
      frame: frame => (transport === this.active ? this.hooks.frame(frame) : undefined),
      activity: () => this.onActivity(transport),
      close: info => this.onClose(transport, info)
    };
    const options: TransportOptions = {
      endpoint: this.endpoint as Endpoint,
      handlers,
      pollTimeout: this.options.pollTimeout
    };
    const transport = this.options.createTransport
      ? this.options.createTransport(name, options)
      : new BUILTIN[name](options);
    return transport;
  }

  private onOpen(transport: Transport): void {
    if (transport === this.probe) {
      this.finishUpgrade(transport);
      return;
    }
    if (transport !== this.opening) {
      return;
    }
    this.clearTimer('open');
    this.opening = null;
    this.active = transport;
    this.ladder.connected();
    this.failedRounds = 0;
    this.openedAt = this.lastActivity = Date.now();
    this.hooks.state({ state: 'connected', transport: transport.name });
    this.hooks.open();
    if (this.active === transport) {
      this.watch(); // unless a hook closed the connection
    }
  }

  private onActivity(transport: Transport): void {
    if (transport === this.active) {
      this.lastActivity = Date.now();
      // traffic well after opening: this transport survives here (its stalls are forgiven)
      if (this.lastActivity - this.openedAt > (this.options.stallTimeout ?? 45000) / 2) {
        this.ladder.healthy();
      }
    }
  }

  private onClose(transport: Transport, info: CloseInfo): void {
    if (transport === this.probe) {
      this.failUpgrade();
      return;
    }
    const wasOpen = transport === this.active;
    const decision = closeDecision(info);
    if (transport === this.opening) {
      this.clearTimer('open');
      this.opening = null;
    } else if (wasOpen) {
      this.clearTimers();
      this.active = null;
      this.hooks.lost(decision === 'fallback');
      if (Date.now() - this.openedAt > STABLE_AFTER) {
        this.backoff.reset();
      }
    } else {
      return; // an old transport, already replaced
    }
    const reason = info.reason || `closed with code ${info.code}`;
    if (decision === 'stop') {
      this.stop(reason);
      return;
    }
    let step: Step | null;
    if (decision === 'fallback') {
      step = this.ladder.disable();
    } else if (wasOpen) {
      step = this.ladder.lost();
      step.wait = info.reason !== RECYCLE;
    } else {
      step = this.ladder.openFailed();
      this.failedRounds = step.wait ? Math.min(this.failedRounds + 1, 3) : this.failedRounds;
    }
    if (step === null) {
      this.stop('the server disabled every allowed transport');
      return;
    }
    this.attempt(step, reason);
  }

  // -- stalls, pings and upgrades, while connected --

  private watch(): void {
    const stall = this.options.stallTimeout ?? 45000;
    const active = this.active as Transport;
    this.every('stall', Math.min(stall / 4, 5000), () => {
      if (Date.now() - this.lastActivity > stall) {
        this.clearTimers();
        active.close();
        this.active = null;
        this.hooks.lost();
        this.attempt(this.ladder.stalled(), `no traffic for ${stall} ms`);
      }
    });
    if (active.name === 'websocket') {
      this.every('ping', this.options.pingInterval ?? 20000, () =>
        active.send([{ op: 'ping', id: 'ping' }])
      );
    }
    this.scheduleUpgrade();
  }

  private scheduleUpgrade(): void {
    const candidate = this.ladder.upgradeCandidate();
    if (candidate === null) {
      return;
    }
    const delay = this.upgradeDelay * (0.5 + Math.random());
    this.timer('upgrade', delay, () => {
      if (!this.hooks.idle()) {
        this.timer('upgrade', 1000, () => this.scheduleUpgrade());
        return;
      }
      const probe = this.spawn(candidate);
      this.probe = probe;
      this.timer('probe', this.options.openTimeout ?? 2000, () => this.failUpgrade());
      probe.open();
    });
  }

  private finishUpgrade(probe: Transport): void {
    this.clearTimer('probe');
    if (!this.hooks.idle()) {
      this.failUpgrade(false);
      return;
    }
    const old = this.active;
    this.clearTimers();
    this.probe = null;
    old?.close();
    // the probe becomes the active transport: its frames now reach the client
    this.opening = probe;
    this.ladder.upgraded(probe.name);
    this.upgradeDelay = this.options.upgradeDelay ?? 30000;
    this.onOpen(probe);
  }

  private failUpgrade(longer = true): void {
    this.clearTimer('probe');
    this.probe?.close();
    this.probe = null;
    if (longer) {
      this.upgradeDelay = Math.min(this.upgradeDelay * 2, 600000);
    }
    if (this.active) {
      this.scheduleUpgrade();
    }
  }

  // -- timers --

  private timer(name: string, ms: number, fn: () => void): void {
    this.clearTimer(name);
    this.timers.set(name, setTimeout(fn, ms));
  }

  private every(name: string, ms: number, fn: () => void): void {
    this.clearTimer(name);
    this.timers.set(name, setInterval(fn, ms));
  }

  private clearTimer(name: string): void {
    const id = this.timers.get(name);
    if (id !== undefined) {
      clearTimeout(id);
      clearInterval(id);
      this.timers.delete(name);
    }
  }

  private clearTimers(): void {
    for (const name of [...this.timers.keys()]) {
      this.clearTimer(name);
    }
  }
}
