"""XEP-0325 interop: slixmpp 1.8's xep_0325 `set_request` against the agent.

Usage: slix_control.py JID PASSWORD TARGET_FULL_JID CA_FILE HOST PORT NODE_ID NAME TYPE VALUE [TIMEOUT_S]
Prints JSON lines: {"event": "online"}, then {"event": "callback", "result": ...} when slixmpp's callback
fires (it needs responseCode on <setResponse>), {"event": "error", "condition": ..., "text": ...} for an iq
error (slixmpp 1.8 calls nothing for a spec-style error), or {"event": "timeout"}; always {"event": "end"}.
"""
import asyncio
import json
import sys

from slixmpp import ClientXMPP
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath


def emit(**fields):
    print(json.dumps(fields), flush=True)


class Controller(ClientXMPP):
    def __init__(self, jid, password, target, request, timeout):
        super().__init__(jid, password)
        self.target = target
        self.request = request
        self.timeout = timeout
        self.finished = asyncio.Event()
        self.register_plugin("xep_0325")
        self.register_handler(Callback("iq error", StanzaPath("iq@type=error"), self.on_error))
        self.add_event_handler("session_start", self.on_start)

    async def on_start(self, _event):
        emit(event="online")
        node_id, name, typename, value = self.request
        self["xep_0325"].set_request(self.boundjid.full, self.target, self.on_result, [(name, typename, value)], nodeIds=[node_id])
        try:
            await asyncio.wait_for(self.finished.wait(), self.timeout)
        except asyncio.TimeoutError:
            emit(event="timeout")
        self.disconnect()

    def on_result(self, from_jid, result, nodeIds=None, fields=None, error_msg=None):
        emit(event="callback", result=result, nodeIds=nodeIds, fields=fields, error_msg=error_msg)
        self.finished.set()

    def on_error(self, iq):
        error = iq["error"]
        emit(event="error", condition=error["condition"], type=error["type"], text=error["text"])
        self.finished.set()


def main():
    jid, password, target, ca_file, host, port, node_id, name, typename, value = sys.argv[1:11]
    timeout = float(sys.argv[11]) if len(sys.argv) > 11 else 10.0
    client = Controller(jid, password, target, (node_id, name, typename, value), timeout)
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
