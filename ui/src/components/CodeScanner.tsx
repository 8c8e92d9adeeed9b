import { useEffect, useState } from "react";
import type { ScanKind } from "../bindings";
import { asCommandError, call, startScan } from "../ipc";

/** A scanner for one kind of code (decoded in Rust): calls `onFound` with the
 * link of the first one; stops (and releases the source) when it unmounts. */
export function CodeScanner({ kind, onFound }: { kind: ScanKind; onFound: (uri: string) => void }) {
  const [preview, setPreview] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);

  useEffect(() => {
    let stale = false;
    let id: number | null = null;
    startScan((ev) => {
      if (stale) return;
      if (ev.type === "frame") setPreview(ev.data_url);
      else if (ev.type === "found") onFound(ev.uri);
      else if (ev.type === "stopped") setMessage(`Stopped: ${ev.reason}`);
    }, kind).then(
      (started) => {
        id = started;
        if (stale) void call("scan_stop", { id }).catch(() => {});
      },
      (e) => {
        if (!stale) setMessage(asCommandError(e).message);
      },
    );
    return () => {
      stale = true;
      if (id !== null) void call("scan_stop", { id }).catch(() => {});
    };
  }, [kind]);

  return (
    <div className="scan" data-testid="code-scanner">
      {message ? (
        <p className="muted" data-testid="scanner-message">
          {message}
        </p>
      ) : (
        <div className="scan-preview small">{preview ? <img data-testid="scan-preview" src={preview} alt="Camera preview" /> : <p className="muted">Starting…</p>}</div>
      )}
    </div>
  );
}
