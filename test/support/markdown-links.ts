// Relative links of Markdown files (inline `[text](target)`), to check that documentation moved or shipped
// elsewhere still points at files that exist. Web links, mail links and in-page anchors are not files.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

export interface MarkdownLink {
  /** The Markdown file, relative to the root. */
  file: string;
  line: number;
  /** The target as written, without its #anchor. */
  target: string;
  /** The target resolved against the file's folder, relative to the root. */
  path: string;
}

const INLINE_LINK = /\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g;
const FENCE = /^\s*(```|~~~)/;

export function relativeLinks(root: string, file: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  let fenced = false;
  readFileSync(join(root, file), "utf8")
    .split("\n")
    .forEach((text, index) => {
      if (FENCE.test(text)) fenced = !fenced;
      if (fenced) return;
      for (const match of text.matchAll(INLINE_LINK)) {
        const target = (match[1] ?? "").split("#")[0] ?? "";
        if (target === "" || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        links.push({ file, line: index + 1, target, path: normalize(join(dirname(file), target)) });
      }
    });
  return links;
}

/** The links among `files` whose target does not exist under `root`, as "file:line → target" lines. */
export function brokenLinks(root: string, files: string[], ignore: (link: MarkdownLink) => boolean = () => false): string[] {
  return files
    .flatMap((file) => relativeLinks(root, file))
    .filter((link) => !ignore(link) && !existsSync(join(root, link.path)))
    .map((link) => `${link.file}:${link.line} → ${link.target}`);
}
