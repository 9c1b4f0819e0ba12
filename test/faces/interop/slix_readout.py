"""XEP-0323 interop: slixmpp 1.8's xep_0323 `request_data` against the agent.

Usage: slix_readout.py JID PASSWORD TARGET_FULL_JID CA_FILE HOST PORT NODE_IDS [TIMEOUT_S]
NODE_IDS is a comma-separated list. A momentary readout of those nodes is requested.
Prints JSON lines: {"event": "online"}, then one {"event": "callback", "result": ..., ...} per callback slixmpp
makes (accepted, fields with nodeId/timestamp/fields, failure, done, ...), {"event": "error", "condition": ...,
"text": ...} for an iq error (slixmpp 1.8 calls nothing for a spec-style rejection), or {"event": "timeout"}
when no done came; always {"event": "end"}.
"""
import sys

from slix_session import OneRequest, emit, run


class Reader(OneRequest):
    def __init__(self, jid, password, target, node_ids, timeout):
        super().__init__(jid, password, "xep_0323", timeout)
        self.target = target
        self.node_ids = node_ids

    def send_request(self):
        self["xep_0323"].request_data(self.boundjid.full, self.target, self.on_callback, nodeIds=self.node_ids, flags={"momentary": "true"})

    def on_callback(self, from_jid, result, nodeId=None, timestamp=None, fields=None, error_msg=None):
        emit(event="callback", result=result, nodeId=nodeId, timestamp=timestamp, fields=fields, error_msg=error_msg)
        if result in ("done", "rejected", "failure", "cancelled"):
            self.finished.set()


def main():
    jid, password, target, ca_file, host, port, node_ids = sys.argv[1:8]
    timeout = float(sys.argv[8]) if len(sys.argv) > 8 else 10.0
    run(Reader(jid, password, target, node_ids.split(","), timeout), ca_file, host, port)


if __name__ == "__main__":
    main()
