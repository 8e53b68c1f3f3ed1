/**
 * The jupyter-realtime JupyterLab plugin.
 *
 * It keeps one shared `RealtimeClient` per JupyterLab page, connected to the page's own
 * Jupyter server with the page's credentials, so every panel and widget view of the page
 * shares one connection, plus one per transport list that views force (see
 * docs/browser-client.md and `shared.ts`). The status-bar item (`status.ts`, every open
 * connection of the page) and the widget views (`widgets/`) are plugins of their own, so
 * JupyterLab without the widget manager still gets the status bar.
 *
 * The same entry is loaded by Voilà's page, which shares far fewer modules than
 * JupyterLab's (`@jupyter-widgets/base`, `@jupyterlab/services`, `coreutils`,
 * `apputils`, `notebook`, `codemirror`, Lumino; not `@jupyterlab/statusbar`, CodeMirror's
 * own packages or Yjs). A module federation entry that consumes a shared module its page
 * lacks fails as a whole, and then no widget model registers. So everything this entry
 * imports is shared by both pages or bundled, and what only
 * JupyterLab has is loaded with `import()` by the plugin that needs it: the status bar
 * token (`status.ts`) and the shared cell's CodeMirror editor
 * (`widgets/sharedcell-editor.ts`). The widget registry plugin requires only
 * `IJupyterWidgetRegistry`; the cell commands take the notebook tracker as optional.
 *
 * Yjs is a shared singleton with a bundled fallback (package.json `sharedPackages`), for
 * Voilà. A singleton goes to the highest version registered, so the fallback is locked at
 * the lowest version JupyterLab 4 allows (13.5.40, package-lock.json): JupyterLab's own copy,
 * never older, stays the page's one Yjs there (the cell binding mixes its texts and ours).
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { statusPlugin } from './status.js';
import { widgetsPlugin } from './widgets/index.js';
import { sharedCellCommandsPlugin } from './widgets/sharedcell-commands.js';

const PLUGIN_ID = 'jupyter-realtime:plugin';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Realtime channels over WebSocket, SSE, XHR streaming and polling.',
  autoStart: true,
  activate: (app: JupyterFrontEnd): void => {
    const settings = app.serviceManager.serverSettings;
    console.debug(`${PLUGIN_ID}: activated for ${settings.baseUrl}`);
  }
};

export default [plugin, statusPlugin, widgetsPlugin, sharedCellCommandsPlugin];
