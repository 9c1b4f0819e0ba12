// Who may do what: the `operators` list. The operator desk (agent/operator/desk.ts) and Control ask here;
// everyone not listed is refused. Each role includes the ones before it: read, then control (set actuators),
// then admin (fetch and push the gateway's config).
export const ROLES = ["read", "control", "admin"] as const;
export type Role = (typeof ROLES)[number];

export interface Operator {
  jid: string;
  role: Role;
}

/** The bare JID of a full or bare JID, lower-cased where XMPP compares case-insensitively (local and domain). */
export function bareJid(jid: string): string {
  const bare = jid.split("/")[0] ?? "";
  return bare.toLowerCase();
}

export class Authz {
  private roles = new Map<string, Role>();

  constructor(operators: readonly Operator[]) {
    this.replace(operators);
  }

  /** A new operators list (a reloaded config) applies to the next stanza. */
  replace(operators: readonly Operator[]): void {
    this.roles = new Map(operators.map((operator) => [bareJid(operator.jid), operator.role]));
  }

  /** The role of whoever sent a stanza (a bare JID matches all its resources); undefined for strangers. */
  roleOf(jid: string): Role | undefined {
    return this.roles.get(bareJid(jid));
  }

  canRead(jid: string): boolean {
    return this.roleOf(jid) !== undefined;
  }

  canControl(jid: string): boolean {
    const role = this.roleOf(jid);
    return role !== undefined && allows(role, "control");
  }

  canAdminister(jid: string): boolean {
    return this.roleOf(jid) === "admin";
  }
}

/** Whether an operator of `role` may do what needs `needed`: each role includes the ones before it. */
export function allows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}
