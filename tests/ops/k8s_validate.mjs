// Validates rendered Kubernetes objects against the Kubernetes OpenAPI schemas with the npm
// packages kubernetes-models (built-in kinds) and @kubernetes-models/prometheus-operator
// (ServiceMonitor and the other prometheus-operator kinds): each object goes through its
// model class's validate(). A kind neither package knows is a failure, not a pass.
//
// usage: node k8s_validate.mjs NODE_CACHE OBJECTS.json
//   OBJECTS.json: [{"source": "...", "object": {...}}, ...]
// Prints one line per object ("ok SOURCE KIND/NAME" or "FAIL SOURCE KIND/NAME: why") and exits
// 1 when any object fails.
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

const items = JSON.parse(readFileSync(file, "utf8"));
let failed = 0;
for (const { source, object } of items) {
  const id = `${source} ${object?.kind}/${object?.metadata?.name}`;
  const { cls, why } = modelClass(object?.apiVersion, object?.kind);
  if (!cls) {
    console.log(`FAIL ${id}: ${why}`);
    failed++;
    continue;
  }
  try {
    new cls(object).validate();
    console.log(`ok ${id} (${object.apiVersion})`);
  } catch (e) {
    console.log(`FAIL ${id}: ${String(e && e.message ? e.message : e).replace(/\s+/g, " ")}`);
    failed++;
  }
}
console.log(`${items.length - failed}/${items.length} objects valid`);
process.exit(failed ? 1 : 0);
