/** Schemas of the dashboard sign-in routes (session-routes.ts). */
import { Type } from 'typebox';
import { PASSWORD_MAX } from '../../model/operator.js';
import { NewPassword, RoleName } from './operator-schemas.js';

/**
 * A password as typed at sign-in: any length the policy ever allowed, bounded so a huge one
 * costs no scrypt work.
 */
const givenPassword = (description: string) =>
  Type.String({ minLength: 1, maxLength: PASSWORD_MAX, description });

export const SignInBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 64, description: 'The account name.' }),
    password: givenPassword("The account's password."),
  },
  { additionalProperties: false },
);

export const PasswordChangeBody = Type.Object(
  {
    current_password: givenPassword('The password in use now.'),
    new_password: NewPassword,
  },
  { additionalProperties: false },
);

export const SessionView = Type.Object({
  name: Type.String(),
  role: RoleName,
  kind: Type.Enum(['user', 'apikey', 'token'], {
    description: 'Signed in with a password, an API key, or the admin token.',
  }),
  actor: Type.String({ description: 'The name the audit log gives this caller.' }),
  csrf_token: Type.Optional(
    Type.String({
      description: 'Signed in with the session cookie only: send it as `X-CSRF-Token` with every change.',
    }),
  ),
});

/** A 204 answer: no body, what it did is in its headers. */
export const NoContent = (description: string) => Type.Null({ description });
