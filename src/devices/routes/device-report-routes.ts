/**
 * Generation 1.3 device reports (PROTOCOL-1.3.md §9): `POST /devices` (registration at boot),
 * `POST /power/energy/<id>` (every 300 s) and `POST /fault/recovery`. The firmware sends them as
 * bare JSON, so each goes through the control-request guard like its other control requests: a
 * sealed request, or a bare one where unsecured control is allowed for it and only from the
 * address of its latest authenticated upload.
 *
 * A registration never creates a device or changes a policy or key: a device is registered by its
 * first authenticated upload (or by an administrator). A known device's registration (through the
 * guard) replaces its name, firmware version, location and description: 200. For an id no device
 * has, a bare registration is kept as a *pending* registration (bounded, one per id, unverified)
 * that the operator sees and that shows on the device once it exists: 201. Where bare control
 * requests of generation 1.3 are not allowed (`ECOWATT_UNSECURED_CONTROL`), it is refused like
 * any other bare control request, so a stranger learns nothing about which ids exist.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { deviceProtocol, IdParams } from '../../http/api-schemas.js';
import { controlErrors, sealedOrBare, V1Envelope, V2Envelope } from '../../http/device-envelope-schemas.js';
import { storageCall } from '../../http/storage-call.js';
import { ApiError } from '../../model/errors.js';
import type { DeviceReportKind, Storage } from '../../ports/storage.js';
import type { UnsecuredControl } from '../../settings/sections.js';
import { type ControlRequestGuard, coversGeneration } from '../control-request-guard.js';
import {
  parseEnergyReport,
  parseFaultReport,
  parseRegistration,
  REPORT_RETENTION,
  reportDeviceId,
} from '../device-reports.js';
import { controlRequest, isBareDocument, namingDevice } from './device-reply.js';
import {
  EnergyDocument,
  FaultDocument,
  RegistrationAnswers,
  RegistrationDocument,
  ReportStored,
} from './report-schemas.js';

export interface ReportRouteDeps {
  guard: ControlRequestGuard;
  storage: Pick<Storage, 'getDevice' | 'recordReport'>;
  /** `ECOWATT_UNSECURED_CONTROL` as in force: whether a pending registration may be kept. */
  unsecuredControl: UnsecuredControl;
}

/** A bare body names its device by the path when it does not say; a report must have a body. */
const withDevice = (body: unknown, id: string): unknown =>
  body === undefined ? body : namingDevice(body, id);

export async function reportRoutes(app: FastifyInstance, deps: ReportRouteDeps): Promise<void> {
  const { guard, storage } = deps;

  const store = (
    request: FastifyRequest,
    kind: DeviceReportKind,
    deviceId: string,
    receivedAt: number,
    verified: boolean,
    body: object,
  ) =>
    storageCall(
      request.log,
      `${kind} report`,
      () =>
        storage.recordReport(
          {
            deviceId,
            kind,
            receivedAt,
            source: request.ip,
            verified,
            body: body as Record<string, unknown>,
          },
          REPORT_RETENTION[kind],
        ),
      { device: deviceId },
    );

  app.post(
    '/devices',
    {
      ...deviceProtocol,
      schema: {
        summary: 'Registration at boot (generation 1.3)',
        description:
          "A known device's registration (through the control-request guard) replaces its name, firmware version, location and description: 200. A bare one for an id no device has is kept as pending, where unsecured 1.3 control requests are allowed: 201. It never creates a device or changes a policy or key.",
        body: sealedOrBare(RegistrationDocument, [V1Envelope, V2Envelope]),
        response: { ...RegistrationAnswers, ...controlErrors() },
      },
    },
    async (request, reply) => {
      const now = Date.now();
      const body = request.body;
      if (isBareDocument(body)) {
        const id = reportDeviceId(body);
        const registration = parseRegistration(body);
        const known = await storageCall(request.log, 'device read', () => storage.getDevice(id));
        if (!known) {
          if (!coversGeneration(deps.unsecuredControl, '1.3')) {
            // The same refusal as the guard's for a bare request of any id it will not serve.
            throw new ApiError(
              'unsecured_not_allowed',
              'This device must seal its control requests in an envelope, or its policy must allow unsecured configuration.',
            );
          }
          await store(request, 'registration', id, now, false, registration);
          request.log.info(
            { event: 'registration_pending', device: id, source: request.ip },
            'registration kept as pending: no such device yet',
          );
          reply.code(201);
          return {
            status: 'pending',
            device_id: id,
            message: 'Registration noted; the device is registered by its first authenticated upload.',
          };
        }
      }
      const caller = await guard.authenticate(controlRequest(request, now, { generation: '1.3' }));
      const registration = parseRegistration(caller.document);
      await store(request, 'registration', caller.device.id, now, true, registration);
      return { status: 'registered', device_id: caller.device.id };
    },
  );

  app.post<{ Params: Static<typeof IdParams> }>(
    '/power/energy/:id',
    {
      ...deviceProtocol,
      schema: {
        summary: 'Energy report (generation 1.3, every `energy_poll_interval`)',
        params: IdParams,
        body: sealedOrBare(EnergyDocument, [V1Envelope, V2Envelope]),
        response: { 201: ReportStored, ...controlErrors() },
      },
    },
    async (request, reply) => {
      const now = Date.now();
      const id = request.params.id;
      const caller = await guard.authenticate(
        controlRequest(request, now, {
          body: withDevice(request.body, id),
          pathDeviceId: id,
          generation: '1.3',
        }),
      );
      const report = parseEnergyReport(caller.document);
      const stored = await store(request, 'energy', caller.device.id, now, true, report);
      reply.code(201);
      return { status: 'success', device_id: caller.device.id, report_id: stored.id };
    },
  );

  app.post(
    '/fault/recovery',
    {
      ...deviceProtocol,
      schema: {
        summary: 'Fault-recovery report (generation 1.3)',
        body: sealedOrBare(FaultDocument, [V1Envelope, V2Envelope]),
        response: { 201: ReportStored, ...controlErrors() },
      },
    },
    async (request, reply) => {
      const now = Date.now();
      const caller = await guard.authenticate(controlRequest(request, now, { generation: '1.3' }));
      const report = parseFaultReport(caller.document);
      const stored = await store(request, 'fault', caller.device.id, now, true, report);
      reply.code(201);
      return { status: 'success', device_id: caller.device.id, report_id: stored.id };
    },
  );
}
