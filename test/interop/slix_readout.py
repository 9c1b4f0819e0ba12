"""XEP-0323 interop: slixmpp 1.8's xep_0323 `request_data` against the agent.

Usage: slix_readout.py JID PASSWORD TARGET_FULL_JID CA_FILE HOST PORT NODE_IDS [TIMEOUT_S]
NODE_IDS is a comma-separated list. A momentary readout of those nodes is requested.
Prints JSON lines: {"event": "online"}, then one {"event": "callback", "result": ..., ...} per callback slixmpp
makes (accepted, fields with nodeId/timestamp/fields, failure, done, ...), {"event": "error", "condition": ...,
"text": ...} for an iq error (slixmpp 1.8 calls nothing for a spec-style rejection), or {"event": "timeout"}
when no done came; always {"event": "end"}.
"""
import asyncio
import json
import sys

from slixmpp import ClientXMPP
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath


def emit(**fields):
    print(json.dumps(fields), flush=True)


class Reader(ClientXMPP):
    def __init__(self, jid, password, target, node_ids, timeout):
        super().__init__(jid, password)
        self.target = target
        self.node_ids = node_ids
        self.timeout = timeout
        self.finished = asyncio.Event()
        self.register_plugin("xep_0323")
        self.register_handler(Callback("iq error", StanzaPath("iq@type=error"), self.on_error))
        self.add_event_handler("session_start", self.on_start)

    async def on_start(self, _event):
        emit(event="online")
        self["xep_0323"].request_data(self.boundjid.full, self.target, self.on_callback, nodeIds=self.node_ids, flags={"momentary": "true"})
        try:
            await asyncio.wait_for(self.finished.wait(), self.timeout)
        except asyncio.TimeoutError:
            emit(event="timeout")
        self.disconnect()

    def on_callback(self, from_jid, result, nodeId=None, timestamp=None, fields=None, error_msg=None):
        emit(event="callback", result=result, nodeId=nodeId, timestamp=timestamp, fields=fields, error_msg=error_msg)
        if result in ("done", "rejected", "failure", "cancelled"):
            self.finished.set()

    def on_error(self, iq):
        error = iq["error"]
        emit(event="error", condition=error["condition"], type=error["type"], text=error["text"])
        self.finished.set()


def main():
    jid, password, target, ca_file, host, port, node_ids = sys.argv[1:8]
    timeout = float(sys.argv[8]) if len(sys.argv) > 8 else 10.0
    client = Reader(jid, password, target, node_ids.split(","), timeout)
    # Verify the test server's certificate against its own CA; verification stays on.
    client.ssl_context.load_verify_locations(cafile=ca_file)
    client.add_event_handler("disconnected", lambda _event: client.loop.stop())
    client.add_event_handler("failed_auth", lambda _event: (emit(event="failed_auth"), client.disconnect()))
    client.connect(address=(host, int(port)))
    client.loop.call_later(timeout + 20, client.loop.stop)
    client.loop.run_forever()
    emit(event="end")


if __name__ == "__main__":
    main()
