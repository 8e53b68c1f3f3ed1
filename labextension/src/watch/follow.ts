/**
 * Following new output on the watch page, as a terminal or a log viewer does: while the
 * reader is at the bottom, the page keeps scrolled to the bottom as output arrives; once
 * they scroll up to read, it stays where they are; scrolling back down to the bottom (or
 * the "follow" button) resumes following.
 *
 * The decision is read from the scroll position at each `scroll` event, not from scroll
 * deltas alone: scrolls made here (to the bottom) and the browser's scroll anchoring (when
 * old cells are removed above) end at the bottom and so keep following; a scroll that ends
 * above the bottom and moved up is the reader's.
 *
 * Public names: `Follower`, `AT_BOTTOM_PX`.
 */

/** How close to the bottom (in CSS pixels) still counts as at the bottom. */
export const AT_BOTTOM_PX = 24;

export class Follower {
  /** Whether new output scrolls the page to the bottom. */
  following = true;
  private lastTop = 0;
  private scheduled = false;

  constructor(
    private readonly scroller: Element = document.scrollingElement ?? document.documentElement,
    private readonly button?: HTMLElement
  ) {
    const target: EventTarget = scroller === document.scrollingElement ? window : scroller;
    target.addEventListener('scroll', () => this.onScroll(), { passive: true });
    button?.addEventListener('click', () => {
      this.following = true;
      this.scrollToBottom();
    });
    this.show();
  }

  /** Output changed: scroll to the bottom on the next frame, if following. */
  changed(): void {
    if (!this.following || this.scheduled) {
      return;
    }
    this.scheduled = true;
    requestAnimationFrame(() => {
      this.scheduled = false;
      if (this.following) {
        this.scrollToBottom();
      }
    });
  }

  private atBottom(): boolean {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight <= AT_BOTTOM_PX;
  }

  private scrollToBottom(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    this.lastTop = this.scroller.scrollTop;
  }

  private onScroll(): void {
    const top = this.scroller.scrollTop;
    if (this.atBottom()) {
      this.following = true;
    } else if (top < this.lastTop) {
      this.following = false;
    }
    this.lastTop = top;
    this.show();
  }

  private show(): void {
    if (this.button) {
      this.button.hidden = this.following;
    }
  }
}
