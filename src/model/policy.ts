/**
 * Why here: the reasons an upload is refused by its device's policy are named by the storage
 * port's commit outcome and decided by `devices/upload-policy.ts`; defined below both so the port
 * does not import the ingest stage that imports it.
 */

export type PolicyRejection =
  | 'device_disabled'
  | 'v2_required'
  | 'encryption_required'
  | 'unsecured_not_allowed'
  | 'fleet_key_not_allowed';
