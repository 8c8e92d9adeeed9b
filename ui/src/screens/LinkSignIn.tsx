import { useEffect, useState, type FormEvent } from "react";
import type { LinkCode, SessionInfo } from "../bindings";
import { asCommandError, call } from "../ipc";
import { countdown } from "../format";
import { localExpiry } from "../expiry";
import { CodeScanner } from "../components/CodeScanner";
import { OpenImageButton, PasteButton, usePasteCode } from "../components/PasteCode";
import { DEVICE_LINK_TTL_SECS } from "../bindings/limits";

/** "Link to an existing account": the link QR and its check code, renewed
 * until another device approves it; then signed in. Waiting happens in Rust
 * and is cancelled when this screen closes. */
export function LinkSignIn({ server, onSignedIn, onBack }: { server: string; onSignedIn: (s: SessionInfo) => void; onBack: () => void }) {
  const [code, setCode] = useState<(LinkCode & { expires: number }) | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [round, setRound] = useState(0);
  const [now, setNow] = useState(Date.now());

  useEffect(() => {
    let live = true;
    let linkId: string | null = null;
    (async () => {
      try {
        const c = await call("start_link", { server });
        linkId = c.link_id;
        if (!live) {
          void call("cancel_link", { link_id: c.link_id }).catch(() => {});
          return;
        }
        setCode({ ...c, expires: localExpiry(c.expires_at, Date.now(), DEVICE_LINK_TTL_SECS) });
        setError(null);
        const r = await call("wait_link", { link_id: c.link_id });
        if (!live) return;
        if (r.status === "approved") onSignedIn(r.session);
        // Expired, or replaced while this screen still shows it: a new one.
        else setRound((n) => n + 1);
      } catch (e) {
        if (live) setError(asCommandError(e).message);
      }
    })();
    return () => {
      live = false;
      if (linkId !== null) void call("cancel_link", { link_id: linkId }).catch(() => {});
    };
  }, [server, round]);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, []);

  const expires = code?.expires ?? 0;
  // An expired code whose renewal failed is not left up: it no longer works.
  const shown = code && !(now >= expires && error) ? code : null;
  return (
    <div data-testid="link-sign-in">
      <h1>Link to an existing account</h1>
      <p className="muted">
        On a device that is signed in, open Settings → Devices → “Link a new device” and scan this code (or paste its link), then pick there the
        two digits shown here.
      </p>
      {shown ? (
        <>
          <div className="qr" role="img" aria-label="Link code for this device" data-testid="link-qr" data-uri={shown.uri} dangerouslySetInnerHTML={{ __html: shown.svg }} />
          <p className="check-code-line">
            Check code: <strong className="check-code" data-testid="link-check-code">{shown.check_code}</strong>
          </p>
          <p className="muted" data-testid="link-countdown">
            {now >= expires ? "Renewing…" : `Waiting for approval · new code in ${countdown((expires - now) / 1000)}`}
          </p>
          <input readOnly name="link-uri" aria-label="Link for this device" value={shown.uri} onFocus={(e) => e.target.select()} />
        </>
      ) : error ? null : (
        <p className="muted">Creating a code…</p>
      )}
      {error ? (
        <p className="error" role="alert" data-testid="error">
          {error}{" "}
          <button className="link" onClick={() => setRound((n) => n + 1)}>
            Try again
          </button>
        </p>
      ) : null}
      <p>
        <button className="link" name="back-to-sign-in" onClick={onBack}>
          Back
        </button>
      </p>
    </div>
  );
}

/** "Scan a code from my other device": the typed/pasted `parley://join`
 * link or invite code shown in Settings → Devices of the other device. */
export function JoinSignIn({ server, onSignedIn, onBack }: { server: string; onSignedIn: (s: SessionInfo) => void; onBack: () => void }) {
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const [scanning, setScanning] = useState(false);

  // A scanned or pasted link signs in at once, as "Sign in" would.
  function joinWith(found: string) {
    setScanning(false);
    setCode(found);
    void join(null, found);
  }
  const clipboard = usePasteCode("join", joinWith, setError);

  async function join(e: FormEvent | null, scanned?: string) {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await call("join_device", { server, code: scanned ?? code }));
    } catch (err) {
      setError(asCommandError(err).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={join} data-testid="join-sign-in">
      <h1>Scan a code from my other device</h1>
      <p className="muted">On your signed-in device open Settings → Devices → “Show a code for a new device”, then scan it, paste its link or type its code.</p>
      {scanning ? (
        <CodeScanner kind="join" small onFound={joinWith} />
      ) : (
        <button type="button" name="scan-invite" onClick={() => setScanning(true)}>
          Scan the code
        </button>
      )}
      <PasteButton onPaste={() => void clipboard.paste()} busy={clipboard.busy} />
      <OpenImageButton kind="join" onCode={joinWith} onError={setError} />
      <label>
        Link or code
        <input name="join-code" value={code} onChange={(e) => setCode(e.target.value)} placeholder="parley://join?… or the code" autoFocus />
      </label>
      <button type="submit" name="join" disabled={busy || !code.trim()}>
        {busy ? "Signing in…" : "Sign in"}
      </button>{" "}
      <button type="button" className="link" name="back-to-sign-in" onClick={onBack}>
        Back
      </button>
      {error ? (
        <p className="error" role="alert" data-testid="error">
          {error}
        </p>
      ) : null}
    </form>
  );
}
