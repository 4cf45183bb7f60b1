/**
 * EC2 Query API request parameters: the flat `Name.N.Member` keys of a form-encoded body
 * (`Filter.1.Value.2`, `TagSpecification.1.Tag.1.Key`, `Attachment.DeleteOnTermination`)
 * read as a tree. Lists are 1-based and ordered by index, as the AWS SDKs and CLI send them.
 */
import { Ec2ApiError, invalidValue, missingParameter } from "./ec2_error.ts";

export interface Filter {
  name: string;
  values: string[];
}

interface Node {
  value?: string;
  children: Map<string, Node>;
}

export class QueryParams {
  #node: Node;
  #path: string;

  private constructor(node: Node, path: string) {
    this.#node = node;
    this.#path = path;
  }

  /** Parses a form body or query string (both may carry parameters; the body wins). */
  static parse(...sources: URLSearchParams[]): QueryParams {
    const root: Node = { children: new Map() };
    for (const source of sources) {
      for (const [key, value] of source) {
        let node = root;
        for (const part of key.split(".")) {
          let next = node.children.get(part);
          if (!next) {
            next = { children: new Map() };
            node.children.set(part, next);
          }
          node = next;
        }
        node.value = value;
      }
    }
    return new QueryParams(root, "");
  }

  has(name: string): boolean {
    return this.#node.children.has(name);
  }

  string(name: string): string | undefined {
    return this.#node.children.get(name)?.value;
  }

  requiredString(name: string): string {
    const v = this.string(name);
    if (v === undefined || v === "") throw missingParameter(this.#path + name);
    return v;
  }

  int(name: string): number | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!/^-?\d+$/.test(v.trim())) {
      throw invalidValue(`Invalid value '${v}' for ${this.#path}${name}: expected an integer.`);
    }
    return Number(v);
  }

  requiredInt(name: string): number {
    const v = this.int(name);
    if (v === undefined) throw missingParameter(this.#path + name);
    return v;
  }

  bool(name: string): boolean | undefined {
    const v = this.string(name)?.toLowerCase();
    if (v === undefined) return undefined;
    if (v !== "true" && v !== "false") {
      throw invalidValue(`Invalid value '${v}' for ${this.#path}${name}: expected true or false.`);
    }
    return v === "true";
  }

  child(name: string): QueryParams | undefined {
    const node = this.#node.children.get(name);
    return node ? new QueryParams(node, `${this.#path}${name}.`) : undefined;
  }

  /** `Name.1`, `Name.2`, ... as strings (in index order). */
  list(name: string): string[] {
    return this.#indexed(name).map(([, node]) => node.value ?? "");
  }

  /** `Name.1.Member`, `Name.2.Member`, ... as sub-parameter sets (in index order). */
  structList(name: string): QueryParams[] {
    return this.#indexed(name).map(([i, node]) =>
      new QueryParams(node, `${this.#path}${name}.${i}.`)
    );
  }

  /** `Filter.N.Name` with `Filter.N.Value.M`. */
  filters(): Filter[] {
    return this.structList("Filter").map((f) => ({
      name: f.requiredString("Name"),
      values: f.list("Value"),
    }));
  }

  /** `<name>.N.Key` / `<name>.N.Value` pairs. */
  tags(name = "Tag"): [string, string][] {
    return this.structList(name).map((t) => {
      const key = t.requiredString("Key");
      if (key.length > 128) {
        throw invalidValue(`Tag key '${key.slice(0, 20)}...' is longer than 128 characters.`);
      }
      return [key, t.string("Value") ?? ""];
    });
  }

  /** `TagSpecification.N.ResourceType` with `TagSpecification.N.Tag.M.Key/Value`. */
  tagSpecifications(): { resourceType: string; tags: [string, string][] }[] {
    return this.structList("TagSpecification").map((s) => ({
      resourceType: s.requiredString("ResourceType"),
      tags: s.tags("Tag"),
    }));
  }

  #indexed(name: string): [number, Node][] {
    const node = this.#node.children.get(name);
    if (!node) return [];
    const out: [number, Node][] = [];
    for (const [key, child] of node.children) {
      if (!/^[1-9]\d*$/.test(key)) {
        throw new Ec2ApiError(
          "InvalidParameter",
          `The parameter ${this.#path}${name}.${key} is not recognized: list members are ${name}.1, ${name}.2, ...`,
        );
      }
      out.push([Number(key), child]);
    }
    return out.sort((a, b) => a[0] - b[0]);
  }
}
