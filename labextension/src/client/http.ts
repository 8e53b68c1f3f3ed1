/**
 * URLs and credentials for the endpoints under a Jupyter server's `base_url`.
 *
 * Jupyter accepts `Authorization: token T`, or `?token=T` (the only way for a browser's
 * WebSocket), or its login cookie, with the `_xsrf` cookie echoed in `X-XSRFToken` on a
 * `POST` or `DELETE`. Public names: `Endpoint`, `statusClose`.
 */
import type { CloseInfo } from './errors.js';

export class Endpoint {
  readonly baseUrl: string;
  readonly token: string;

  /** `baseUrl`: the server's base URL, absolute or page-relative (`/user/x/`). */
  constructor(baseUrl: string, token = '') {
    const base = typeof location === 'undefined' ? baseUrl : new URL(baseUrl, location.href).href;
    this.baseUrl = base.endsWith('/') ? base : `${base}/`;
    this.token = token;
  }

  /** The URL of `path` (relative to `base_url`) with query parameters. */
  url(path: string, query: Record<string, string | number | undefined> = {}): string {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) {
        url.searchParams.append(key, String(value));
      }
    }
    return url.href;
  }

  /** The WebSocket URL of `path`: ws(s), with the token in the query (no headers there). */
  wsUrl(path: string): string {
    const url = new URL(this.url(path, { token: this.token || undefined }));
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.href;
  }

  /** Headers carrying the credentials: the token, or the XSRF cookie for the login cookie. */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { ...extra };
    if (this.token) {
      headers.Authorization = `token ${this.token}`;
    } else {
      const xsrf = readCookie('_xsrf');
      if (xsrf) {
        headers['X-XSRFToken'] = xsrf;
      }
    }
    return headers;
  }
}

function readCookie(name: string): string | undefined {
  if (typeof document === 'undefined') {
    return undefined;
  }
  const match = document.cookie.match(new RegExp(`(?:^|;\\s*)${name}=([^;]*)`));
  return match ? decodeURIComponent(match[1]) : undefined;
}

/**
 * How a failed HTTP answer closes a transport: 401/403 are terminal (`forbidden`),
 * 404 means the transport is disabled (or, for a session request, the session expired),
 * anything else is a failure worth retrying.
 */
export function statusClose(status: number, session = false): CloseInfo {
  if (status === 401 || status === 403) {
    return { code: 4500, reason: 'forbidden' };
  }
  if (status === 404) {
    return session
      ? { code: 4001, reason: 'session_expired' }
      : { code: 4501, reason: 'transport_disabled' };
  }
  return { code: 0, reason: `HTTP ${status}` };
}
