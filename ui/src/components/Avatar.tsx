import { useEffect, useState } from "react";
import { initials } from "../format";
import { avatarUrl } from "../ipc";

/** The picture (fetched through Rust, cached) when there is one, else
 * initials on a colour picked from the name. */
export function Avatar({ name, size = 40, online, url }: { name: string; size?: number; online?: boolean; url?: string | null }) {
  const [src, setSrc] = useState<string | null>(null);
  useEffect(() => {
    setSrc(null);
    if (!url) return;
    let stale = false;
    avatarUrl(url).then((u) => !stale && setSrc(u), () => {});
    return () => {
      stale = true;
    };
  }, [url]);
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360;
  return (
    <span className="avatar" style={{ width: size, height: size, background: `hsl(${h} 45% 45%)`, fontSize: size * 0.4 }}>
      {src ? <img src={src} alt="" data-testid="avatar-image" /> : initials(name)}
      {online ? <span className="presence-dot" aria-label="online" /> : null}
    </span>
  );
}
