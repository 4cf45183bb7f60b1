/**
 * A tiny XML writer for EC2 responses: elements are built bottom-up as escaped strings, and a
 * member whose value is undefined is left out, as EC2 leaves out absent members.
 */

export class Xml {
  constructor(readonly text: string) {}
}

type Content = string | number | boolean | Date | Xml | Xml[] | undefined | null;

export function el(name: string, content: Content): Xml {
  if (content === undefined || content === null) return new Xml("");
  if (Array.isArray(content)) {
    const inner = content.map((c) => c.text).join("");
    return new Xml(inner ? `<${name}>${inner}</${name}>` : `<${name}/>`);
  }
  if (content instanceof Xml) return new Xml(`<${name}>${content.text}</${name}>`);
  const text = content instanceof Date ? content.toISOString() : String(content);
  return new Xml(`<${name}>${escapeXml(text)}</${name}>`);
}

/** Children of one element, in order. */
export function seq(...children: Xml[]): Xml[] {
  return children;
}

/** An EC2 list: `<name><item>...</item>...</name>`, `<name/>` when empty. */
export function set<T>(name: string, items: readonly T[], render: (item: T) => Xml[]): Xml {
  return el(name, items.map((i) => el("item", render(i))));
}

/** A list of plain values: `<name><item>v</item>...</name>`. */
export function valueSet(name: string, values: readonly (string | number)[]): Xml {
  return el(name, values.map((v) => el("item", v)));
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export const EC2_XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/";

/** `<ActionResponse xmlns=...><requestId/>...</ActionResponse>`. */
export function responseDocument(action: string, requestId: string, body: Xml[]): string {
  const inner = [el("requestId", requestId), ...body].map((x) => x.text).join("");
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_XMLNS}">${inner}</${action}Response>`;
}

/** EC2's error envelope. */
export function errorDocument(code: string, message: string, requestId: string): string {
  const error = el("Error", [el("Code", code), el("Message", message)]);
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response>${el("Errors", [error]).text}${
    el("RequestID", requestId).text
  }</Response>`;
}
