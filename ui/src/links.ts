// Web links in message text, found the way chat apps do: `http://`,
// `https://` and `www.` addresses, without the punctuation that ends the
// sentence around them. Only these become links; the Rust side checks the
// scheme again before the system browser opens one.

export type Part = { text: string } | { text: string; url: string };

/** Longer candidates are left as text: no real address is this long, and
 * every candidate costs time on each render. */
export const LINK_MAX = 2048;

const CANDIDATE = /\b(?:https?:\/\/|www\.)[^\s<>"]+/gi;
const TRAILING = ".,;:!?'\"*_~";

/** Cuts what the sentence added after a link: final punctuation, and a
 * closing bracket the link did not open ("(see https://x.org/a)"). One
 * backward pass, with the brackets counted once. */
function trim(s: string): string {
  const open = { "(": 0, "[": 0 };
  const close = { ")": 0, "]": 0 };
  for (const c of s) {
    if (c === "(" || c === "[") open[c]++;
    else if (c === ")" || c === "]") close[c]++;
  }
  let end = s.length;
  while (end > 0) {
    const c = s[end - 1];
    if (TRAILING.includes(c)) {
      end--;
    } else if ((c === ")" && close[")"] > open["("]) || (c === "]" && close["]"] > open["["])) {
      close[c]--;
      end--;
    } else break;
  }
  return s.slice(0, end);
}

/** `text` split into plain runs and links, in order; joined back, the
 * parts' text is `text` unchanged. */
export function linkParts(text: string): Part[] {
  const parts: Part[] = [];
  let at = 0;
  for (const m of text.matchAll(CANDIDATE)) {
    if (m[0].length > LINK_MAX) continue;
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
