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
