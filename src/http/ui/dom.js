// TTS Hub panel: the DOM helpers every panel module uses. Plain ES module; values are set as text, never HTML.

/** The first element matching `selector`, or null. */
export const $ = (selector) => document.querySelector(selector);

/** Builds an element with text content (never HTML from data). */
export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}
