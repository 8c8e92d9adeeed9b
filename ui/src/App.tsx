import { useEffect, useReducer, useState } from "react";
import type { SessionInfo, User } from "./bindings";
import { Banner } from "./components/Banner";
import { drafts } from "./drafts";
import { asCommandError, call, subscribe } from "./ipc";
import { saveDraftsOnLeave } from "./saveOnLeave";
import { initialState, reducer } from "./store";
import { Main } from "./screens/Main";
import { Onboarding } from "./screens/Onboarding";
import { SignIn } from "./screens/SignIn";

type Screen = { name: "loading" } | { name: "sign-in"; note?: string } | { name: "onboarding"; user: User } | { name: "main"; user: User };

export function App() {
  const [store, dispatch] = useReducer(reducer, initialState);
  const [screen, setScreen] = useState<Screen>({ name: "loading" });

  const enter = (s: SessionInfo) => {
    drafts.open(s.user.id);
    setScreen(s.needs_onboarding ? { name: "onboarding", user: s.user } : { name: "main", user: s.user });
  };

  useEffect(() => {
    let cancelled = false;
    (async () => {
      await subscribe((event) => dispatch({ type: "event", event, now: Date.now() }));
      try {
        const s = await call("restore_session");
        if (cancelled) return;
        if (s) enter(s);
        else setScreen({ name: "sign-in" });
      } catch (e) {
        if (!cancelled) setScreen({ name: "sign-in", note: asCommandError(e).message });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, []);

  // Drafts waiting to be written go to storage before the app may go away.
  useEffect(() => saveDraftsOnLeave(drafts), []);

  // Typing indicators expire on their own.
  useEffect(() => {
    const t = setInterval(() => dispatch({ type: "tick", now: Date.now() }), 1000);
    return () => clearInterval(t);
  }, []);

  // "Back online" shows for a moment.
  useEffect(() => {
    if (!store.link.backOnline) return;
    const t = setTimeout(() => dispatch({ type: "back_online_seen" }), 3000);
    return () => clearTimeout(t);
  }, [store.link.backOnline]);

  // Signed out elsewhere (revoked, or the session expired).
  useEffect(() => {
    if (!store.signedOut) return;
    drafts.close();
    // Already on the sign-in screen (signed out or deleted here): its note stays.
    setScreen((cur) => (cur.name === "sign-in" ? cur : { name: "sign-in", note: store.signedOut ?? "You were signed out." }));
    // Back to a fresh store, so the next sign-out (the same reason again)
    // is seen too: this effect runs only when the reason changes.
    dispatch({ type: "reset" });
  }, [store.signedOut]);

  function accountDeleted() {
    drafts.clear();
    dispatch({ type: "reset" });
    setScreen({ name: "sign-in", note: "Your account was deleted." });
  }

  async function signOut() {
    try {
      await call("sign_out");
    } finally {
      drafts.clear();
      dispatch({ type: "reset" });
      setScreen({ name: "sign-in" });
    }
  }

  switch (screen.name) {
    case "loading":
      return <div className="centered muted">Opening…</div>;
    case "sign-in":
      return (
        <>
          {screen.note ? <div className="banner banner-offline">{screen.note}</div> : null}
          <SignIn onSignedIn={enter} />
        </>
      );
    case "onboarding":
      return <Onboarding user={screen.user} onDone={(user) => setScreen({ name: "main", user })} />;
    case "main":
      return (
        <div className="app">
          <Banner link={store.link} />
          <Main me={screen.user} store={store} onProfile={(user) => setScreen({ name: "main", user })} onSignOut={signOut} onAccountDeleted={accountDeleted} />
        </div>
      );
  }
}
