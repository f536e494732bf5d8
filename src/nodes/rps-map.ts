/**
 * rps-map: builds the target record from `msg.payload` with the configured field
 * mappings (field to field, fixed value, value map), and renames
 * `msg.rps.changedFields` to match.
 */
import { applyMappings, compileMappings, type Mapping, type MappingRow } from '../core/mapping';
import { toFields } from '../core/values';
import { errorText, ThrottledStatus } from './common';
import type { Node, NodeAPI, NodeDef } from './red';

interface MapDef extends NodeDef {
  mappings?: MappingRow[];
  keepUnmapped?: boolean;
}

export default function (RED: NodeAPI): void {
  function RpsMapNode(this: Node, def: MapDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const status = new ThrottledStatus(node);
    let mappings: Mapping[] | undefined;
    let configError: string | undefined;
    try {
      mappings = compileMappings(def.mappings ?? []);
    } catch (err) {
      configError = errorText(err);
      node.status({ fill: 'red', shape: 'ring', text: RED._('rps-map.status.bad-mapping') });
      node.error(RED._('rps-map.errors.bad-mapping', { error: configError }));
    }
    let mapped = 0;

    node.on('input', (msg, send, done) => {
      if (!mappings) {
        done(new Error(RED._('rps-map.errors.bad-mapping', { error: configError })));
        return;
      }
      let fields;
      try {
        fields = toFields(msg.payload, 'payload');
      } catch (err) {
        status.now({ fill: 'red', shape: 'ring', text: RED._('rps-map.status.bad-payload') });
        done(new Error(RED._('rps-map.errors.bad-payload', { error: errorText(err) })));
        return;
      }
      const rps = msg.rps as { changedFields?: unknown; operation?: unknown } | undefined;
      const changedIn = Array.isArray(rps?.changedFields) ? (rps.changedFields.filter((f) => typeof f === 'string') as string[]) : Object.keys(fields);
      // Without msg.rps there is no telling what changed: treat it as new.
      const isNew = rps?.operation === undefined || rps.operation === 'insert';
      const result = applyMappings(mappings, fields, changedIn, def.keepUnmapped === true, isNew);
      msg.payload = result.fields;
      if (rps && typeof rps === 'object') rps.changedFields = result.changedFields;
      mapped += 1;
      status.set(() => ({ fill: 'green', shape: 'dot', text: RED._('rps-map.status.mapped', { count: mapped }) }));
      send(msg);
      done();
    });
    node.on('close', (_removed, done) => {
      status.stop();
      done();
    });
  }
  RED.nodes.registerType('rps-map', RpsMapNode);
}
