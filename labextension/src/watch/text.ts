/**
 * Text as the watchers show it (pure functions, no DOM).
 *
 * Public names: `stripAnsi`, `terminalText`.
 */

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** `text` without ANSI escape sequences (tracebacks carry colour codes). */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/**
 * Raw stream text as a terminal shows it: a `\r` returns to the start of its line, so of
 * `step 1\rstep 2` only `step 2` stays (tqdm's text bars rely on it). A line is replaced by
 * the last non-empty part after a `\r` (a shorter part does not leave the end of a longer
 * one, as it would on a terminal: close enough for progress bars, which pad themselves).
 */
export function terminalText(text: string): string {
  return text
    .split('\n')
    .map(line => {
      if (!line.includes('\r')) {
        return line;
      }
      const parts = line.split('\r').filter(part => part !== '');
      return parts.length ? parts[parts.length - 1] : '';
    })
    .join('\n');
}
