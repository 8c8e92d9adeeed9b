// Keeping day-relative labels true: "Today", "Yesterday", weekday names and
// list times are computed at render, so a view left open overnight would
// keep yesterday's words until something else re-rendered it.
import { useEffect, useState } from "react";

/** Milliseconds from `now` to the next local midnight (23 or 25 hours
 * across a daylight-saving change, not always 24). */
export function msToMidnight(now: Date): number {
  const next = new Date(now);
  next.setHours(24, 0, 0, 0);
  return next.getTime() - now.getTime();
}

/** Re-renders the calling component just after each local midnight. */
export function useDayChange(): void {
  const [, setDay] = useState(0);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout>;
    const arm = () => {
      timer = setTimeout(() => {
        setDay((d) => d + 1);
        arm();
      }, msToMidnight(new Date()) + 1000);
    };
    arm();
    return () => clearTimeout(timer);
  }, []);
}
