/**
 * Calling the page's callbacks (channel handlers, state listeners): one that throws is
 * logged and the others still run.
 *
 * Public names: `callEach`.
 */

/** Call each of `callbacks` (a snapshot of them) with `arg`; `what` names them in the log. */
export function callEach<A>(callbacks: Iterable<(arg: A) => void>, arg: A, what: string): void {
  for (const callback of [...callbacks]) {
    try {
      callback(arg);
    } catch (err) {
      console.error(`jupyter-realtime: ${what} failed`, err);
    }
  }
}
