/**
 * Long-polling transport: `GET realtime/poll?session=1` opens a session and answers at
 * once; then `GET realtime/poll?session=S&timeout=T` returns what the session received,
 * as soon as there is something or after `T` seconds. Commands go up through the session.
 *
 * Public names: `PollTransport`.
 */
import { statusClose } from '../http.js';
import { classifyFrame } from '../protocol.js';
import { HttpSessionTransport } from './http-session.js';

interface PollAnswer {
  messages?: unknown[];
  session?: string;
}

export class PollTransport extends HttpSessionTransport {
  readonly name = 'poll';
  protected async run(): Promise<void> {
    const timeout = this.options.pollTimeout ?? 25;
    let query: Record<string, string | number> = { session: 1 };
    while (!this.done) {
      const answer = await this.poll(query);
      if (answer === null) {
        return;
      }
      if (typeof answer.session === 'string' && this.session === null) {
        this.receive({ kind: 'event', frame: { event: 'session', session: answer.session } });
      }
      for (const message of answer.messages ?? []) {
        const frame = classifyFrame(message);
        if (frame) {
          this.receive(frame);
        }
      }
      if (this.session === null) {
        this.fail({ code: 0, reason: 'the poll answer named no session' });
        return;
      }
      query = { session: this.session, timeout };
    }
  }

  private async poll(query: Record<string, string | number>): Promise<PollAnswer | null> {
    const { endpoint, handlers } = this.options;
    try {
      const response = await fetch(endpoint.url('realtime/poll', query), {
        headers: endpoint.headers(),
        credentials: 'same-origin',
        cache: 'no-store',
        signal: this.abort.signal
      });
      if (!response.ok) {
        this.fail(statusClose(response.status, this.session !== null));
        return null;
      }
      const answer = (await response.json()) as PollAnswer;
      if (!this.done) {
        handlers.activity();
      }
      return this.done ? null : answer;
    } catch (err) {
      this.fail({ code: 0, reason: `poll failed: ${String(err)}` });
      return null;
    }
  }
}
