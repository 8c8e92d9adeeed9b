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
    <div className={`banner banner-${b.kind}`} role="status" data-testid="banner" data-link={b.kind}>
      {b.text}
    </div>
  );
}
