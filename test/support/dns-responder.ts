// A tiny authoritative DNS server over UDP for a federation of test servers: it answers A queries for the names it
// knows, SRV queries for their XMPP server-to-server service (the federation's one s2s port), and NXDOMAIN for
// everything else, so that no query leaves the machine. Prosody's own DNS client asks it (see FederationMember).
import dgram from "node:dgram";

const TYPE_A = 1;
const TYPE_SRV = 33;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const TTL_SECONDS = 60;

interface Question {
  name: string;
  type: number;
  /** Where the question ends in the query: the answer repeats the query up to here. */
  end: number;
}

function parseQuestion(query: Buffer): Question | undefined {
  if (query.length < 12 || query.readUInt16BE(4) !== 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  for (;;) {
    const length = query[offset];
    if (length === undefined || length > 63) return undefined;
    offset += 1;
    if (length === 0) break;
    labels.push(query.toString("latin1", offset, offset + length).toLowerCase());
    offset += length;
  }
  if (offset + 4 > query.length) return undefined;
  return { name: labels.join("."), type: query.readUInt16BE(offset), end: offset + 4 };
}

function encodeName(name: string): Buffer {
  return Buffer.concat([...name.split(".").map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label, "latin1")])), Buffer.from([0])]);
}

/** A resource record named by a pointer to the question's name (offset 12). */
function record(type: number, data: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(CLASS_IN, 4);
  head.writeUInt32BE(TTL_SECONDS, 6);
  head.writeUInt16BE(data.length, 10);
  return Buffer.concat([head, data]);
}

export class DnsResponder {
  /** Queries answered, by "name type", for assertion messages. */
  readonly asked: string[] = [];

  private constructor(
    private readonly socket: dgram.Socket,
    private readonly addresses: Record<string, string>,
    private readonly s2sPort: number,
  ) {
    socket.on("message", (query, peer) => {
      const answer = this.answer(query);
      if (answer) socket.send(answer, peer.port, peer.address);
    });
  }

  /** Listens on `address` port 53 (root only); `addresses` maps each known name to its IPv4 address. */
  static async start(address: string, addresses: Record<string, string>, s2sPort: number): Promise<DnsResponder> {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(53, address, () => resolve());
    });
    return new DnsResponder(socket, addresses, s2sPort);
  }

  private answer(query: Buffer): Buffer | undefined {
    const question = parseQuestion(query);
    if (question === undefined) return undefined;
    this.asked.push(`${question.name} ${question.type}`);
    const records: Buffer[] = [];
    const address = this.addresses[question.name];
    const service = /^_xmpp-server\._tcp\.(.+)$/.exec(question.name)?.[1];
    if (question.type === TYPE_A && address !== undefined) {
      records.push(record(TYPE_A, Buffer.from(address.split(".").map(Number))));
    } else if (question.type === TYPE_SRV && service !== undefined && this.addresses[service] !== undefined) {
      const fixed = Buffer.alloc(6);
      fixed.writeUInt16BE(0, 0); // priority
      fixed.writeUInt16BE(0, 2); // weight
      fixed.writeUInt16BE(this.s2sPort, 4);
      records.push(record(TYPE_SRV, Buffer.concat([fixed, encodeName(service)])));
    }
    // A name we know answers NOERROR even without records of the type asked (e.g. AAAA); others do not exist.
    const known = address !== undefined || records.length > 0;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    const recursionDesired = (query[2] ?? 0) & 0x01;
    header.writeUInt16BE(0x8400 | (recursionDesired << 8) | (known ? 0 : RCODE_NXDOMAIN), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records.length, 6);
    return Buffer.concat([header, query.subarray(12, question.end), ...records]);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
