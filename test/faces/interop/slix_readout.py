"""XEP-0323 interop: slixmpp 1.8's xep_0323 `request_data` against the agent.

Usage: slix_readout.py JID PASSWORD TARGET_FULL_JID CA_FILE HOST PORT NODE_IDS [TIMEOUT_S]
NODE_IDS is a comma-separated list. A momentary readout of those nodes is requested.
Prints JSON lines: {"event": "online"}, then one {"event": "callback", "result": ..., ...} per callback slixmpp
makes (accepted, fields with nodeId/timestamp/fields, failure, done, ...), {"event": "error", "condition": ...,
"text": ...} for an iq error (slixmpp 1.8 calls nothing for a spec-style rejection), {"event": "exception",
"stanza": ..., "error": ...} when slixmpp raises while handling a stanza the agent sent, or {"event": "timeout"}
when no done came; always {"event": "end"}.
"""
import sys

from slixmpp.stanza.rootstanza import RootStanza

from slix_session import OneRequest, emit, run

# slixmpp answers an exception in a stanza handler with an error stanza and no log line: report it here.
handle_exception = RootStanza.exception


def report_exception(stanza, error):
    emit(event="exception", stanza=str(stanza), error=repr(error))
    handle_exception(stanza, error)


RootStanza.exception = report_exception

# A failure ends the readout for slixmpp; anything sent for it within this long after would hit a deleted session.
LINGER_AFTER_FAILURE_S = 1.5


class Reader(OneRequest):
    def __init__(self, jid, password, target, node_ids, timeout):
        super().__init__(jid, password, "xep_0323", timeout)
        self.target = target
        self.node_ids = node_ids

    def send_request(self):
        self["xep_0323"].request_data(self.boundjid.full, self.target, self.on_callback, nodeIds=self.node_ids, flags={"momentary": "true"})

    def on_callback(self, from_jid, result, nodeId=None, timestamp=None, fields=None, error_msg=None):
        emit(event="callback", result=result, nodeId=nodeId, timestamp=timestamp, fields=fields, error_msg=error_msg)
        if result == "failure":
            self.loop.call_later(LINGER_AFTER_FAILURE_S, self.finished.set)
        elif result in ("done", "rejected", "cancelled"):
            self.finished.set()


def main():
    jid, password, target, ca_file, host, port, node_ids = sys.argv[1:8]
    timeout = float(sys.argv[8]) if len(sys.argv) > 8 else 10.0
    run(Reader(jid, password, target, node_ids.split(","), timeout), ca_file, host, port)


if __name__ == "__main__":
    main()
