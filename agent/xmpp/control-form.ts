// The control form, shared by every face that offers one (XEP-0325 and urn:nf:iot:ctr getForm, the ad-hoc set
// command): rendering the actuators' parameters as a XEP-0004 form with XEP-0122 validation and XEP-0336
// notSame, and reading a submitted one back as the parameters it sets.
import { randomUUID } from "node:crypto";
import { xml, type Element } from "./client.ts";
import type { ControlValue, FormParameter } from "../control.ts";

const NS_DATA = "jabber:x:data";
const NS_VALIDATE = "http://jabber.org/protocol/xdata-validate";
export const NS_DYNAMIC = "urn:xmpp:xdata:dynamic";
/** Form fields that carry no parameter. */
const FORM_HIDDEN = new Set(["FORM_TYPE", "xdd session"]);

/**
 * The parameters a submitted control form sets: every field but the hidden ones, with its first value. A field
 * without a value leaves its parameter as it is (an empty `<value/>` is a value).
 */
export function formParameters(fields: Iterable<readonly [name: string, values: readonly string[]]>): ControlValue[] {
  const parameters: ControlValue[] = [];
  for (const [name, [value]] of fields) {
    if (!FORM_HIDDEN.has(name) && value !== undefined) parameters.push({ name, value });
  }
  return parameters;
}

/** The parameters of a submitted `<x xmlns='jabber:x:data'>`, as formParameters reads them. */
export function submittedParameters(form: Element): ControlValue[] {
  return formParameters(form.getChildren("field").map((field) => [String(field.attrs.var ?? ""), field.getChildren("value").map((value) => value.text())]));
}

/** The control form: one field per parameter, typed, validated (XEP-0122), with current values. */
export function formElement(parameters: FormParameter[], title = "Control"): Element {
  return xml(
    "x",
    { xmlns: NS_DATA, type: "form" },
    xml("title", {}, title),
    // XEP-0336 session: we keep no per-form state, but clients expect the field to echo.
    xml("field", { var: "xdd session", type: "hidden" }, xml("value", {}, randomUUID())),
    ...parameters.map(formField),
  );
}

function formField(parameter: FormParameter): Element {
  const { spec } = parameter;
  const label = spec.unit ? `${spec.name} (${spec.unit})` : spec.name;
  const children: Element[] = [];
  if (spec.description) children.push(xml("desc", {}, spec.description));
  if (parameter.value !== undefined) children.push(xml("value", {}, parameter.value));
  let type = "text-single";
  if (spec.type === "boolean") type = "boolean";
  else if (spec.type === "string" && spec.options) {
    type = "list-single";
    children.push(...spec.options.map((option) => xml("option", { label: option }, xml("value", {}, option))));
  }
  children.push(validateElement(spec));
  if (parameter.notSame) children.push(xml("notSame", { xmlns: NS_DYNAMIC }));
  return xml("field", { var: spec.name, type, label }, ...children);
}

/** The XEP-0122 datatype of each parameter type. */
const DATATYPES: Record<FormParameter["spec"]["type"], string> = { boolean: "xs:boolean", int: "xs:int", double: "xs:double", string: "xs:string" };

/** XEP-0122 validation, on every parameter as XEP-0325 asks: the datatype, and the range when it has bounds. */
function validateElement(spec: FormParameter["spec"]): Element {
  const datatype = DATATYPES[spec.type];
  const range: Record<string, string> = {};
  if (spec.min !== undefined) range.min = String(spec.min);
  if (spec.max !== undefined) range.max = String(spec.max);
  const rule = Object.keys(range).length > 0 ? xml("range", range) : xml("basic");
  return xml("validate", { xmlns: NS_VALIDATE, datatype }, rule);
}
