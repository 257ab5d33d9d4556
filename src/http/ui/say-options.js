// Panel part (issue 17): the say form's format picker, "use cache" toggle and "clean up text" toggle.
// Kept apart from app.js so other panel parts can change without touching these.

/** The extra say fields from the form: `format` (empty: the hub's default_format), `cache`, `clean`. */
export function sayOptions(form) {
  const extra = {};
  const format = form.elements.format?.value;
  if (format) extra.format = format;
  // Unchecked "use cache": synthesize again instead of answering from the cache.
  if (form.elements.cache && !form.elements.cache.checked) extra.cache = false;
  if (form.elements.clean?.checked) extra.clean = true;
  return extra;
}
