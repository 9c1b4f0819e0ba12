// Chat face: an operator types commands into any XMPP client and reads the answers (agent/operator/
// chat-commands.ts does the work). Replies go to the sender's full JID, with the request's type and thread; a
// chart goes as a picture: its uploaded URL (upload.ts) as the body and as XEP-0066 out-of-band data.
// Strangers get one polite refusal per bare JID and nothing more, so a chatty or hostile account cannot make the
// gateway talk.
import { xml, type Element } from "./client.ts";
import { STATELESS, type Face, type FaceConnection } from "./face.ts";
import { bareJid } from "../authz.ts";
import type { OperatorDesk } from "../operator/desk.ts";
import { ChatCommands, bodyLimit, type ChatAnswer } from "../operator/chat-commands.ts";
import type { ImageUpload } from "../operator/chart-post.ts";
import { oobMessage } from "./upload.ts";
import { errorText, type Logger } from "../log.ts";

const NS_DELAY = "urn:xmpp:delay";
/** Bare JIDs remembered as refused; past this the oldest are forgotten (and would be refused once more). */
export const REFUSED_MEMORY = 1000;

export const REFUSAL = "Sorry, this gateway answers its operators only. Ask its administrator to add your address to the operators list.";

export interface ChatDeps {
  desk: Pick<OperatorDesk, "for">;
  log: Logger;
  /** Where `chart` uploads its picture (upload.ts); without it the chart is answered as text. */
  upload?: ImageUpload;
}

export function registerChat(connection: Pick<FaceConnection, "on" | "send" | "bareJid">, { desk, log, upload }: ChatDeps): Face {
  const commands = new ChatCommands(upload ? { upload } : {});
  const refused = new Set<string>();

  const reply = (request: Element, to: string, answer: ChatAnswer) => {
    const type = request.attrs.type === "chat" ? "chat" : "normal";
    const thread = request.getChild("thread");
    const threadCopy = thread ? xml("thread", { ...thread.attrs }, thread.text()) : undefined;
    // A picture: the body is its URL alone, with out-of-band data, so that clients show it inline.
    if (typeof answer !== "string") return connection.send(oobMessage(to, answer.imageUrl, type, threadCopy));
    return connection.send(xml("message", { to, type }, xml("body", {}, answer), ...(threadCopy ? [threadCopy] : [])));
  };

  connection.on("stanza", (stanza) => {
    if (!stanza.is("message")) return;
    // error, groupchat and headline messages are never answered (RFC 6121 §5.2.2), nor bodiless chat states.
    const type = (stanza.attrs.type as string | undefined) ?? "normal";
    if (type !== "chat" && type !== "normal") return;
    const body = stanza.getChildText("body");
    const from = stanza.attrs.from as string | undefined;
    if (body === null || body.trim() === "" || !from) return;
    const sender = bareJid(from);
    if (sender === connection.bareJid) return; // our own account (another resource, a carbon): no echo loops

    const session = desk.for(from);
    if (!session.admitted) {
      if (refused.has(sender)) return;
      if (refused.size >= REFUSED_MEMORY) refused.delete(refused.values().next().value ?? "");
      refused.add(sender);
      log.info("chat refused: not an operator", { from: sender });
      void reply(stanza, from, REFUSAL);
      return;
    }
    // A command line is short, anything longer is not one; only a pushed config carries a whole file.
    const limit = bodyLimit(body);
    if (body.length > limit) {
      void reply(stanza, from, `That message is too long for a command (at most ${limit} characters). Send 'help' for the list.`);
      return;
    }
    const delay = stanza.getChild("delay", NS_DELAY);
    commands
      .reply(session, body, delay ? { sentAt: String(delay.attrs.stamp ?? "unknown") } : undefined)
      .then((answer) => reply(stanza, from, answer))
      .catch((error: unknown) => log.error("chat command failed", { from, error: errorText(error) }));
  });
  return STATELESS;
}
