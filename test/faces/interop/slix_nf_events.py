"""Interop for the urn:nf:iot:events:1.0 dialect: an independent client (slixmpp 1.8, no IoT plugin) subscribes.

Usage: slix_nf_events.py JID PASSWORD TARGET_FULL_JID CA_FILE HOST PORT NODE FIELD

It subscribes as the dialect's reference client does (IoTGateway, Networking/Waher.Networking.XMPP.Sensor/
SensorClient.cs, Subscribe: an iq get with <subscribe id='<GUID without dashes>' m='true' maxInt=…> holding
<nd id/> and <f n v by/>) and takes the answer as RequestResponse does (the first <accepted>, <started> or <resp>
of the result, by local name). It reads the notifications as FieldsHandler and ParseFields do (the <resp>
messages whose id is the subscription's; a <resp> without more='true' ends one notification, after which the
subscription's request is cleared and kept), and unsubscribes as SensorDataSubscriptionRequest.Unsubscribe does
(an iq set with <unsubscribe id/>).

Prints, as JSON lines:
  {"event": "subscription", answer, answer_ns, id_matches, notifications, fields, dropped, errors}
      after 3.2 s of a subscription with maxInt='PT1S' and a field rule no value meets (v='500' by='1000'):
      notifications counts the ended notifications, fields are those of the first
  {"event": "unsubscribe", result, payload, after}
      the unsubscribe's answer, and the <resp> elements that came for the subscription in the 1.5 s after it
Then {"event": "end"}.
"""
import asyncio
import sys
import uuid
from xml.etree import ElementTree as ET

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from slix_nf_sensordata import local, parse_resp
from slix_session import emit

EVENTS = "urn:nf:iot:events:1.0"
SENSOR_DATA = ("urn:nf:iot:sd:1.0", "urn:ieee:iot:sd:1.0")
TIMEOUT_S = 15


def fresh_readout():
    return {"done": False, "fields": [], "dropped": [], "errors": []}


class NfSubscriber(ClientXMPP):
    def __init__(self, jid, password, target, node, field):
        super().__init__(jid, password)
        self.target = target
        self.node = node
        self.field = field
        self.subscription_id = uuid.uuid4().hex
        self.notifications = []  # each ended notification's parsed readout
        self.current = fresh_readout()
        self.resp_count = 0
        self.register_handler(Callback("nf notifications", MatchXPath("{jabber:client}message"), self.on_message))
        self.add_event_handler("session_start", self.on_start)

    def on_message(self, message):
        for child in message.xml:
            if child.tag.split("}", 1)[0].lstrip("{") not in SENSOR_DATA or local(child.tag) != "resp":
                continue
            if child.get("id") != self.subscription_id:
                continue
            self.resp_count += 1
            parse_resp(child, self.current)
            if self.current["done"]:
                self.notifications.append(self.current)
                self.current = fresh_readout()

    async def subscribe(self):
        subscribe = ET.Element(f"{{{EVENTS}}}subscribe", {"id": self.subscription_id, "m": "true", "maxInt": "PT1S"})
        ET.SubElement(subscribe, f"{{{EVENTS}}}nd", {"id": self.node})
        ET.SubElement(subscribe, f"{{{EVENTS}}}f", {"n": self.field, "v": "500", "by": "1000"})
        iq = self.make_iq_get(ito=self.target)
        iq.append(subscribe)
        report = {"answer": None}
        try:
            result = await iq.send(timeout=TIMEOUT_S)
        except IqError as error:
            emit(event="subscription", answer="error", condition=error.iq["error"]["condition"], text=error.iq["error"]["text"])
            return False
        except IqTimeout:
            emit(event="subscription", answer="timeout")
            return False
        for child in result.xml:
            name = local(child.tag)
            if name in ("accepted", "started", "resp"):
                report = {"answer": name, "answer_ns": child.tag.split("}", 1)[0].lstrip("{"), "id_matches": child.get("id") == self.subscription_id}
                break
        await asyncio.sleep(3.2)
        first = self.notifications[0] if self.notifications else fresh_readout()
        emit(event="subscription", notifications=len(self.notifications), fields=first["fields"], dropped=first["dropped"], errors=first["errors"], **report)
        return report["answer"] == "accepted"

    async def unsubscribe(self):
        iq = self.make_iq_set(ito=self.target)
        iq.append(ET.Element(f"{{{EVENTS}}}unsubscribe", {"id": self.subscription_id}))
        try:
            reply = await iq.send(timeout=TIMEOUT_S)
            result, payload = reply["type"], [local(child.tag) for child in reply.xml]
        except IqError as error:
            result, payload = "error", [error.iq["error"]["condition"]]
        before = self.resp_count
        await asyncio.sleep(1.5)
        emit(event="unsubscribe", result=result, payload=payload, after=self.resp_count - before)

    async def on_start(self, _event):
        try:
            if await self.subscribe():
                await self.unsubscribe()
        except Exception as error:  # report, do not hang: the test reads the lines
            emit(event="exception", error=repr(error))
        self.disconnect()


def main():
    jid, password, target, ca_file, host, port, node, field = sys.argv[1:9]
    client = NfSubscriber(jid, password, target, node, field)
    # Verify the test server's certificate against its own CA; verification stays on.
    client.ssl_context.load_verify_locations(cafile=ca_file)
    client.add_event_handler("disconnected", lambda _event: client.loop.stop())
    client.add_event_handler("failed_auth", lambda _event: (emit(event="failed_auth"), client.disconnect()))
    client.connect(address=(host, int(port)))
    client.loop.call_later(2 * TIMEOUT_S + 20, client.loop.stop)
    client.loop.run_forever()
    emit(event="end")


if __name__ == "__main__":
    main()
