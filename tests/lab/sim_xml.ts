/** A minimal XML reader for the simulator's own responses (elements and text; no DTD, no CDATA). */

export interface XmlElement {
  name: string;
  children: XmlElement[];
  text: string;
}

export function parseXml(xml: string): XmlElement {
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, "");
  const root: XmlElement = { name: "#root", children: [], text: "" };
  const stack = [root];
  const re = /<(\/?)([A-Za-z_][\w.-]*)([^>]*?)(\/?)>|([^<]+)/g;
  for (const m of body.matchAll(re)) {
    const top = stack[stack.length - 1]!;
    if (m[5] !== undefined) {
      top.text += unescape(m[5]);
    } else if (m[1]) {
      if (top.name !== m[2]) throw new Error(`unbalanced </${m[2]}> inside <${top.name}>`);
      stack.pop();
    } else {
      const el: XmlElement = { name: m[2]!, children: [], text: "" };
      top.children.push(el);
      if (!m[4]) stack.push(el);
    }
  }
  if (stack.length !== 1 || root.children.length !== 1) {
    throw new Error("not one well-formed document");
  }
  return root.children[0]!;
}

/** Text of the first descendant path, e.g. find(doc, "networkInterface", "macAddress"). */
export function find(el: XmlElement, ...path: string[]): XmlElement | undefined {
  let cur: XmlElement | undefined = el;
  for (const name of path) cur = cur?.children.find((c) => c.name === name);
  return cur;
}

function unescape(s: string): string {
  return s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
    .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}
