// Least-privilege Postgres roles: an owner role that owns the schema, runs migrations and may
// prune the audit log, and an application role for `scopegate serve` that can append and read
// audit records but never update or delete them. The SQL is idempotent: rerun it after each
// migration so new tables get their grants.

export interface RoleNames {
  database: string;
  owner: string;
  app: string;
}

const ident = (name: string): string => {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`not a safe role or database name: ${name}`);
  return `"${name}"`;
};

// What the application may do to each table; everything else is denied by default.
const APP_GRANTS: Record<string, string> = {
  api_keys: "SELECT, INSERT, UPDATE",
  key_limits: "SELECT, INSERT, UPDATE",
  documents: "SELECT, INSERT, DELETE",
  // Append-only: no UPDATE, DELETE or TRUNCATE, so a compromised server cannot rewrite history.
  audit_log: "SELECT, INSERT",
  audit_checkpoints: "SELECT, INSERT",
};

export function rolesSql(names: RoleNames): string {
  const db = ident(names.database);
  const owner = ident(names.owner);
  const app = ident(names.app);
  const roleLiteral = (name: string) => `'${name}'`;
  const tables = Object.entries(APP_GRANTS);
  return `-- scopegate least-privilege roles (idempotent). Set passwords separately:
--   ALTER ROLE ${owner} PASSWORD '…';  ALTER ROLE ${app} PASSWORD '…';
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${roleLiteral(names.owner)}) THEN CREATE ROLE ${owner} LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${roleLiteral(names.app)}) THEN CREATE ROLE ${app} LOGIN; END IF;
END $$;
GRANT CONNECT, CREATE ON DATABASE ${db} TO ${owner};
GRANT CONNECT ON DATABASE ${db} TO ${app};
GRANT USAGE, CREATE ON SCHEMA public TO ${owner};
CREATE SCHEMA IF NOT EXISTS drizzle AUTHORIZATION ${owner};
ALTER SCHEMA drizzle OWNER TO ${owner};
-- The owner owns every existing table and sequence (migrations and prune run as the owner).
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT schemaname, tablename FROM pg_tables WHERE schemaname IN ('public', 'drizzle') LOOP
    EXECUTE format('ALTER TABLE %I.%I OWNER TO ${owner}', r.schemaname, r.tablename);
  END LOOP;
  FOR r IN SELECT sequence_schema, sequence_name FROM information_schema.sequences
           WHERE sequence_schema IN ('public', 'drizzle') LOOP
    EXECUTE format('ALTER SEQUENCE %I.%I OWNER TO ${owner}', r.sequence_schema, r.sequence_name);
  END LOOP;
END $$;
GRANT USAGE ON SCHEMA public TO ${app};
GRANT USAGE ON SCHEMA drizzle TO ${app};
DO $$
BEGIN
  IF to_regclass('drizzle.__drizzle_migrations') IS NOT NULL THEN
    GRANT SELECT ON drizzle.__drizzle_migrations TO ${app};
  END IF;
END $$;
${tables
  .map(
    ([table, privileges]) => `DO $$
BEGIN
  IF to_regclass('public.${table}') IS NOT NULL THEN
    REVOKE ALL ON public.${table} FROM ${app};
    GRANT ${privileges} ON public.${table} TO ${app};
  END IF;
END $$;`,
  )
  .join("\n")}
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${app};
-- Tables added by later migrations are readable and appendable until this script is rerun.
ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO ${app};
ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT USAGE ON SEQUENCES TO ${app};
`;
}
