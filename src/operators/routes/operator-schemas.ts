/**
 * Schemas of the account and API-key routes (what operator-views.ts writes, what the routes take),
 * and the account fields the sign-in routes share. No schema has room for a password hash or a
 * key hash; a new key's secret appears in one answer only, `NewApiKeyAnswer`.
 */
import { Type } from 'typebox';
import { IsoTime, Nullable } from '../../http/api-schemas.js';
import { NAME_PATTERN, PASSWORD_MAX, PASSWORD_MIN, ROLES } from '../../model/operator.js';
import { MAX_KEY_DAYS } from '../operator-service.js';

/**
 * The error answers of a route that needs a role, besides the route's own: no or bad credentials,
 * a role too low (none is below viewer), and a change made with the session cookie but without
 * its CSRF token. Nothing here is specific to accounts: a candidate for http/api-schemas.ts.
 */
export const RoleName = Type.Enum(ROLES, {
  description: 'Viewers read; operators also change configuration and send commands; admins do everything.',
});

/** Account and API-key names (the service checks the same rule for the CLI). */
export const AccountName = Type.String({
  minLength: 1,
  pattern: NAME_PATTERN.source,
  description: 'a name of at most 64 letters, digits, ".", "_" or "-", starting with a letter or digit',
});

/**
 * A new password. A pattern rather than minLength/maxLength, so a refusal reads as the service's
 * own check does (the CLI's direct mode goes through that one): `password: expected 10 to 1024 characters`.
 */
export const NewPassword = Type.String({
  pattern: `^[\\s\\S]{${PASSWORD_MIN},${PASSWORD_MAX}}$`,
  description: `${PASSWORD_MIN} to ${PASSWORD_MAX} characters`,
});

export const NameParams = Type.Object({ name: Type.String({ minLength: 1 }) });

export const UserView = Type.Object({
  name: Type.String(),
  role: RoleName,
  enabled: Type.Boolean(),
  created_at: IsoTime,
  last_sign_in_at: Nullable(IsoTime),
  password_changed_at: IsoTime,
  failed_sign_ins: Type.Integer({ description: 'Failed sign-ins in a row since the last good one.' }),
  locked_until: Nullable(
    Type.String({
      format: 'date-time',
      description: 'Sign-ins are refused until then; `null` when the account is not locked.',
    }),
  ),
});

export const UserAnswer = Type.Object({ user: UserView });
export const UserList = Type.Object({ users: Type.Array(UserView) });

export const ApiKeyView = Type.Object({
  name: Type.String(),
  role: RoleName,
  prefix: Type.String({ description: 'The visible start of the key (`ew_<prefix>_`), to recognise it.' }),
  created_at: IsoTime,
  created_by: Type.String({ description: 'The actor that created it, as in the audit log.' }),
  expires_at: Nullable(IsoTime),
  last_used_at: Nullable(IsoTime),
  revoked_at: Nullable(IsoTime),
  state: Type.Enum(['active', 'expired', 'revoked']),
});

export const ApiKeyAnswer = Type.Object({ api_key: ApiKeyView });
export const ApiKeyList = Type.Object({ api_keys: Type.Array(ApiKeyView) });

export const NewApiKeyAnswer = Type.Object({
  name: Type.String(),
  role: RoleName,
  key: Type.String({
    description: 'The whole key (`ew_<prefix>_<secret>`): shown in this answer only, never again.',
  }),
  api_key: ApiKeyView,
});

export const NewUserBody = Type.Object(
  { name: AccountName, role: RoleName, password: NewPassword },
  { additionalProperties: false },
);

export const RoleBody = Type.Object(
  { role: Type.Enum(ROLES, { description: 'The only field that can be changed here.' }) },
  { additionalProperties: false },
);

export const PasswordBody = Type.Object({ password: NewPassword }, { additionalProperties: false });

export const NewApiKeyBody = Type.Object(
  {
    name: AccountName,
    role: RoleName,
    expires_days: Type.Optional(
      Nullable(
        Type.Integer({
          minimum: 1,
          maximum: MAX_KEY_DAYS,
          description: 'Days until the key expires; absent or `null`: it never does.',
        }),
      ),
    ),
  },
  { additionalProperties: false },
);
