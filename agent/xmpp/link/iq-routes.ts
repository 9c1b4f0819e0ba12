// The route table: the iq handlers the faces register once, installed on the responder of every fresh client
// (a reconnect makes a new client, and the faces must not register again).
import type { Element } from "@xmpp/xml";
import type { IqResponder } from "../iq.ts";

export interface IqRoute {
  type: "get" | "set";
  ns: string;
  name: string;
  handler: (context: { element: Element; stanza: Element; from: string }) => Promise<Element | true> | Element | true;
}

export class IqRoutes {
  private readonly routes: IqRoute[] = [];

  add(route: IqRoute): void {
    this.routes.push(route);
  }

  /** The last sender seen, as written and as its JID writes it: an operator's requests come in runs. */
  private lastSender = { written: "", normalised: "" };

  /** Registers every route on one client's responder, in the order they were added; `from` is "" when absent. */
  install(responder: IqResponder): void {
    for (const route of this.routes) {
      responder[route.type](route.ns, route.name, (context) => route.handler({ element: context.element, stanza: context.stanza, from: this.sender(context) }));
    }
  }

  /** The sender's JID as a string, parsing (XEP-0106 escaping checks included) only a sender not seen last. */
  private sender(context: { stanza: Element; from: { toString(): string } | null }): string {
    const written = context.stanza.attrs.from as string | undefined;
    if (written !== undefined && written !== "" && written === this.lastSender.written) return this.lastSender.normalised;
    const normalised = context.from?.toString() ?? "";
    if (written !== undefined && written !== "") this.lastSender = { written, normalised };
    return normalised;
  }
}
