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

/** Re-renders the calling component just after each local midnight, and
 * when the window comes back on a new day. */
export function useDayChange(): void {
  // The day as a string: setting the same one again renders nothing.
  const [, setDay] = useState(() => new Date().toDateString());
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const check = () => setDay(new Date().toDateString());
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        check();
        arm();
      }, msToMidnight(new Date()) + 1000);
    };
    // A timer does not count the time the computer sleeps: armed at 22:00
    // for midnight, it fires hours late after a night with the lid closed.
    // Coming back to the window checks the day at once.
    const back = () => {
      check();
      arm();
    };
    arm();
    window.addEventListener("focus", back);
    document.addEventListener("visibilitychange", back);
    return () => {
      clearTimeout(timer);
      window.removeEventListener("focus", back);
      document.removeEventListener("visibilitychange", back);
    };
  }, []);
}
