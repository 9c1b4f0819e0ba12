"""urn:nf:iot:ctr:1.0 interop: an independent client (slixmpp 1.8, which has no plugin for this dialect) sends the
stanzas the dialect's reference client sends and reads the answers the way that client does.

Usage: slix_nf_control.py JID PASSWORD TARGET_FULL_JID CA_FILE HOST PORT STEPS_JSON [TIMEOUT_S]
STEPS_JSON is a list of steps, run in order in one session:
  {"op": "set", "nodes": ["pump"], "params": [["b", "state", "true"], ...]}   typed parameters (element, n, v)
  {"op": "getForm", "nodes": ["pump"]}                                         fetch the control form
  {"op": "setForm", "nodes": ["pump"], "values": {"state": "true"}}            submit the last form with values
Prints JSON lines: {"event": "online"}; per step {"event": "result", "step": i, "performed": true, "nodes": [...],
"parameters": [...]} (nodes and parameters as listed in <resp>, null when not listed), {"event": "form", "step": i,
"title": ..., "fields": {var: [type, value]}}, or {"event": "error", "step": i, "condition", "type", "text",
"paramError", "paramErrorText"}; then {"event": "end"}.
"""
import json
import sys
import xml.etree.ElementTree as ET

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout

from slix_session import emit, run

NS = "urn:nf:iot:ctr:1.0"
NS_DATA = "jabber:x:data"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def command(name, nodes):
    """The header the reference client writes: <set|getForm xmlns='urn:nf:iot:ctr:1.0'> and one <nd id/> per node."""
    element = ET.Element(f"{{{NS}}}{name}")
    for node in nodes:
        ET.SubElement(element, f"{{{NS}}}nd", {"id": node})
    return element


class NfController(ClientXMPP):
    def __init__(self, jid, password, target, steps, timeout):
        super().__init__(jid, password)
        self.target = target
        self.steps = steps
        self.timeout = timeout
        self.form = None
        self.add_event_handler("session_start", self.on_start)

    async def on_start(self, _event):
        emit(event="online")
        for index, step in enumerate(self.steps):
            try:
                await self.run_step(index, step)
            except IqError as error:
                self.report_error(index, error.iq)
            except IqTimeout:
                emit(event="timeout", step=index)
        self.disconnect()

    async def run_step(self, index, step):
        op = step["op"]
        if op == "set":
            payload = command("set", step.get("nodes", []))
            for element, name, value in step["params"]:
                ET.SubElement(payload, f"{{{NS}}}{element}", {"n": name, "v": value})
            self.report_set(index, await self.send_iq("set", payload))
        elif op == "getForm":
            answer = await self.send_iq("get", command("getForm", step.get("nodes", [])))
            self.form = answer.xml.find(f"{{{NS_DATA}}}x")
            self.report_form(index)
        elif op == "setForm":
            payload = command("set", step.get("nodes", []))
            payload.append(self.submitted(step["values"]))
            self.report_set(index, await self.send_iq("set", payload))

    async def send_iq(self, kind, payload):
        iq = self.Iq(stype=kind, sto=self.target)
        iq.append(payload)
        return await iq.send(timeout=self.timeout)

    def submitted(self, values):
        """The fetched form submitted: every field with its value, the ones asked for changed (as DataForm does)."""
        form = ET.Element(f"{{{NS_DATA}}}x", {"type": "submit"})
        for field in self.form.findall(f"{{{NS_DATA}}}field"):
            name = field.get("var")
            current = field.findtext(f"{{{NS_DATA}}}value")
            value = values.get(name, current)
            out = ET.SubElement(form, f"{{{NS_DATA}}}field", {"var": name})
            if value is not None:
                ET.SubElement(out, f"{{{NS_DATA}}}value").text = value
        return form

    def report_set(self, index, answer):
        # As the reference client's set callback: performed; nodes and parameters when <resp> lists them.
        resp = answer.xml.find(f"{{{NS}}}resp")
        nodes = [nd.get("id") for nd in resp.findall(f"{{{NS}}}nd")] if resp is not None else []
        parameters = [p.get("n") for p in resp.findall(f"{{{NS}}}p")] if resp is not None else []
        emit(event="result", step=index, performed=True, resp=resp is not None, nodes=nodes or None, parameters=parameters or None)

    def report_form(self, index):
        if self.form is None:
            emit(event="form", step=index, title=None, fields={})
            return
        fields = {field.get("var"): [field.get("type"), field.findtext(f"{{{NS_DATA}}}value")] for field in self.form.findall(f"{{{NS_DATA}}}field")}
        emit(event="form", step=index, title=self.form.findtext(f"{{{NS_DATA}}}title"), fields=fields)

    def report_error(self, index, iq):
        error = iq.xml.find("{jabber:client}error")
        condition = None
        param_error = None
        if error is not None:
            for child in error:
                if child.tag.startswith(f"{{{NS_STANZAS}}}") and not child.tag.endswith("}text"):
                    condition = child.tag.split("}")[1]
            param_error = error.find(f"{{{NS}}}paramError")
        emit(
            event="error",
            step=index,
            condition=condition,
            type=error.get("type") if error is not None else None,
            text=error.findtext(f"{{{NS_STANZAS}}}text") if error is not None else None,
            paramError=param_error.get("n") if param_error is not None else None,
            paramErrorText=param_error.text if param_error is not None else None,
        )


def main():
    jid, password, target, ca_file, host, port, steps = sys.argv[1:8]
    timeout = float(sys.argv[8]) if len(sys.argv) > 8 else 10.0
    run(NfController(jid, password, target, json.loads(steps), timeout), ca_file, host, port)


if __name__ == "__main__":
    main()
