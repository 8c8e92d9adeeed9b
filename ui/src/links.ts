// Web links in message text, found the way chat apps do: `http://`,
// `https://` and `www.` addresses, without the punctuation that ends the
// sentence around them. Only these become links; the Rust side checks the
// scheme again before the system browser opens one.

export type Part = { text: string } | { text: string; url: string };

const CANDIDATE = /\b(?:https?:\/\/|www\.)[^\s<>"]+/gi;
const TRAILING = /[.,;:!?'"*_~]$/;

/** Cuts what the sentence added after a link: final punctuation, and a
 * closing bracket that the link did not open ("(see https://x.org/a)"). */
function trim(candidate: string): string {
  let s = candidate;
  for (;;) {
    if (TRAILING.test(s)) {
      s = s.slice(0, -1);
      continue;
    }
    const close = s.at(-1);
    const open = close === ")" ? "(" : close === "]" ? "[" : null;
    if (open && s.split(open).length < s.split(close!).length) {
      s = s.slice(0, -1);
      continue;
    }
    return s;
  }
}

/** `text` split into plain runs and links, in order; joined back, the
 * parts' text is `text` unchanged. */
export function linkParts(text: string): Part[] {
  const parts: Part[] = [];
  let at = 0;
  for (const m of text.matchAll(CANDIDATE)) {
    const found = trim(m[0]);
    const start = m.index;
    const bare = found.replace(/^(https?:\/\/|www\.)/i, "");
    if (!bare || !/^[\p{L}\p{N}]/u.test(bare)) continue;
    if (start > at) parts.push({ text: text.slice(at, start) });
    const url = /^www\./i.test(found) ? `https://${found}` : found;
    parts.push({ text: found, url });
    at = start + found.length;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  return parts;
}
