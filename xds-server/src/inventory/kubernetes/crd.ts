// The NanoSegment custom resource (nanoseg.io/v1alpha1), one per service, named and namespaced as the service:
// spec is what a person wants (mode, and optionally the approved policy, in the rule shape of `nanoseg policy
// apply`), status is what is (learning state, confidence, edges, last denials). Pure data: scripts/gen-crd.mjs
// writes manifests/base/crd-nanosegment.yaml from it and a unit test fails when the committed file differs.
// Same structural-schema subset as the inventory schema (a `type` everywhere, no $ref, no additionalProperties).
import { MODES, PROTOCOLS, SERVICE_NAME_RE } from '../../model/index.js';
import type { StructuralSchema } from '../schema.js';

export const NANOSEG_GROUP = 'nanoseg.io';
export const NANOSEGMENT_VERSION = 'v1alpha1';
export const NANOSEGMENT_KIND = 'NanoSegment';
export const NANOSEGMENT_PLURAL = 'nanosegments';

const port: StructuralSchema = { type: 'integer', minimum: 1, maximum: 65535 };

/**
 * A rule as `nanoseg policy apply` reads it: a peer (service or exact CIDR with optional SNI), protocol, port (none for
 * icmp), and for http/grpc optionally the allowed method + path templates. The control plane's validating webhook
 * checks the rest with the policy parser (exactly one of service or cidr, ports per protocol, duplicates, paths).
 */
const rule: StructuralSchema = {
  type: 'object',
  required: ['peer', 'protocol'],
  properties: {
    peer: {
      type: 'object',
      description: 'Either service (namespace/name) or cidr (with optional sni), as in `nanoseg policy apply`.',
      properties: {
        service: { type: 'string', pattern: SERVICE_NAME_RE.source, description: 'namespace/name' },
        cidr: { type: 'string', minLength: 1, description: 'An address prefix, e.g. 203.0.113.10/32.' },
        sni: { type: 'string', minLength: 1, description: 'TLS SNI or HTTP authority (with cidr only).' },
      },
    },
    protocol: { type: 'string', enum: [...PROTOCOLS] },
    port,
    paths: {
      type: 'array',
      description: 'http/grpc only: the method + path templates allowed (L7), as in `nanoseg policy apply`.',
      'x-kubernetes-list-type': 'atomic',
      items: {
        type: 'object',
        required: ['method', 'path'],
        properties: { method: { type: 'string', minLength: 1 }, path: { type: 'string', minLength: 1 } },
      },
    },
  },
};

const rules = (description: string): StructuralSchema => ({
  type: 'array',
  items: rule,
  'x-kubernetes-list-type': 'atomic',
  description,
});

export const NANOSEGMENT_SPEC_SCHEMA: StructuralSchema = {
  type: 'object',
  description:
    'What is wanted for the service, applied once per generation as `nanoseg policy apply` / `nanoseg mode` would ' +
    '(the kubectl user is the audit actor). mode and l7 alone change the mode; ingress and egress together are the ' +
    'approved policy (a missing side is empty). Without them the policy in force stays.',
  properties: {
    mode: { type: 'string', enum: [...MODES], description: 'learn, monitor or enforce.' },
    l7: { type: 'boolean', description: 'Learn and enforce HTTP details (reserved; accepted and kept).' },
    ingress: rules('Approved ingress rules (who may call this service).'),
    egress: rules('Approved egress rules (what this service may call).'),
  },
};

const lastAlert = (what: string): StructuralSchema => ({
  type: 'object',
  description: what,
  properties: {
    time: { type: 'string', format: 'date-time' },
    source: { type: 'string' },
    destination: { type: 'string' },
    reason: { type: 'string' },
  },
});

export const NANOSEGMENT_STATUS_SCHEMA: StructuralSchema = {
  type: 'object',
  properties: {
    state: { type: 'string', enum: ['learning', 'converged'] },
    mode: { type: 'string', enum: [...MODES], description: 'The mode in force (the spec says what was asked).' },
    confidence: {
      type: 'number',
      minimum: 0,
      maximum: 1,
      description: 'Estimated probability the edge set is complete.',
    },
    reason: { type: 'string', description: 'Why the service is not converged yet (or that it is).' },
    edges: { type: 'integer', minimum: 0 },
    lastDenied: lastAlert('The latest connection denied (enforce).'),
    lastWouldDeny: lastAlert('The latest connection that would be denied (monitor).'),
    observedGeneration: { type: 'integer', minimum: 0 },
    conditions: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: {
        type: 'object',
        required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
        properties: {
          type: { type: 'string', minLength: 1 },
          status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
          observedGeneration: { type: 'integer', minimum: 0 },
          lastTransitionTime: { type: 'string', format: 'date-time' },
          reason: { type: 'string', minLength: 1 },
          message: { type: 'string' },
        },
      },
    },
  },
};

/** The CustomResourceDefinition, as an object (YAML-serialized by the generator). */
export function nanoSegmentCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${NANOSEGMENT_PLURAL}.${NANOSEG_GROUP}` },
    spec: {
      group: NANOSEG_GROUP,
      scope: 'Namespaced',
      names: {
        kind: NANOSEGMENT_KIND,
        listKind: `${NANOSEGMENT_KIND}List`,
        plural: NANOSEGMENT_PLURAL,
        singular: 'nanosegment',
        shortNames: ['nseg'],
      },
      versions: [
        {
          name: NANOSEGMENT_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          // as `nanoseg services` reads: SERVICE STATE MODE CONFIDENCE EDGES REASON
          additionalPrinterColumns: [
            { name: 'State', type: 'string', jsonPath: '.status.state' },
            { name: 'Mode', type: 'string', jsonPath: '.status.mode' },
            { name: 'Confidence', type: 'number', jsonPath: '.status.confidence' },
            { name: 'Edges', type: 'integer', jsonPath: '.status.edges' },
            { name: 'Reason', type: 'string', jsonPath: '.status.reason', priority: 1 },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'nanoseg segmentation of one service (named and namespaced as the service).',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: NANOSEGMENT_SPEC_SCHEMA,
                status: NANOSEGMENT_STATUS_SCHEMA,
              },
            },
          },
        },
      ],
    },
  };
}
