import { initials } from "../format";

/** Initials on a colour picked from the name (no network image yet). */
export function Avatar({ name, size = 40, online }: { name: string; size?: number; online?: boolean }) {
  let h = 0;
  for (const c of name) h = (h * 31 + c.charCodeAt(0)) % 360;
  return (
    <span className="avatar" style={{ width: size, height: size, background: `hsl(${h} 45% 45%)`, fontSize: size * 0.4 }}>
      {initials(name)}
      {online ? <span className="presence-dot" aria-label="online" /> : null}
    </span>
  );
}
