/**
 * Commands awaiting their reply, by id, and the ones not sent yet.
 *
 * Delivery is at most once: a command is sent once; if the connection drops before its
 * reply, its promise is rejected with `unavailable` (it may or may not have run), while a
 * command queued but not yet sent waits for the next connection. Pure logic, no I/O.
 *
 * Public names: `Requests`, `Request`.
 */
import { RealtimeError } from './errors.js';
import type { Command, CommandId, ReplyFrame } from './protocol.js';

export interface Request {
  command: Command & { id: number };
  /** Raw bytes of a binary publish. */
  bytes?: Uint8Array;
  sent: boolean;
  resolve(result: unknown): void;
  reject(error: RealtimeError): void;
}

export class Requests {
  private nextId = 1;
  private readonly waiting = new Map<number, Request>();

  /** How many commands await a reply or a connection. */
  get size(): number {
    return this.waiting.size;
  }

  /** True when a sent command awaits its reply. */
  get inFlight(): boolean {
    return [...this.waiting.values()].some(request => request.sent);
  }

  /** Register a command under a fresh id; the promise settles with its reply. */
  add(command: Command, bytes?: Uint8Array): [Request, Promise<unknown>] {
    let request!: Request;
    const promise = new Promise<unknown>((resolve, reject) => {
      request = { command: { ...command, id: this.nextId++ }, bytes, sent: false, resolve, reject };
    });
    this.waiting.set(request.command.id, request);
    return [request, promise];
  }

  /** The commands not sent yet, oldest first. */
  unsent(): Request[] {
    return [...this.waiting.values()].filter(request => !request.sent);
  }

  /** Settle the command a reply answers; false if no command waits for this id. */
  settle(reply: ReplyFrame): boolean {
    const request = typeof reply.id === 'number' ? this.waiting.get(reply.id) : undefined;
    if (request === undefined) {
      return false;
    }
    this.waiting.delete(request.command.id);
    if ('error' in reply) {
      request.reject(RealtimeError.from(reply.error));
    } else {
      request.resolve(reply.result);
    }
    return true;
  }

  /** The connection dropped: the commands sent are lost, the others wait. */
  lost(): void {
    for (const request of this.waiting.values()) {
      if (request.sent) {
        this.waiting.delete(request.command.id);
        request.reject(new RealtimeError('unavailable', 'the connection was lost before the reply'));
      }
    }
  }

  /**
   * The connection was refused before it ran anything (`transport_disabled` right after
   * the WebSocket opened): the commands sent are sent again on the next connection.
   */
  requeue(): void {
    for (const request of this.waiting.values()) {
      request.sent = false;
    }
  }

  /** The client is closing: every command fails. */
  cancel(reason: string): void {
    for (const request of this.waiting.values()) {
      request.reject(new RealtimeError('unavailable', reason));
    }
    this.waiting.clear();
  }

  has(id: CommandId): boolean {
    return typeof id === 'number' && this.waiting.has(id);
  }
}
