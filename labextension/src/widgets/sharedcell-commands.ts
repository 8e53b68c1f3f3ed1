/**
 * The lab commands that bind an ordinary notebook cell's source to a shared cell channel:
 * "Share cell live…" (the cell's text becomes the shared text, if the channel's document is
 * still empty; else the cell takes the shared text), "Join shared cell…" (the cell takes the
 * shared text), and "Stop sharing cell" (the cell keeps its text and goes its own way).
 *
 * A bound cell's own Yjs text (JupyterLab's notebook model) and the channel's document are
 * two documents: each change of one is applied to the other as a Yjs delta, tagged with an
 * origin that stops it from coming back.
 *
 * A plugin of its own, apart from the widget views: it needs JupyterLab's notebooks. Its
 * tokens come from packages that Voilà's page shares too (`@jupyterlab/notebook`,
 * `@jupyterlab/apputils`), so importing them does not stop the extension loading there;
 * the notebook tracker is optional, and without one (Voilà) the plugin adds nothing.
 *
 * Public names: `sharedCellCommandsPlugin`, `CommandIDs`.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog } from '@jupyterlab/apputils';
import type { Cell } from '@jupyterlab/cells';
import { INotebookTracker } from '@jupyterlab/notebook';
import type * as Y from 'yjs';

import { isValidChannel } from '../client/protocol.js';
import { acquireClient } from '../shared.js';
import { SharedText } from './sharedcell-sync.js';

export const CommandIDs = {
  share: 'jupyter-realtime:share-cell',
  join: 'jupyter-realtime:join-cell',
  stop: 'jupyter-realtime:stop-sharing-cell'
};

/** The origin of edits copied from one document to the other. */
const BRIDGE = 'jupyter-realtime:bridge';

interface Binding {
  shared: SharedText;
  stop: () => void;
}

const bindings = new WeakMap<Cell, Binding>();

function cellText(cell: Cell): Y.Text {
  return (cell.model.sharedModel as unknown as { ysource: Y.Text }).ysource;
}

/** Keep `cell`'s text and the shared text the same, from now on, in both directions. */
async function bind(cell: Cell, channel: string, share: boolean): Promise<Binding> {
  const lease = acquireClient([]);
  const shared = new SharedText(lease.client, channel);
  try {
    await shared.start();
  } catch (err) {
    shared.dispose();
    lease.release();
    throw err;
  }
  const local = cellText(cell);
  const localDoc = local.doc as Y.Doc;
  if (share && shared.text.length === 0 && shared.writable) {
    shared.doc.transact(() => shared.text.insert(0, local.toString()), BRIDGE);
  } else {
    localDoc.transact(() => {
      local.delete(0, local.length);
      local.insert(0, shared.text.toString());
    }, BRIDGE);
  }
  const toShared = (event: Y.YTextEvent, tx: Y.Transaction): void => {
    if (tx.origin !== BRIDGE && shared.writable) {
      shared.doc.transact(() => shared.text.applyDelta(event.delta), BRIDGE);
    }
  };
  const toLocal = (event: Y.YTextEvent, tx: Y.Transaction): void => {
    if (tx.origin !== BRIDGE) {
      localDoc.transact(() => local.applyDelta(event.delta), BRIDGE);
    }
  };
  local.observe(toShared);
  let boundText = shared.text;
  boundText.observe(toLocal);
  // an edit refused by the server: the shared text was reloaded, the cell takes it
  shared.onReset.push(() => {
    boundText.unobserve(toLocal);
    boundText = shared.text;
    boundText.observe(toLocal);
    localDoc.transact(() => {
      local.delete(0, local.length);
      local.insert(0, shared.text.toString());
    }, BRIDGE);
  });
  cell.addClass('jp-realtime-shared-cell');
  cell.node.dataset.realtimeChannel = channel;
  const binding: Binding = {
    shared,
    stop: () => {
      local.unobserve(toShared);
      boundText.unobserve(toLocal);
      shared.dispose();
      lease.release();
      cell.removeClass('jp-realtime-shared-cell');
      delete cell.node.dataset.realtimeChannel;
      bindings.delete(cell);
    }
  };
  bindings.set(cell, binding);
  cell.disposed.connect(binding.stop);
  return binding;
}

async function askChannel(title: string, args: Record<string, unknown>): Promise<string | null> {
  if (typeof args.channel === 'string') {
    return args.channel;
  }
  const answer = await InputDialog.getText({ title, label: 'Channel', placeholder: 'team:etl' });
  return answer.button.accept && answer.value ? answer.value.trim() : null;
}

export const sharedCellCommandsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-realtime:shared-cell-commands',
  description: 'Share a notebook cell live over a channel, or join one.',
  autoStart: true,
  optional: [INotebookTracker, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker | null,
    palette: ICommandPalette | null
  ): void => {
    if (tracker === null) {
      return; // no notebooks on this page (Voilà): nothing to share
    }
    const current = (): Cell | null => tracker.activeCell;
    const run = async (title: string, share: boolean, args: Record<string, unknown>) => {
      const cell = current();
      if (cell === null) {
        return;
      }
      const channel = await askChannel(title, args);
      if (channel === null) {
        return;
      }
      if (!isValidChannel(channel)) {
        throw new Error(`not a valid channel name: ${channel}`);
      }
      bindings.get(cell)?.stop();
      await bind(cell, channel, share);
    };
    app.commands.addCommand(CommandIDs.share, {
      label: 'Share cell live…',
      caption: 'Edit this cell together with everyone who joins its channel',
      isEnabled: () => current() !== null,
      execute: args => run('Share cell live', true, args)
    });
    app.commands.addCommand(CommandIDs.join, {
      label: 'Join shared cell…',
      caption: "Replace this cell's text by a shared cell's, and edit it together",
      isEnabled: () => current() !== null,
      execute: args => run('Join shared cell', false, args)
    });
    app.commands.addCommand(CommandIDs.stop, {
      label: 'Stop sharing cell',
      caption: 'Keep the text as it is and stop following the channel',
      isEnabled: () => {
        const cell = current();
        return cell !== null && bindings.has(cell);
      },
      execute: () => {
        const cell = current();
        if (cell !== null) {
          bindings.get(cell)?.stop();
        }
      }
    });
    for (const command of Object.values(CommandIDs)) {
      app.contextMenu.addItem({ command, selector: '.jp-Notebook .jp-Cell', rank: 90 });
      palette?.addItem({ command, category: 'Notebook Cell Operations' });
    }
  }
};
