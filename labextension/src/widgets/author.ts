/**
 * Who wrote a publication, as every view shows it: the display name the server stamped
 * (`sender_name`), never a name the publisher put in its data. A label the publisher chose
 * (a chat message's `name`) is shown only beside the verified name, in its own element,
 * as "label (verified)"; both are text, never HTML.
 *
 * Public names: `authorName`, `authorElement`.
 */
import type { ChannelEvent } from '../client/index.js';

type Publication = Extract<ChannelEvent, { type: 'publication' }>;

/** The verified name of the publication's author ("?" when the server recorded none). */
export function authorName(publication: Publication): string {
  return publication.senderName || publication.sender || '?';
}

/**
 * The author as an element: `<span class="jp-realtime-who">` holding the verified name in
 * `span.jp-realtime-author` (its `title` and `data-sender` the sender id), and a different `label`, if given, in
 * `.jp-realtime-label` before it, the verified name then in parentheses.
 */
export function authorElement(publication: Publication, label?: string): HTMLSpanElement {
  const who = document.createElement('span');
  who.className = 'jp-realtime-who';
  const verified = authorName(publication);
  const author = document.createElement('span');
  author.className = 'jp-realtime-author';
  author.textContent = verified;
  if (publication.sender) {
    author.title = publication.sender;
    author.dataset.sender = publication.sender;
  }
  const claimed = (label ?? '').trim();
  if (claimed && claimed !== verified) {
    const tag = document.createElement('span');
    tag.className = 'jp-realtime-label';
    tag.textContent = claimed;
    tag.title = `a name chosen by ${verified}, not verified`;
    who.append(tag, ' (', author, ')');
  } else {
    who.append(author);
  }
  return who;
}
