"""XEP-0325 interop: slixmpp 1.8's xep_0325 `set_request` against the agent.

Usage: slix_control.py JID PASSWORD TARGET_FULL_JID CA_FILE HOST PORT NODE_ID NAME TYPE VALUE [TIMEOUT_S]
Prints JSON lines: {"event": "online"}, then {"event": "callback", "result": ...} when slixmpp's callback
fires (it needs responseCode on <setResponse>), {"event": "error", "condition": ..., "text": ...} for an iq
error (slixmpp 1.8 calls nothing for a spec-style error), or {"event": "timeout"}; always {"event": "end"}.
"""
import sys

from slix_session import OneRequest, emit, run


class Controller(OneRequest):
    def __init__(self, jid, password, target, request, timeout):
        super().__init__(jid, password, "xep_0325", timeout)
        self.target = target
        self.request = request

    def send_request(self):
        node_id, name, typename, value = self.request
        self["xep_0325"].set_request(self.boundjid.full, self.target, self.on_result, [(name, typename, value)], nodeIds=[node_id])

    def on_result(self, from_jid, result, nodeIds=None, fields=None, error_msg=None):
        emit(event="callback", result=result, nodeIds=nodeIds, fields=fields, error_msg=error_msg)
        self.finished.set()


def main():
    jid, password, target, ca_file, host, port, node_id, name, typename, value = sys.argv[1:11]
    timeout = float(sys.argv[11]) if len(sys.argv) > 11 else 10.0
    run(Controller(jid, password, target, (node_id, name, typename, value), timeout), ca_file, host, port)


if __name__ == "__main__":
    main()
