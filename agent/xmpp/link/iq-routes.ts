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

  /** Registers every route on one client's responder, in the order they were added; `from` is "" when absent. */
  install(responder: IqResponder): void {
    for (const route of this.routes) {
      responder[route.type](route.ns, route.name, ({ element, stanza, from }) => route.handler({ element, stanza, from: from?.toString() ?? "" }));
    }
  }
}
