// A pop-up (the reaction and forward pickers) closes when the user goes
// elsewhere: a press outside it, or the focus leaving it (Tab, a click on
// something focusable). Not for its own toggle button: closing on its press
// would let its click open it again at once.

/** Something that can hold a node: an element, in the app. */
export interface Holder<N> {
  contains(other: N | null): boolean;
}

/** Whether a press at `target`, or the focus going to `target`, is
 * outside the pop-up `box` and its `toggle`, so it closes. Nothing (the
 * focus going to no element: the window left, or a click on something
 * that takes no focus, which the press handles) closes nothing. */
export function isOutside<N>(target: N | null, box: Holder<N> | null, toggle: Holder<N> | null): boolean {
  if (target === null || box === null) return false;
  return !box.contains(target) && !toggle?.contains(target);
}
