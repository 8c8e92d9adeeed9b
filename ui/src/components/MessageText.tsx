import { Fragment, useMemo } from "react";
import { asCommandError, call } from "../ipc";
import { linkParts } from "../links";

/** A message's text with its web links clickable. A link opens in the
 * system browser (the `open_link` command checks it is http or https);
 * the app's own window never navigates away, not on a middle click either.
 * Split once per text, not on every render of the chat. `tabIndex`: the
 * links' (the row's rule: see `MessageRow`'s `inside`). */
export function MessageText({ text, onError, tabIndex }: { text: string; onError: (message: string) => void; tabIndex: number }) {
  const parts = useMemo(() => linkParts(text), [text]);
  return (
    <>
      {parts.map((p, i) =>
        "url" in p ? (
          <a
            key={i}
            href={p.url}
            title={p.url}
            rel="noopener noreferrer"
            tabIndex={tabIndex}
            data-testid="link"
            onClick={(e) => {
              e.preventDefault();
              call("open_link", { url: p.url }).catch((err) => onError(asCommandError(err).message));
            }}
            onAuxClick={(e) => e.preventDefault()}
          >
            {p.text}
          </a>
        ) : (
          <Fragment key={i}>{p.text}</Fragment>
        ),
      )}
    </>
  );
}
