import { bannerText, type State } from "../store";

/** The connection banner: connecting / offline / back online. */
export function Banner({ link }: { link: State["link"] }) {
  const b = bannerText(link);
  if (!b) return null;
  return (
    <div className={`banner banner-${b.kind}`} role="status" data-testid="banner" data-link={b.kind}>
      {b.text}
    </div>
  );
}
