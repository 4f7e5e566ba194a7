// The inventory folder's public surface: the InventorySource seam, the inventory schema and its validation (pure),
// the inventory file's parser (pure) and the file as an InventorySource (the adapter, the only part doing I/O).
export type { InventorySource, InventoryUpdate } from './source.js';
export { INVENTORY_API_VERSION, INVENTORY_KIND, INVENTORY_SCHEMA, INVENTORY_FILE_SCHEMA } from './schema.js';
export type { StructuralSchema } from './schema.js';
export { validateInventory, checkInventory, closedSchema, formatPath } from './validate.js';
export type { InventoryCheck, InventoryForm, InventoryProblem, PathSegment } from './validate.js';
export { parseInventoryFile, formatInventoryFileErrors } from './file.js';
export { FileInventorySource, InventoryFileError, FILE_SOURCE } from './file-source.js';
export type { FileInventorySourceOptions, FileInventoryStatus } from './file-source.js';
export { IdentityIndex, normalizeIp } from './identity.js';
export type { AddressOwner, WorkloadRef } from './identity.js';
export { mergeInventories } from './merge.js';
export { PushedInventories } from './pushed.js';
