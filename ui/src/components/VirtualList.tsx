import { useLayoutEffect, useRef, useState, type ReactNode } from "react";
import { scrollToShow, visibleRange } from "../virtual";

interface Props<T> {
  items: T[];
  rowHeight: number;
  render: (item: T, index: number) => ReactNode;
  itemKey: (item: T) => string;
  className?: string;
  label?: string;
  /** The key of a row to bring into view when it changes (the selected
   * one, moved to from the keyboard); not when the rows move around it. */
  keepInView?: string | null;
}

/** A scrolling list that renders only the rows in view. */
export function VirtualList<T>({ items, rowHeight, render, itemKey, className, label, keepInView = null }: Props<T>) {
  const ref = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const measure = () => setHeight(el.clientHeight);
    measure();
    const ro = new ResizeObserver(measure);
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  // The list got shorter (a filter): the browser clamps the scroll
  // position, and the rows must follow it at once.
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && el.scrollTop !== scrollTop) setScrollTop(el.scrollTop);
  }, [items.length]);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || keepInView === null) return;
    const index = items.findIndex((item) => itemKey(item) === keepInView);
    const to = scrollToShow(index, rowHeight, el.scrollTop, el.clientHeight);
    if (to === null) return;
    el.scrollTop = to;
    setScrollTop(el.scrollTop);
  }, [keepInView]);
  const { start, end } = visibleRange(scrollTop, height, rowHeight, items.length);
  return (
    <div
      ref={ref}
      className={className}
      role="list"
      aria-label={label}
      style={{ overflowY: "auto", position: "relative" }}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
    >
      <div style={{ height: items.length * rowHeight, position: "relative" }}>
        {items.slice(start, end).map((item, i) => (
          <div
            key={itemKey(item)}
            role="listitem"
            style={{ position: "absolute", top: (start + i) * rowHeight, left: 0, right: 0, height: rowHeight }}
          >
            {render(item, start + i)}
          </div>
        ))}
      </div>
    </div>
  );
}
