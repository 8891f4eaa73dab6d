// Validates rendered Kubernetes objects against the Kubernetes OpenAPI schemas with the npm
// packages kubernetes-models (built-in kinds) and @kubernetes-models/prometheus-operator
// (ServiceMonitor and the other prometheus-operator kinds, from the operator's CRD schemas):
// each object goes through its model class's validator. A kind neither package knows is a
// failure, not a pass.
//
// Strict: the schemas themselves accept unknown fields (Kubernetes' OpenAPI has no
// additionalProperties: false), so a typo such as `readinesProbe` would pass. The packages ship
// no JSON schema files, only the schemas compiled into ajv validator code (_schemas/*.js), which
// reads every property its schema declares at a position (`void 0 === data.readinessProbe`), and
// reads every key of an additionalProperties map (labels, annotations, resources.limits,
// nodeSelector, ConfigMap data) as it validates each value. So the object is handed to the
// validator through Proxies that record, for each object in it, the field names the validator
// asked for: a field present in the object but never asked for is not declared by the schema at
// that position, and fails. An object the validator asked nothing of is free-form in the schema
// (x-kubernetes-preserve-unknown-fields, or a map of anything): its fields are not checked, and
// the object's line says where such free-form parts are. Int-or-string and other scalars are
// values, not fields. A self-test (a canary object with planted typos) runs first, so a newer
// validator that reads objects differently makes the check fail instead of passing blindly.
//
// usage: node k8s_validate.mjs NODE_CACHE OBJECTS.json
//   OBJECTS.json: [{"source": "...", "object": {...}}, ...]
// Prints one line per object ("ok SOURCE KIND/NAME" or "FAIL SOURCE KIND/NAME: why", one FAIL
// line per unknown field) and exits 1 when any object fails.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const [cache, file] = process.argv.slice(2);
if (!cache || !file) {
  console.error("usage: node k8s_validate.mjs NODE_CACHE OBJECTS.json");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(cache), "node_modules", "_"));

// apiVersion -> the module that holds its model classes.
function moduleFor(apiVersion) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  if (group === "monitoring.coreos.com")
    return `@kubernetes-models/prometheus-operator/${group}/${version}`;
  return group ? `kubernetes-models/${group}/${version}` : `kubernetes-models/${version}`;
}

function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string" || !/^[A-Za-z0-9.\-/]+$/.test(apiVersion))
    return { why: "no apiVersion/kind" };
  let mod;
  try {
    mod = require(moduleFor(apiVersion));
  } catch (e) {
    return { why: `unknown apiVersion ${apiVersion} (no schema for it in kubernetes-models or @kubernetes-models/prometheus-operator)` };
  }
  const cls = mod[kind];
  // Every exported class of a group/version module is a type; only top-level kinds carry a
  // static apiVersion/kind, so a sub-type name (e.g. "PodSpec") is not mistaken for a kind.
  if (typeof cls !== "function" || cls.kind !== kind || cls.apiVersion !== apiVersion)
    return { why: `unknown kind ${kind} in ${apiVersion}` };
  return { cls };
}

// A deep copy of value in which every object and array is a Proxy recording the names read.
function instrument(value, where, nodes) {
  if (value === null || typeof value !== "object") return value;
  const node = { where, keys: Object.keys(value), array: Array.isArray(value), asked: new Set() };
  nodes.push(node);
  const copy = node.array
    ? value.map((v, i) => instrument(v, `${where}/${i}`, nodes))
    : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, instrument(v, `${where}/${k}`, nodes)]));
  const note = (k) => { if (typeof k === "string") node.asked.add(k); };
  return new Proxy(copy, {
    get(t, k, r) { note(k); return Reflect.get(t, k, r); },
    has(t, k) { note(k); return Reflect.has(t, k); },
  });
}

function distance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

// Runs the class's validator on an instrumented copy of object:
// {error: ajv's message or null, unknown: [{where, field, hint}], free: [paths]}
function check(cls, object) {
  const nodes = [];
  const proxied = instrument(object, "", nodes);
  let error = null;
  try {
    cls.prototype.validate.call(proxied);   // runValidateFunc(the compiled schema, this)
  } catch (e) {
    error = String(e && e.message ? e.message : e).replace(/\s+/g, " ");
  }
  const unknown = [], free = [];
  const under = (p, roots) => roots.some((r) => p.startsWith(r + "/"));
  for (const n of nodes) {
    if (n.array || n.keys.length === 0 || under(n.where, free)) continue;
    if (n.asked.size === 0) {   // the schema says nothing about this object's fields
      if (!n.where) error = (error ? error + "; " : "") + "the validator read none of the object's fields";
      free.push(n.where || "/");
      continue;
    }
    for (const k of n.keys) {
      if (n.asked.has(k)) continue;
      const near = [...n.asked].map((a) => [distance(a.toLowerCase(), k.toLowerCase()), a]).sort((x, y) => x[0] - y[0])[0];
      unknown.push({ where: n.where || "/", field: k, hint: near && near[0] <= 3 ? ` (did you mean ${near[1]}?)` : "" });
    }
  }
  return { error, unknown, free };
}

function selfTest() {
  const { cls } = modelClass("apps/v1", "Deployment");
  if (!cls) return "no apps/v1 Deployment model";
  const canary = {
    apiVersion: "apps/v1", kind: "Deployment",
    metadata: { name: "canary", labels: { "app.kubernetes.io/name": "x" }, annotations: { "a/b": "c" } },
    spec: {
      selector: { matchLabels: { a: "b" } },
      template: {
        metadata: { labels: { a: "b" } },
        spec: {
          nodeSelector: { "nvidia.com/gpu.present": "true" },
          containers: [{
            name: "c", readinesProbe: { httpGet: { path: "/ready", port: "http" } },
            securityContext: { runAsUser: 1 }, securityContex: {},
            resources: { limits: { cpu: "1", "nvidia.com/gpu": 1 }, limitz: {} },
            livenessProbe: { httpGet: { path: "/health", port: 8080, bogus: 1 } },
          }],
        },
      },
    },
  };
  const got = check(cls, canary).unknown.map((u) => `${u.where}:${u.field}`).sort();
  const want = ["/spec/template/spec/containers/0:readinesProbe", "/spec/template/spec/containers/0:securityContex",
    "/spec/template/spec/containers/0/resources:limitz",
    "/spec/template/spec/containers/0/livenessProbe/httpGet:bogus"].sort();
  return JSON.stringify(got) === JSON.stringify(want) ? null
    : `the strict field check found ${JSON.stringify(got)} in the canary, expected ${JSON.stringify(want)}`;
}

const items = JSON.parse(readFileSync(file, "utf8"));
let failed = 0;
const why = selfTest();
if (why) {
  console.log(`FAIL self-test: ${why}`);
} else {
  console.log("ok self-test: planted readinesProbe, securityContex, resources.limitz, httpGet.bogus are caught");
}
for (const { source, object } of items) {
  const id = `${source} ${object?.kind}/${object?.metadata?.name}`;
  const { cls, why } = modelClass(object?.apiVersion, object?.kind);
  if (!cls) {
    console.log(`FAIL ${id}: ${why}`);
    failed++;
    continue;
  }
  const { error, unknown, free } = check(cls, object);
  if (error) console.log(`FAIL ${id}: ${error}`);
  for (const u of unknown)
    console.log(`FAIL ${id}: unknown field ${JSON.stringify(u.field)} at ${u.where}${u.hint} (not in the ${object.apiVersion} ${object.kind} schema there)`);
  if (error || unknown.length) {
    failed++;
    continue;
  }
  console.log(`ok ${id} (${object.apiVersion}, strict${free.length ? "; free-form in the schema: " + free.join(", ") : ""})`);
}
console.log(`${items.length - failed}/${items.length} objects valid`);
process.exit(failed || why ? 1 : 0);
