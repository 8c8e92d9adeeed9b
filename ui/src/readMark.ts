/**
 * Keeps my read watermark in the open chat at the newest message from the
 * other side that I could see: it is marked once loaded while the window is
 * visible (and focused: the caller's `visible`), or as soon as it is again (a
 * message that came while the app was minimised or behind another window is
 * read when it is brought back, not when the next one comes). A mark the server refused (offline, its storage full) is
 * tried again after a while, or the unread badge would stay until the next
 * message.
 */
export class ReadMarker {
  /** The newest seq marked, or being marked. */
  private marked: number;
  /** The newest seq from the other side loaded in the chat. */
  private newest = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private closed = false;

  constructor(
    readUpTo: number,
    private readonly send: (upTo: number) => Promise<unknown>,
    private readonly visible: () => boolean,
    private readonly retryMs: number,
  ) {
    this.marked = readUpTo;
  }

  /** The newest message from the other side now loaded has `seq`. */
  saw(seq: number): void {
    this.newest = Math.max(this.newest, seq);
    this.flush();
  }

  /** Marks what is unmarked, if the window is visible (call it when the
   * window's visibility changes). */
  flush(): void {
    const upTo = this.newest;
    if (this.closed || upTo <= this.marked || !this.visible()) return;
    clearTimeout(this.retry);
    this.retry = undefined;
    const before = this.marked;
    this.marked = upTo;
    this.send(upTo).catch(() => {
      if (this.closed) return;
      // Unless a newer mark went out meanwhile (it covers this one), this one
      // is still to do.
      if (this.marked === upTo) this.marked = before;
      clearTimeout(this.retry);
      this.retry = setTimeout(() => {
        this.retry = undefined;
        this.flush();
      }, this.retryMs);
    });
  }

  /** The chat was closed: nothing more is sent. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
  }
}

/** The newest seq among messages from someone other than `myId`; 0 if none. */
export function newestFromOthers(messages: { sender_id: string; seq: number }[], myId: string): number {
  return messages.reduce((max, m) => (m.sender_id !== myId && m.seq > max ? m.seq : max), 0);
}
