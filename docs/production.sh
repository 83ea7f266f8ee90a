#!/bin/sh
# scopegate on PostgreSQL, from an empty server to a first admin key. The README's production
# section is this file after `set -eu`; tests/ops/production-readme.test.ts runs it on a fresh database.
set -eu

# 0. Where PostgreSQL runs and what to call things (the defaults are the README's).
PG_HOST="${PG_HOST:-127.0.0.1:5432}"            # host:port of the PostgreSQL server
PG_SUPERUSER="${PG_SUPERUSER:-postgres}"        # used for steps 1, 2 and 4's grants only
DB="${DB:-scopegate}"
OWNER_ROLE="${OWNER_ROLE:-scopegate_owner}"     # owns the schema: migrate, audit prune
APP_ROLE="${APP_ROLE:-scopegate_app}"           # what servers run as: append-only audit log
SECRETS="${SECRETS:-/etc/scopegate}"            # your secret manager's mount in production
export SCOPEGATE_AUDIT_DIR="${SCOPEGATE_AUDIT_DIR:-/var/lib/scopegate/audit}"
export PORT="${PORT:-3000}"
SUPER_URL="postgres://$PG_SUPERUSER@$PG_HOST"

# 1. The database (as the superuser).
psql "$SUPER_URL/postgres" -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$DB\""

# 2. The two roles, with passwords of their own (printed nowhere; keep them with the secrets).
DATABASE_URL="$SUPER_URL/$DB" npx scopegate db roles --owner-role "$OWNER_ROLE" --app-role "$APP_ROLE" --apply
OWNER_PASSWORD="$(openssl rand -hex 24)"
APP_PASSWORD="$(openssl rand -hex 24)"
psql "$SUPER_URL/$DB" -v ON_ERROR_STOP=1 \
  -c "ALTER ROLE \"$OWNER_ROLE\" PASSWORD '$OWNER_PASSWORD'" \
  -c "ALTER ROLE \"$APP_ROLE\" PASSWORD '$APP_PASSWORD'"
OWNER_URL="postgres://$OWNER_ROLE:$OWNER_PASSWORD@$PG_HOST/$DB"
APP_URL="postgres://$APP_ROLE:$APP_PASSWORD@$PG_HOST/$DB"

# 3. The three secrets every server shares: base64 of 32 random bytes each, as files (mode 0600).
#    Never regenerate them: a new pepper invalidates every key (rotate as the README says).
mkdir -p "$SECRETS"
(
  umask 077
  [ -s "$SECRETS/pepper" ] || openssl rand -base64 32 > "$SECRETS/pepper"
  [ -s "$SECRETS/audit-key" ] || openssl rand -base64 32 > "$SECRETS/audit-key"
  [ -s "$SECRETS/audit-signing-key" ] || openssl rand -base64 32 > "$SECRETS/audit-signing-key"
)
export SCOPEGATE_PEPPER_FILE="$SECRETS/pepper"
export SCOPEGATE_AUDIT_KEY_FILE="$SECRETS/audit-key"
export SCOPEGATE_AUDIT_SIGNING_KEY_FILE="$SECRETS/audit-signing-key"
export SCOPEGATE_MODEL_PROVIDER="${SCOPEGATE_MODEL_PROVIDER:-offline}"   # or openai + OPENAI_API_KEY

# 4. Migrate as the owner, then grant the new tables to the application role (each release).
DATABASE_URL="$OWNER_URL" npx scopegate migrate
DATABASE_URL="$SUPER_URL/$DB" npx scopegate db roles --owner-role "$OWNER_ROLE" --app-role "$APP_ROLE" --apply

# 5. Serve as the application role. In production your process manager runs this line (HOST
#    is the bind address: every interface unless set); here it runs in the background.
DATABASE_URL="$APP_URL" npx scopegate serve >> "${LOG:-scopegate.log}" 2>&1 &
echo "scopegate serve: pid $!"
tries=0
until curl -fsS "http://127.0.0.1:$PORT/readyz"; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { echo "not ready after 60 s; see ${LOG:-scopegate.log}" >&2; break; }
  sleep 1
done
echo

# 6. The first admin key, made by the operator in the database itself. It is shown once:
#    store it in your secret manager; it manages keys, audit and documents over the API.
ADMIN_KEY="$(DATABASE_URL="$APP_URL" npx scopegate keys create --name admin --owner ops \
  --scope admin:keys --scope admin:audit --scope admin:documents --json |
  node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0, "utf8")).key)')"

# 7. Check it: list the keys through the running server.
curl -fsS -H "Authorization: Bearer $ADMIN_KEY" "http://127.0.0.1:$PORT/trpc/keys.list"
echo
