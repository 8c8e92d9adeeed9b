import { useEffect, useRef, useState, type FormEvent } from "react";
import type { SessionInfo } from "../bindings";
import { asCommandError, call } from "../ipc";
import { countdown, signInError } from "../format";
import { JoinSignIn, LinkSignIn } from "./LinkSignIn";

/** Server URL (remembered) and identifier, then the 6-digit code. */
export function SignIn({ onSignedIn }: { onSignedIn: (s: SessionInfo) => void }) {
  const [server, setServer] = useState("");
  const [identifier, setIdentifier] = useState("");
  const [code, setCode] = useState("");
  const [step, setStep] = useState<"identifier" | "code" | "link" | "join">("identifier");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [resendAt, setResendAt] = useState(0);
  const [now, setNow] = useState(Date.now());
  const codeRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    call("sign_in_defaults").then((d) => setServer((s) => s || d.server), () => {});
  }, []);
  useEffect(() => {
    if (step !== "code") return;
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [step]);

  async function requestCode() {
    setBusy(true);
    setError(null);
    try {
      const r = await call("request_code", { server, identifier });
      setResendAt(Date.now() + r.retry_after * 1000);
      setNow(Date.now());
      setStep("code");
      setTimeout(() => codeRef.current?.focus(), 0);
    } catch (e) {
      setError(signInError(asCommandError(e), server));
    } finally {
      setBusy(false);
    }
  }

  async function verify(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await call("verify_code", { server, identifier, code }));
    } catch (err) {
      setError(signInError(asCommandError(err), server));
    } finally {
      setBusy(false);
    }
  }

  const wait = Math.max(0, (resendAt - now) / 1000);
  if (step === "link" || step === "join") {
    const Other = step === "link" ? LinkSignIn : JoinSignIn;
    return (
      <main className="centered">
        <div className="card">
          <Other server={server} onSignedIn={onSignedIn} onBack={() => setStep("identifier")} />
        </div>
      </main>
    );
  }
  return (
    <main className="centered">
      <div className="card" data-testid="sign-in">
        <h1>Sign in to Parley</h1>
        {step === "identifier" ? (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void requestCode();
            }}
          >
            <label>
              Server
              <input name="server" value={server} onChange={(e) => setServer(e.target.value)} placeholder="https://chat.example.org" required />
            </label>
            <label>
              Email or phone number
              <input name="identifier" value={identifier} onChange={(e) => setIdentifier(e.target.value)} placeholder="ana@example.org" autoFocus required />
            </label>
            <button type="submit" name="request-code" disabled={busy || !identifier.trim() || !server.trim()}>
              {busy ? "Sending…" : "Send me a code"}
            </button>
            <p className="muted">
              <button type="button" className="link" name="link-existing" disabled={!server.trim()} onClick={() => setStep("link")}>
                Link to an existing account
              </button>
              {" · "}
              <button type="button" className="link" name="join-existing" disabled={!server.trim()} onClick={() => setStep("join")}>
                Scan a code from my other device
              </button>
            </p>
          </form>
        ) : (
          <form onSubmit={verify}>
            <p className="muted">
              We sent a code to <strong>{identifier}</strong>.{" "}
              <button type="button" className="link" onClick={() => { setStep("identifier"); setCode(""); setError(null); }}>
                Change
              </button>
            </p>
            <label>
              Code
              <input
                ref={codeRef}
                name="code"
                value={code}
                onChange={(e) => setCode(e.target.value.replace(/\D/g, "").slice(0, 6))}
                inputMode="numeric"
                autoComplete="one-time-code"
                placeholder="123456"
                required
              />
            </label>
            <button type="submit" name="verify" disabled={busy || code.length !== 6}>
              {busy ? "Checking…" : "Sign in"}
            </button>
            <p className="muted">
              {wait > 0 ? (
                <span data-testid="resend-countdown">Resend code in {countdown(wait)}</span>
              ) : (
                <button type="button" className="link" name="resend" disabled={busy} onClick={() => void requestCode()}>
                  Resend code
                </button>
              )}
            </p>
          </form>
        )}
        {error ? (
          <p className="error" role="alert" data-testid="error">
            {error}
          </p>
        ) : null}
      </div>
    </main>
  );
}
