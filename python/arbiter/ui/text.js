// Text from clients and upstreams (model ids, tenants, reasons, errors) as the page shows it.
// A bidi control in a value (U+061C, U+200E-200F, U+202A-202E, U+2066-2069) would reorder the
// value and the text after it (U+202E makes "abc" + U+202E + "fed" read "abcdef"), so one value
// could pass for another and the numbers after it read backwards. A zero-width character
// (U+200B-200D, U+2060, U+FEFF) disguises a value as well: "gpt-4o" + U+200B looks like "gpt-4o".
// Each such character is shown as a visible mark that names it (⟨U+202E⟩), never applied;
// store/export.py marks CSV cells alike.
const CONTROLS = "[\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]";
const ANY = new RegExp(CONTROLS);
const EACH = new RegExp(CONTROLS, "g");

const mark = (c) => `⟨U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}⟩`;

// `text` as a plain string with every bidi and zero-width control marked (for option labels, tooltips)
export const unbidi = (text) => String(text).replace(EACH, mark);

// `text` as nodes to append to an element: text nodes, and each bidi control as an element of
// class "bidi-mark" made by `make` (a span in HTML, a tspan in SVG) holding its mark
export function textNodes(text, make) {
  const s = String(text);
  if (!ANY.test(s)) return [document.createTextNode(s)];
  const out = [];
  let at = 0;
  for (const m of s.matchAll(EACH)) {
    if (m.index > at) out.push(document.createTextNode(s.slice(at, m.index)));
    const node = make();
    node.setAttribute("class", "bidi-mark");
    node.textContent = mark(m[0]);
    out.push(node);
    at = m.index + 1;
  }
  if (at < s.length) out.push(document.createTextNode(s.slice(at)));
  return out;
}

// `text` cut to its first `max` characters and a note of how many more there were: one 100 KB
// model id, tenant or task (an upstream's listing and old tenants may name anything) would
// otherwise set the width, or the height, of every table and heading it lands in. The page
// showing one decision still shows its reason and error whole.
export function clip(text, max) {
  const s = String(text);
  if (s.length <= max) return s;
  const code = s.charCodeAt(max - 1);
  const cut = code >= 0xd800 && code <= 0xdbff ? max - 1 : max; // never half a surrogate pair
  const more = [...s.slice(cut)].length;
  return `${s.slice(0, cut)}… (${more.toLocaleString("en-US")} more characters)`;
}
