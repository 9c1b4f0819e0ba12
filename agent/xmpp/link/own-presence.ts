// The agent's own presence: the one a face builds (health and caps), sent when a session comes up and again
// whenever the face says it changed, and unavailable when the agent leaves.
import { xml, type Element, type XmppClient } from "../client.ts";

/** Where updates go: sent only while online. */
export interface PresenceOutlet {
  readonly isOnline: boolean;
  send(stanza: Element): Promise<boolean>;
}

export class OwnPresence {
  private build: () => Element = () => xml("presence");

  constructor(private readonly outlet: PresenceOutlet) {}

  /** The presence sent when online and on each `update()`. */
  set(build: () => Element): void {
    this.build = build;
  }

  update(): void {
    if (this.outlet.isOnline) void this.outlet.send(this.build());
  }

  /** The first presence of a fresh session; a failure to send it is the link's to find, not ours. */
  announce(client: XmppClient): Promise<void> {
    return client.entity.send(this.build()).catch(() => undefined);
  }

  withdraw(client: XmppClient): Promise<void> {
    return client.entity.send(xml("presence", { type: "unavailable" }));
  }
}
