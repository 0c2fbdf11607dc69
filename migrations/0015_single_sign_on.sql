-- Single sign-on (OpenID Connect) and break-glass accounts.

-- The provider (issuer) and its lasting id for the person (`sub`), once the account is linked.
ALTER TABLE users ADD COLUMN oidc_issuer TEXT;
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
-- Created at a first sign-in through the provider, from the person's groups: such an account
-- keeps access only while a group gives it a role. (Accounts an admin made keep their role.)
ALTER TABLE users ADD COLUMN provisioned INTEGER NOT NULL DEFAULT 0 CHECK (provisioned IN (0, 1));
-- May sign in with a password when password sign-in is off (CALLERDESK_PASSWORD_SIGNIN=false),
-- so that the install can't lock itself out when the provider is down.
ALTER TABLE users ADD COLUMN break_glass INTEGER NOT NULL DEFAULT 0 CHECK (break_glass IN (0, 1));

CREATE UNIQUE INDEX users_by_oidc_subject ON users (oidc_issuer, oidc_subject)
    WHERE oidc_subject IS NOT NULL;
