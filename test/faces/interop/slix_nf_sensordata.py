"""Interop for the urn:nf:iot:sd:1.0 dialect: an independent client (slixmpp 1.8, no IoT plugin) against the agent.

Usage: slix_nf_sensordata.py JID PASSWORD TARGET_FULL_JID CA_FILE HOST PORT MOMENTARY_NODES HISTORY_NODE FROM TO

It sends the requests as the dialect's reference client writes them (IoTGateway,
Networking/Waher.Networking.XMPP.Sensor/SensorClient.cs: RequestReadout and the <cancel> of a readout) and reads
the answers as that client does (RequestResponse, FieldsHandler, DoneHandler, ParseFields, ParseTimespan): an iq
result holding <accepted>, <started> or the data itself as <resp>; <resp> messages until one without more='true'
(or a <done/>); fields whose value does not parse are dropped, as that client drops them.

Scenarios, in order, each printed as one JSON line {"event": "readout", "scenario": ...}:
  momentary  m='true' for MOMENTARY_NODES (comma-separated), in urn:nf:iot:sd:1.0
  ieee       the same in urn:ieee:iot:sd:1.0
  history    h='true' with from/to for HISTORY_NODE
  error      m='true' for a node the agent does not have
  cancel     a readout scheduled a minute ahead, then cancelled; whatever came for it within 1.5 s is listed
Then {"event": "end"}.
"""
import asyncio
import sys
import uuid
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slix_session import emit

NF = "urn:nf:iot:sd:1.0"
IEEE = "urn:ieee:iot:sd:1.0"
NAMESPACES = (NF, IEEE)
TYPE_FLAGS = ("m", "p", "s", "c", "i", "h")
QOS_FLAGS = ("ms", "pr", "ae", "me", "mr", "ar", "of", "w", "er", "so", "iv", "eos", "pf", "ic")
TIMEOUT_S = 15


def is_true(text):
    """CommonTypes.TryParse(string, out bool) of the reference: 1/true/yes/on, any case."""
    return text is not None and text.lower() in ("1", "true", "yes", "on")


def parses(element, value):
    """Whether the reference client would keep a field of this element with this value (ParseTimespan)."""
    try:
        if element == "b":
            return value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off")
        if element in ("i", "l"):
            number = int(value)
            bound = 2**31 if element == "i" else 2**63
            return -bound <= number < bound
        if element == "q":
            float(value)  # .NET's double parser: digits with a point, NaN, Infinity, -Infinity
            return True
        if element in ("d", "dt"):
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return True
        return element in ("e", "s", "dr", "t")
    except ValueError:
        return False


def local(tag):
    return tag.split("}", 1)[-1]


def parse_resp(resp, readout):
    """ParseFields: done unless more='true'; <nd> holds <ts>, a <ts> holds fields and <err>."""
    readout["done"] = not is_true(resp.get("more"))
    for child in resp:
        if local(child.tag) == "nd":
            for ts in child:
                if local(ts.tag) == "ts":
                    parse_ts(ts, child.get("id"), readout)
        elif local(child.tag) == "ts":
            parse_ts(child, None, readout)


def parse_ts(ts, node_id, readout):
    timestamp = ts.get("v")
    for field in ts:
        name = local(field.tag)
        if name == "err":
            readout["errors"].append({"node": node_id, "timestamp": timestamp, "text": field.text or ""})
            continue
        value = field.get("v", "")
        entry = {
            "node": node_id,
            "timestamp": timestamp,
            "element": name,
            "name": field.get("n", ""),
            "value": value,
            "writable": is_true(field.get("ctr")),
            "types": [flag for flag in TYPE_FLAGS if is_true(field.get(flag))],
            "qos": [flag for flag in QOS_FLAGS if is_true(field.get(flag))],
        }
        if name == "q":
            entry["unit"] = field.get("u", "")
        if name == "e":
            entry["enum_type"] = field.get("t", "")
        readout["fields" if parses(name, value) else "dropped"].append(entry)


class NfReader(ClientXMPP):
    def __init__(self, jid, password, target, momentary_nodes, history_node, history_from, history_to):
        super().__init__(jid, password)
        self.target = target
        self.momentary_nodes = momentary_nodes
        self.history_node = history_node
        self.history_range = (history_from, history_to)
        self.readouts = {}
        self.register_handler(Callback("nf sensor data", MatchXPath("{jabber:client}message"), self.on_message))
        self.add_event_handler("session_start", self.on_start)

    def on_message(self, message):
        for child in message.xml:
            if child.tag.split("}", 1)[0].lstrip("{") not in NAMESPACES:
                continue
            readout = self.readouts.get(child.get("id"))
            if readout is None:
                continue
            readout["messages"].append(local(child.tag))
            if local(child.tag) == "resp":
                parse_resp(child, readout)
                if readout["done"]:
                    readout["finished"].set()
            elif local(child.tag) == "done":
                readout["done"] = True
                readout["finished"].set()

    def request(self, ns, types, nodes=(), **times):
        """RequestReadout: a GUID id without dashes, the one-letter types, from/to/when only when given."""
        readout_id = uuid.uuid4().hex
        req = ET.Element(f"{{{ns}}}req", {"id": readout_id, **{flag: "true" for flag in types}, **times})
        for node in nodes:
            ET.SubElement(req, f"{{{ns}}}nd", {"id": node})
        iq = self.make_iq_get(ito=self.target)
        iq.append(req)
        readout = {"id": readout_id, "answer": None, "done": False, "messages": [], "fields": [], "dropped": [], "errors": [], "finished": asyncio.Event()}
        self.readouts[readout_id] = readout
        return iq, readout

    async def readout(self, scenario, ns, types, nodes=(), **times):
        iq, readout = self.request(ns, types, nodes, **times)
        try:
            result = await iq.send(timeout=TIMEOUT_S)
        except IqError as error:
            emit(event="readout", scenario=scenario, answer="error", condition=error.iq["error"]["condition"], type=error.iq["error"]["type"], text=error.iq["error"]["text"])
            return
        except IqTimeout:
            emit(event="readout", scenario=scenario, answer="timeout")
            return
        # RequestResponse: the first of accepted, started or resp in the result decides.
        for child in result.xml:
            name = local(child.tag)
            if name in ("accepted", "started", "resp"):
                readout["answer"] = name
                readout["answer_ns"] = child.tag.split("}", 1)[0].lstrip("{")
                readout["queued"] = is_true(child.get("queued"))
                readout["id_matches"] = child.get("id") == readout["id"]
                if name == "resp":
                    parse_resp(child, readout)
                break
        if readout["answer"] is not None and not readout["done"]:
            try:
                await asyncio.wait_for(readout["finished"].wait(), TIMEOUT_S)
            except asyncio.TimeoutError:
                readout["timeout"] = True
        self.report(scenario, readout)

    def report(self, scenario, readout):
        emit(event="readout", scenario=scenario, **{key: value for key, value in readout.items() if key not in ("finished", "id")})

    async def cancelled_readout(self):
        when = (datetime.now(timezone.utc) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        iq, readout = self.request(NF, ["m"], self.momentary_nodes, when=when)
        accepted = await iq.send(timeout=TIMEOUT_S)
        answer = accepted.xml.find(f"{{{NF}}}accepted")
        readout["answer"] = None if answer is None else "accepted"
        readout["queued"] = answer is not None and is_true(answer.get("queued"))
        cancel = self.make_iq_get(ito=self.target)
        cancel.append(ET.Element(f"{{{NF}}}cancel", {"id": readout["id"]}))
        reply = await cancel.send(timeout=TIMEOUT_S)
        readout["cancel_result"] = reply["type"]
        readout["cancel_payload"] = [local(child.tag) for child in reply.xml]
        await asyncio.sleep(1.5)
        self.report("cancel", readout)

    async def on_start(self, _event):
        try:
            await self.readout("momentary", NF, ["m"], self.momentary_nodes)
            await self.readout("ieee", IEEE, ["m"], self.momentary_nodes)
            history_from, history_to = self.history_range
            await self.readout("history", NF, ["h"], [self.history_node], **{"from": history_from, "to": history_to})
            await self.readout("error", NF, ["m"], ["no-such-node"])
            await self.cancelled_readout()
        except Exception as error:  # report, do not hang: the test reads the lines
            emit(event="exception", error=repr(error))
        self.disconnect()


def main():
    jid, password, target, ca_file, host, port, momentary_nodes, history_node, history_from, history_to = sys.argv[1:11]
    client = NfReader(jid, password, target, momentary_nodes.split(","), history_node, history_from, history_to)
    # Verify the test server's certificate against its own CA; verification stays on.
    client.ssl_context.load_verify_locations(cafile=ca_file)
    client.add_event_handler("disconnected", lambda _event: client.loop.stop())
    client.add_event_handler("failed_auth", lambda _event: (emit(event="failed_auth"), client.disconnect()))
    client.connect(address=(host, int(port)))
    client.loop.call_later(5 * TIMEOUT_S + 20, client.loop.stop)
    client.loop.run_forever()
    emit(event="end")


if __name__ == "__main__":
    main()
