import { useEffect, useState } from "react";
import { bannerText, type State } from "../store";

/** The connection banner: connecting / offline (counting down to the next
 * attempt) / back online. */
export function Banner({ link }: { link: State["link"] }) {
  // Re-render every second while counting down.
  const [, setTick] = useState(0);
  const counting = link.state === "offline" && link.retryAt !== null;
  useEffect(() => {
    if (!counting) return;
    const t = setInterval(() => setTick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [counting]);
  const b = bannerText(link, Date.now());
  if (!b) return null;
  return (
    <div className={`banner banner-${b.kind}`} data-testid="banner" data-link={b.kind}>
      {/* The countdown changes every second: a screen reader is told the
          state once, not read each second. */}
      <span aria-hidden="true">{b.text}</span>
      <span className="sr-only" role="status">
        {b.kind === "offline" ? "Offline" : b.text}
      </span>
    </div>
  );
}
