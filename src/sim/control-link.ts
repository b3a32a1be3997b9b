/**
 * A fleet device's control requests (`/changes`, command polls and results, OTA): each body is
 * sealed with the next nonce of the device's one counter, exactly like its uploads (the server
 * advances the same replay state), sent over the device's own link, and judged. A v2 device
 * trusts an answer only if its `X-EcoWatt-MAC` verifies for the request it sent.
 */
import { outcomeOf, TRANSPORT_ERROR } from './answers.js';
import type { FieldDevice } from './field-device.js';
import type { Requester } from './transport.js';
import { answerMacValid } from './v2-answers.js';

/**
 * `changes`, `commands`, `firmware`: e84f720 and v2 devices; generation 1.3 devices add their own
 * kinds (gen13-fleet.ts) and share `commands` and `firmware`.
 */
export type ControlKind =
  | 'changes'
  | 'commands'
  | 'firmware'
  | 'boot'
  | 'registration'
  | 'config'
  | 'config_ack'
  | 'config_current'
  | 'energy'
  | 'fault';

export interface ControlAnswer {
  /** `"200"`, `"<status> <code>"`, `"transport_error"`, or `"untrusted_answer"` (v2 MAC failed). */
  outcome: string;
  /** 0 when no answer arrived. */
  status: number;
  /** The parsed body (undefined when it is not JSON or did not arrive). */
  json: unknown;
  text: string;
  /** A 2xx answer the device may act on (for a v2 device: its MAC verified). */
  ok: boolean;
  /** The v2 key that sealed the request (a `/changes` key offer is opened with it). */
  sealedWith: FieldDevice['v2'];
}

/** The highest nonce the server is known to have taken from the device (shared with uploads). */
export interface NonceLedger {
  maxAcked: number;
}

/** What the simulator learns about each request: why it was sent and whether the answer is right. */
export type ControlJudge = (
  kind: ControlKind,
  intent: 'valid' | 'wiped',
  outcome: string,
  expected: boolean,
) => void;

export const UNTRUSTED_ANSWER = 'untrusted_answer';

/**
 * The server took the nonce when it got past authentication: the guard advances the replay state
 * before the route runs, so a route's own refusal (409 for a result, say) still consumed it.
 */
const consumedNonce = (status: number) => (status >= 200 && status < 300) || status === 409;

export class ControlLink {
  constructor(
    private readonly device: FieldDevice,
    private readonly requester: Requester,
    private readonly ledger: NonceLedger,
    private readonly judge: ControlJudge,
  ) {}

  async send(kind: ControlKind, path: string, doc: Record<string, unknown>): Promise<ControlAnswer> {
    const sealed = this.device.sealRequest(doc);
    // A wiped counter re-uses nonces the server has seen: those requests must be refused.
    const intent = sealed.nonce <= this.ledger.maxAcked ? 'wiped' : 'valid';
    let status = 0;
    let text = '';
    let mac: string | undefined;
    try {
      ({ status, text, mac } = await this.requester({ method: 'POST', path, body: sealed.body }));
    } catch {
      this.judge(kind, intent, TRANSPORT_ERROR, false);
      return { outcome: TRANSPORT_ERROR, status, json: undefined, text, ok: false, sealedWith: sealed.v2 };
    }
    if (consumedNonce(status)) this.ledger.maxAcked = Math.max(this.ledger.maxAcked, sealed.nonce);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const success = status >= 200 && status < 300;
    // Every answer to a v2-authenticated request is signed; a success without a valid MAC could
    // be anyone's, and a signed answer that does not verify is no better. A refusal made before
    // the request was authenticated carries no MAC and is taken as the refusal it is.
    const trusted =
      sealed.v2 === undefined ||
      (mac === undefined
        ? !success
        : answerMacValid(this.device.id, sealed.v2, sealed.nonce, status, text, mac));
    const outcome = trusted ? outcomeOf(status, text) : UNTRUSTED_ANSWER;
    const expected = trusted && (intent === 'wiped' ? outcome === '401 replayed_nonce' : success);
    this.judge(kind, intent, outcome, expected);
    return { outcome, status, json, text, ok: success && trusted, sealedWith: sealed.v2 };
  }
}
