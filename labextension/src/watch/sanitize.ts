/**
 * The one policy for HTML and SVG that others publish, for DOMPurify: the same lists as
 * `jupyter_realtime/sanitize.py` (nh3), which `tests/test_mirror_format.py` compares.
 * Structure and text are kept (tables, lists, headings, emphasis, links to http, https and
 * mailto, SVG shapes and text); scripts and styles go with their content, and so do event
 * handlers, `style`, `id` and `name` (an `id` would name a `window` property), `src`
 * (images travel as `image/*` entries) and every other element.
 *
 * Public names: `cleanHtml`, `cleanSvg`, `POLICY_LISTS`.
 */
import DOMPurify from 'dompurify';

const HTML_TAGS = ['a', 'abbr', 'b', 'bdi', 'bdo', 'blockquote', 'br', 'caption', 'cite', 'code', 'col', 'colgroup', 'dd', 'del', 'details', 'dfn', 'div', 'dl', 'dt', 'em', 'figcaption', 'figure', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'ins', 'kbd', 'li', 'mark', 'ol', 'p', 'pre', 'q', 'rp', 'rt', 'ruby', 's', 'samp', 'small', 'span', 'strong', 'sub', 'summary', 'sup', 'table', 'tbody', 'td', 'tfoot', 'th', 'thead', 'time', 'tr', 'u', 'ul', 'var', 'wbr'];
const SVG_TAGS = ['svg', 'g', 'path', 'rect', 'circle', 'ellipse', 'line', 'polyline', 'polygon', 'text', 'tspan', 'title', 'desc', 'defs', 'linearGradient', 'radialGradient', 'stop', 'clipPath'];
const HTML_ATTRIBUTES = ['class', 'title', 'lang', 'dir', 'align', 'valign', 'href', 'colspan', 'rowspan', 'headers', 'scope', 'span', 'start', 'reversed', 'type', 'open', 'datetime'];
const SVG_ATTRIBUTES = ['viewBox', 'preserveAspectRatio', 'xmlns', 'version', 'width', 'height', 'x', 'y', 'x1', 'y1', 'x2', 'y2', 'cx', 'cy', 'r', 'rx', 'ry', 'd', 'points', 'dx', 'dy', 'transform', 'fill', 'fill-opacity', 'fill-rule', 'stroke', 'stroke-width', 'stroke-opacity', 'stroke-linecap', 'stroke-linejoin', 'stroke-dasharray', 'opacity', 'font-size', 'font-family', 'font-weight', 'text-anchor', 'dominant-baseline', 'offset', 'stop-color', 'stop-opacity', 'gradientUnits', 'gradientTransform'];
const URL_SCHEMES = ['http', 'https', 'mailto'];

export const POLICY_LISTS = { HTML_TAGS, SVG_TAGS, HTML_ATTRIBUTES, SVG_ATTRIBUTES, URL_SCHEMES };

/** A URL of an allowed scheme, or one without a scheme (relative). */
const ALLOWED_URI = new RegExp(`^(?:(?:${URL_SCHEMES.join('|')}):|[^a-z]|[a-z+.-]+(?:[^a-z+.\\-:]|$))`, 'i');

function withLowercase(names: string[]): string[] {
  return [...new Set([...names, ...names.map(n => n.toLowerCase())])];
}

function config(tags: string[]): Record<string, unknown> {
  return {
    ALLOWED_TAGS: withLowercase(tags),
    ALLOWED_ATTR: withLowercase([...HTML_ATTRIBUTES, ...SVG_ATTRIBUTES]),
    ALLOWED_URI_REGEXP: ALLOWED_URI,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    SANITIZE_NAMED_PROPS: true
  };
}

/** `text/html` as the policy allows it (SVG inside follows the SVG part). */
export function cleanHtml(markup: string): string {
  return String(DOMPurify.sanitize(markup, config([...HTML_TAGS, ...SVG_TAGS])));
}

/** `image/svg+xml` as the policy allows it. */
export function cleanSvg(markup: string): string {
  return String(DOMPurify.sanitize(markup, config(SVG_TAGS)));
}
