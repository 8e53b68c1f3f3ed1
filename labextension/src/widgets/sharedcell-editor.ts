/**
 * The shared cell's editor in JupyterLab: CodeMirror 6 with JupyterLab's theme and
 * languages, bound to the shared Yjs text by y-codemirror.next (the other editors'
 * cursors and selections labelled with their Jupyter name in their colour).
 *
 * Only ever loaded with `import()` (see `sharedcell.ts`): it needs JupyterLab's shared
 * CodeMirror singletons (`@codemirror/state`, `@codemirror/view`, `@lezer/common`, ...),
 * which only JupyterLab's page provides. Where they are missing (Voilà) the import fails
 * and the view falls back to `sharedcell-textarea.ts`, instead of the whole extension
 * failing to load.
 *
 * Public names: `createEditor`.
 */
import { defaultKeymap, indentWithTab } from '@codemirror/commands';
import { Compartment, EditorState } from '@codemirror/state';
import { EditorView, drawSelection, keymap, lineNumbers } from '@codemirror/view';
import { EditorLanguageRegistry, jupyterTheme } from '@jupyterlab/codemirror';
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next';
import * as Y from 'yjs';

import type { SharedEditor, SharedEditorOptions } from './sharedcell-textarea.js';
import type { SharedText } from './sharedcell-sync.js';

let languages: EditorLanguageRegistry | null = null;

/** JupyterLab's own language support (highlighting) for `name`, if it knows it. */
async function languageSupport(name: string): Promise<unknown[]> {
  if (!name) {
    return [];
  }
  if (languages === null) {
    languages = new EditorLanguageRegistry();
    EditorLanguageRegistry.getDefaultLanguages().forEach(lang => languages?.addLanguage(lang));
  }
  const found = await languages.getLanguage(name).catch(() => null);
  return found?.support ? [found.support] : [];
}

/** A CodeMirror editor in `host` bound to `shared.text`. */
export function createEditor(
  host: HTMLElement,
  shared: SharedText,
  options: SharedEditorOptions
): SharedEditor {
  const language = new Compartment();
  const undoManager = new Y.UndoManager(shared.text);
  const readOnly = options.readOnly;
  let editor: EditorView | null = new EditorView({
    parent: host,
    state: EditorState.create({
      doc: shared.text.toString(),
      extensions: [
        lineNumbers(),
        drawSelection(),
        EditorView.lineWrapping,
        keymap.of([...yUndoManagerKeymap, ...defaultKeymap, indentWithTab]),
        jupyterTheme,
        language.of([]),
        EditorState.readOnly.of(readOnly),
        EditorView.editable.of(!readOnly),
        EditorView.theme({ '&': { maxHeight: options.height || 'none' } }),
        yCollab(shared.text, shared.awareness, { undoManager })
      ]
    })
  });
  void languageSupport(options.language).then(support =>
    editor?.dispatch({ effects: language.reconfigure(support as never) })
  );
  return {
    kind: 'codemirror',
    destroy: () => {
      editor?.destroy();
      editor = null;
      undoManager.destroy();
    }
  };
}
