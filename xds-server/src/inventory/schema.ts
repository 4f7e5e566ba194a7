// JSON Schemas of an inventory: the document (what the API accepts: workloads, externals, vips) and the file form
// (the same fields plus apiVersion and kind). Pure data.
//
// The schemas double as a Kubernetes CRD's openAPIV3Schema later, so they stay inside what a structural schema
// allows: a `type` on every node, no `$ref`, no `$schema`, no `additionalProperties` next to `properties`, no
// `uniqueItems` (the apiserver refuses both; it prunes unknown fields instead, and uniqueness is said with
// `x-kubernetes-list-type`). Closed objects ("unknown field") are therefore added where the schema is compiled
// (validate.ts, `closedSchema`), and what a schema cannot say (IP addresses, duplicate names and addresses) is
// checked in code there.
import { SERVICE_NAME_RE } from '../model/index.js';

export const INVENTORY_API_VERSION = 'nanoseg.io/v1alpha1';
export const INVENTORY_KIND = 'Inventory';

/** The subset of OpenAPI v3 / JSON Schema these schemas use (all of it valid in a CRD's structural schema). */
export interface StructuralSchema {
  readonly type: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  readonly format?: string;
  readonly description?: string;
  readonly properties?: Readonly<Record<string, StructuralSchema>>;
  readonly required?: readonly string[];
  readonly items?: StructuralSchema;
  readonly minItems?: number;
  readonly minLength?: number;
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly enum?: readonly string[];
  readonly 'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  readonly 'x-kubernetes-list-map-keys'?: readonly string[];
}

const address: StructuralSchema = {
  type: 'string',
  minLength: 1,
  description: 'An IPv4 or IPv6 address, without prefix length or brackets.',
};

const serviceName: StructuralSchema = {
  type: 'string',
  minLength: 1,
  pattern: SERVICE_NAME_RE.source,
  description: 'The service, namespace/name (both lowercase DNS labels).',
};

const workload: StructuralSchema = {
  type: 'object',
  description: 'One running instance (host, VM) of a service.',
  required: ['name', 'service', 'addresses'],
  properties: {
    name: { type: 'string', minLength: 1, description: 'Unique among the workloads.' },
    service: serviceName,
    addresses: {
      type: 'array',
      minItems: 1,
      items: address,
      'x-kubernetes-list-type': 'set',
      description: 'The addresses the workload sends from and is reached at.',
    },
    ports: {
      type: 'array',
      items: { type: 'integer', minimum: 1, maximum: 65535 },
      'x-kubernetes-list-type': 'set',
      description: 'Ports the workload serves (used to route connections to its service VIP).',
    },
    interface: {
      type: 'string',
      minLength: 1,
      pattern: '^[A-Za-z0-9_.-]{1,15}$',
      description:
        'The host side of its network interface (a veth on the lab bridge): the kernel enforcement point binds its addresses to it.',
    },
  },
};

const external: StructuralSchema = {
  type: 'object',
  description: 'A host without a sidecar, known by name (its connections are still to an external).',
  required: ['name', 'address'],
  properties: {
    name: { type: 'string', minLength: 1, description: 'Display name.' },
    address,
    interface: {
      type: 'string',
      minLength: 1,
      pattern: '^[A-Za-z0-9_.-]{1,15}$',
      description:
        'The host side of its network interface (a veth on the lab bridge): the kernel enforcement point binds its addresses to it.',
    },
  },
};

const vip: StructuralSchema = {
  type: 'object',
  description: "A service's virtual address; connections to it are balanced over the service's workloads.",
  required: ['service', 'address'],
  properties: { service: serviceName, address },
};

const documentProperties: Readonly<Record<string, StructuralSchema>> = {
  workloads: {
    type: 'array',
    items: workload,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['name'],
  },
  externals: { type: 'array', items: external },
  vips: { type: 'array', items: vip },
};

/** An inventory document (the API body of `PUT /v1/inventory/:source`). Every list is optional (absent = empty). */
export const INVENTORY_SCHEMA: StructuralSchema = {
  type: 'object',
  description: 'Workloads, named externals and service VIPs from one inventory source.',
  properties: documentProperties,
};

/** An inventory file (`nanoseg serve --inventory FILE`): the document plus apiVersion and kind. */
export const INVENTORY_FILE_SCHEMA: StructuralSchema = {
  type: 'object',
  description: 'A static inventory of hosts and VMs outside the lab or cluster.',
  required: ['apiVersion', 'kind'],
  properties: {
    apiVersion: { type: 'string', enum: [INVENTORY_API_VERSION] },
    kind: { type: 'string', enum: [INVENTORY_KIND] },
    ...documentProperties,
  },
};
