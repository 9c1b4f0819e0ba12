// Every relative link in the repository's Markdown leads to a file or folder that exists, so a page moved or
// renamed cannot leave readers at a dead end.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { brokenLinks, relativeLinks } from "./support/markdown-links.ts";

const ROOT = resolve(import.meta.dirname, "..");

describe("documentation links", () => {
  const pages = execFileSync("git", ["ls-files", "*.md"], { cwd: ROOT, encoding: "utf8" }).trim().split("\n");

  it("finds the pages and their links", () => {
    assert.ok(pages.includes("README.md") && pages.includes("docs/operator-guide.md"), pages.join(", "));
    assert.ok(relativeLinks(ROOT, "README.md").some((link) => link.path === "docs/install.md"), "README links the install guide");
  });

  it("every relative link of every page resolves", () => {
    assert.deepEqual(brokenLinks(ROOT, pages), []);
  });
});
