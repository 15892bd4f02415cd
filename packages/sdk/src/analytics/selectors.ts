/**
 * A short CSS path for a clicked element: up to five levels, `tag#id` ends the walk (ids are unique
 * enough), otherwise `tag.class1.class2` per level, joined with " > ".
 */
export function selectorOf(element: Element): string {
  const parts: string[] = [];
  let current: Element | null = element;
  while (current && parts.length < 5) {
    const tag = current.tagName.toLowerCase();
    if (current.id) {
      parts.unshift(`${tag}#${cssEscape(current.id)}`);
      break;
    }
    const classes = Array.from(current.classList)
      .slice(0, 3)
      .map((name) => `.${cssEscape(name)}`)
      .join("");
    parts.unshift(`${tag}${classes}`);
    current = current.parentElement;
  }
  return parts.join(" > ");
}

const cssEscape = (value: string) =>
  typeof CSS !== "undefined" && typeof CSS.escape === "function" ? CSS.escape(value) : value;

/** The `href` of the nearest enclosing link, as written in the page. */
export function linkOf(element: Element): string | null {
  return element.closest("a[href]")?.getAttribute("href") ?? null;
}

/** Visible text, trimmed and cut to 200 characters without splitting a surrogate pair. */
export function textOf(element: Element): string {
  const text = (element.textContent ?? "").replace(/\s+/g, " ").trim();
  if (text.length <= 200) return text;
  const cut = text.slice(0, 200);
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, 199) : cut;
}
