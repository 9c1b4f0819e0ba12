// XEP-0115 entity capabilities: a hash of what disco#info announces, sent in presence so clients can cache
// the answer instead of asking every gateway of a fleet.
import { createHash } from "node:crypto";

/** Identifies the software; clients ask disco#info on `${CAPS_NODE}#${ver}`. */
export const CAPS_NODE = "urn:xedge:caps";
export const NS_CAPS = "http://jabber.org/protocol/caps";

export interface DiscoIdentity {
  category: string;
  type: string;
  name?: string;
  lang?: string;
}

export interface DiscoInfo {
  identities: readonly DiscoIdentity[];
  features: readonly string[];
}

/** The verification string of XEP-0115 §5.1 (no extended forms), SHA-1, base64. */
export function capsVer(info: DiscoInfo): string {
  const identities = [...info.identities]
    .sort((a, b) => compareOctets(a.category, b.category) || compareOctets(a.type, b.type) || compareOctets(a.lang ?? "", b.lang ?? ""))
    .map((identity) => `${identity.category}/${identity.type}/${identity.lang ?? ""}/${identity.name ?? ""}<`);
  const features = [...info.features].sort(compareOctets).map((feature) => `${feature}<`);
  return createHash("sha1").update([...identities, ...features].join(""), "utf8").digest("base64");
}

/** XEP-0115 sorts by "i;octet" collation: byte order of the UTF-8 form, not the locale's. */
function compareOctets(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
