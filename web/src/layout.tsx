// The layout every screen shares: lists whose rows become cards on a phone, and a detail or form shown
// beside its list (a side panel on a wide screen, a sheet over the list on a narrow one), never
// appended below it where a click seems to do nothing.
import { type ComponentProps, type ReactNode, useEffect, useLayoutEffect, useRef } from "react";
import { navigate } from "./url";

/** A screen wide enough for a list and its detail side by side (style.css agrees: 1001 px). */
export const WIDE = "(min-width: 1001px)";

/**
 * A table whose rows become cards on a narrow screen (style.css, `table.cards`): each cell is labelled
 * with its column's heading (`data-label`), read from the table's head after every render, and
 * every part keeps its table role, so the screens write plain tables.
 */
export function CardTable({ className, children, ...props }: ComponentProps<"table">) {
  const ref = useRef<HTMLTableElement>(null);
  useLayoutEffect(() => {
    const table = ref.current;
    if (!table) return;
    const headings = [...table.querySelectorAll("thead th")].map((th) => th.textContent?.trim() ?? "");
    for (const row of table.querySelectorAll("tbody tr")) {
      [...row.children].forEach((cell, index) => cell.setAttribute("data-label", headings[index] ?? ""));
    }
    // A browser drops a table's semantics when CSS displays it as blocks (the cards); explicit roles
    // keep it a table with rows and cells for screen readers.
    for (const group of table.querySelectorAll("thead, tbody")) group.setAttribute("role", "rowgroup");
    for (const row of table.querySelectorAll("tr")) row.setAttribute("role", "row");
    for (const heading of table.querySelectorAll("th")) heading.setAttribute("role", "columnheader");
    for (const cell of table.querySelectorAll("td")) cell.setAttribute("role", "cell");
  });
  return (
    <table ref={ref} role="table" className={className ? `cards ${className}` : "cards"} {...props}>
      {children}
    </table>
  );
}

/**
 * A list with, when `panel` is given, its detail or form beside it: a side panel on a wide screen,
 * a sheet over the list on a narrow one. The panel has a Close button (`onClose`), Escape closes it
 * too, and it scrolls into view when its content changes, so a click on a row always shows its
 * detail where the user looks.
 */
export function WithPanel({
  panel,
  panelKey,
  onClose,
  children,
}: {
  panel: ReactNode;
  /** Identifies what the panel shows (a track's id, "new"); a change brings the panel into view. */
  panelKey: string | null;
  onClose: () => void;
  children: ReactNode;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (panelKey === null) return;
    const element = ref.current;
    element?.scrollTo({ top: 0 });
    const box = element?.getBoundingClientRect();
    if (box && (box.top < 0 || box.top > window.innerHeight - 80)) element?.scrollIntoView({ block: "start" });
  }, [panelKey]);
  useEffect(() => {
    if (panelKey === null) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [panelKey, onClose]);
  if (panelKey === null) return <>{children}</>;
  return (
    <div className="with-panel">
      <div className="beside-panel">{children}</div>
      <div className="panel" ref={ref}>
        <div className="panel-bar">
          <button type="button" className="secondary" onClick={onClose}>
            Close
          </button>
        </div>
        {panel}
      </div>
    </div>
  );
}

/** A link to another screen of the app (a path and query): followed without reloading the page. */
export function AppLink({ to, children }: { to: string; children: ReactNode }) {
  return (
    <a
      href={to}
      onClick={(event) => {
        event.preventDefault();
        navigate(to);
      }}
    >
      {children}
    </a>
  );
}
