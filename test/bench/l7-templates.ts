// The 100 method + path templates the l7-cost benchmark puts on one edge, and one request per template that the
// template allows. REST-shaped: 25 collections, each with list (GET, with a query string), create (POST), read
// (GET /{id}) and delete (DELETE /{id}). Pure.
import type { LoadRequest } from './lab-apps.js';

const COLLECTIONS = [
  'accounts',
  'addresses',
  'brands',
  'carts',
  'categories',
  'coupons',
  'events',
  'images',
  'invoices',
  'items',
  'notes',
  'orders',
  'payments',
  'products',
  'refunds',
  'reports',
  'returns',
  'reviews',
  'sessions',
  'shipments',
  'stores',
  'tags',
  'tokens',
  'users',
  'vendors',
] as const;

export interface TemplateCase {
  /** the template as a policy file writes it */
  readonly template: { readonly method: LoadRequest['method']; readonly path: string };
  /** a request the template (and only it) allows */
  readonly request: LoadRequest;
}

/** 100 templates, each with a request it allows (ids differ per collection, as a real client's would). */
export function templateCases(): TemplateCase[] {
  return COLLECTIONS.flatMap((c, i): TemplateCase[] => {
    const id = String(1000 + i * 37);
    return [
      { template: { method: 'GET', path: `/v1/${c}` }, request: { method: 'GET', path: `/v1/${c}?page=2` } },
      { template: { method: 'POST', path: `/v1/${c}` }, request: { method: 'POST', path: `/v1/${c}` } },
      { template: { method: 'GET', path: `/v1/${c}/{id}` }, request: { method: 'GET', path: `/v1/${c}/${id}` } },
      {
        template: { method: 'DELETE', path: `/v1/${c}/{id}` },
        request: { method: 'DELETE', path: `/v1/${c}/${id}` },
      },
    ];
  });
}

/** A request none of the templates allows (a new collection). */
export const UNLISTED_PATH = '/v1/secrets/7';
