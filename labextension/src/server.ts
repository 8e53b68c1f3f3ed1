/**
 * Which Jupyter server serves the page's realtime channels, and whether it is there.
 *
 * By default the page's own server (`ServerConnection.makeSettings()`: JupyterLab, or Voilà
 * served by `jupyter server` with the jupyter_realtime extension). A page whose server has
 * no `/realtime` routes (standalone `voila nb.ipynb` loads no server extensions) can be
 * pointed at one through its page config: Voilà passes
 * `--VoilaConfiguration.extension_config='{"jupyter-realtime": {"url": ..., "token": ...}}'`
 * to the page as `extensionConfig`; the same entry in any page's `jupyter-config-data`
 * works too.
 *
 * `checkServer()` asks the server once per page (`GET realtime/api/channels`), so that a
 * view can say what is missing ("no realtime server at …") instead of reconnecting forever.
 *
 * Public names: `realtimeServer`, `serverSettings`, `checkServer`, `CONFIG_KEY`,
 * `RealtimeServer`.
 */
import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The key of this extension's entry in the page config's `extensionConfig`. */
export const CONFIG_KEY = 'jupyter-realtime';

export interface RealtimeServer {
  /** The server's base URL, absolute, ending in `/`. */
  baseUrl: string;
  /** Its token ('' for the page's login cookie). */
  token: string;
  /** Whether the page config named it (else it is the page's own server). */
  configured: boolean;
}

function configured(): { url?: unknown; token?: unknown } {
  // `extensionConfig` is an object in Voilà's page config; a string holding JSON is
  // accepted too (that is how page config values usually travel).
  const raw: unknown = PageConfig.getOption('extensionConfig');
  let all: unknown = raw;
  if (typeof raw === 'string') {
    try {
      all = raw ? JSON.parse(raw) : {};
    } catch {
      all = {};
    }
  }
  const entry = (all as Record<string, unknown> | null)?.[CONFIG_KEY];
  return entry && typeof entry === 'object' ? (entry as { url?: unknown; token?: unknown }) : {};
}

/** The realtime server of this page. */
export function realtimeServer(): RealtimeServer {
  const entry = configured();
  if (typeof entry.url === 'string' && entry.url) {
    const base = new URL(entry.url, location.href).href;
    return {
      baseUrl: base.endsWith('/') ? base : `${base}/`,
      token: typeof entry.token === 'string' ? entry.token : '',
      configured: true
    };
  }
  const settings = ServerConnection.makeSettings();
  const base = new URL(settings.baseUrl, location.href).href;
  return { baseUrl: base, token: settings.token, configured: false };
}

/** `ServerConnection` settings for REST requests to the realtime server. */
export function serverSettings(): ServerConnection.ISettings {
  const server = realtimeServer();
  if (!server.configured) {
    return ServerConnection.makeSettings();
  }
  return ServerConnection.makeSettings({
    baseUrl: server.baseUrl,
    wsUrl: server.baseUrl.replace(/^http/, 'ws'),
    token: server.token,
    // a server of another origin: its cookies are not this page's, the token is what counts
    init: { credentials: 'omit' }
  });
}

let checked: Promise<string | null> | null = null;

/**
 * Null when the page's realtime server answers; else what is wrong, in words, naming the
 * URL (`no realtime server at http://…/ (HTTP 404)`). Asked once per page.
 */
export function checkServer(): Promise<string | null> {
  checked ??= probe(realtimeServer());
  return checked;
}

async function probe(server: RealtimeServer): Promise<string | null> {
  const url = URLExt.join(server.baseUrl, 'realtime/api/channels');
  const hint = server.configured
    ? ''
    : `; set extensionConfig["${CONFIG_KEY}"].url to a Jupyter server with jupyter_realtime`;
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, {}, serverSettings());
  } catch (err) {
    return `no realtime server reachable at ${server.baseUrl} (${String(err)})${hint}`;
  }
  // Standalone Voilà redirects a path it does not know to its files handler (then 403)
  if (response.status === 404 || response.redirected) {
    const status = response.redirected ? `redirected to ${response.url}` : 'HTTP 404';
    return `no realtime server at ${server.baseUrl} (${status})${hint}`;
  }
  if (response.status === 401 || response.status === 403) {
    return `the realtime server at ${server.baseUrl} refused the credentials (HTTP ${response.status})`;
  }
  if (response.ok) {
    const body: unknown = await response.json().catch(() => null);
    if (body === null || typeof body !== 'object' || !('channels' in body)) {
      return `no realtime server at ${server.baseUrl} (its answer is not a channel list)${hint}`;
    }
  }
  // anything else (even a 5xx) means a realtime server is there: the client copes with it
  return null;
}
