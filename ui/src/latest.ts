// Answers to repeated loads, kept in order without starving: a newer request
// does not throw away an older one's answer still on its way (under a steady
// stream of changes every answer would be), only an answer older than one
// already shown is dropped.
export class Latest {
  private issued = 0;
  private shown = 0;

  /** A number for a request about to be made. */
  next(): number {
    this.issued += 1;
    return this.issued;
  }

  /** How many requests were numbered so far (the newest one's number). */
  count(): number {
    return this.issued;
  }

  /** Whether the answer to request `n` is to be shown (then it is). */
  accept(n: number): boolean {
    if (n <= this.shown) return false;
    this.shown = n;
    return true;
  }
}

/** What becomes of the answer to refresh `n` of chat `id`, with chat `open`
 * shown now. `show`: its messages are shown (see `Latest.accept`); none of
 * another chat's are. `opened`: it is the opening read (`opening`) of the
 * chat shown, which counts as opened from now on (its empty pane says "No
 * messages", not "Loading…"), even when a newer refresh answered before
 * it and its own messages are not shown: that one was asked after this
 * one, so it read the chat as opened or later. */
export function answerFor(latest: Latest, open: string, id: string, n: number, opening: boolean): { show: boolean; opened: boolean } {
  if (open !== id) return { show: false, opened: false };
  return { show: latest.accept(n), opened: opening };
}
