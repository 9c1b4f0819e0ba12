"""What the slixmpp interop scripts share: JSON lines on stdout, one request per session, and the run loop.

The scripts import this module from their own folder (Python puts a script's folder first on sys.path).
"""
import asyncio
import json

from slixmpp import ClientXMPP
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath


def emit(**fields):
    print(json.dumps(fields), flush=True)


class OneRequest(ClientXMPP):
    """Logs in, sends one request (`send_request`), and waits up to `timeout` s until `finished` is set.

    Prints {"event": "online"} at session start, {"event": "error", ...} for an iq error (which also ends the wait:
    slixmpp 1.8 calls no callback for a spec-style error), and {"event": "timeout"} when the wait runs out.
    """

    def __init__(self, jid, password, plugin, timeout):
        super().__init__(jid, password)
        self.timeout = timeout
        self.finished = asyncio.Event()
        self.register_plugin(plugin)
        self.register_handler(Callback("iq error", StanzaPath("iq@type=error"), self.on_error))
        self.add_event_handler("session_start", self.on_start)

    def send_request(self):
        raise NotImplementedError

    async def on_start(self, _event):
        emit(event="online")
        self.send_request()
        try:
            await asyncio.wait_for(self.finished.wait(), self.timeout)
        except asyncio.TimeoutError:
            emit(event="timeout")
        self.disconnect()

    def on_error(self, iq):
        error = iq["error"]
        emit(event="error", condition=error["condition"], type=error["type"], text=error["text"])
        self.finished.set()


def run(client, ca_file, host, port):
    """Connects to HOST:PORT and runs until the session ends (or 20 s after the client's timeout); then {"event": "end"}."""
    # Verify the test server's certificate against its own CA; verification stays on.
    client.ssl_context.load_verify_locations(cafile=ca_file)
    client.add_event_handler("disconnected", lambda _event: client.loop.stop())
    client.add_event_handler("failed_auth", lambda _event: (emit(event="failed_auth"), client.disconnect()))
    client.connect(address=(host, int(port)))
    client.loop.call_later(client.timeout + 20, client.loop.stop)
    client.loop.run_forever()
    emit(event="end")
