CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"env" text NOT NULL,
	"secret_hash" text NOT NULL,
	"pepper_version" integer NOT NULL,
	"name" text NOT NULL,
	"owner" text NOT NULL,
	"scopes" text[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"limit_id" text NOT NULL,
	"parent_id" text,
	"rotated_from_id" text,
	"end_user" text,
	"created_by" text NOT NULL,
	"last_used_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "audit_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"writer_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"ts" timestamp with time zone NOT NULL,
	"call_id" text,
	"request_id" text NOT NULL,
	"phase" text NOT NULL,
	"key_id" text,
	"key_fingerprint" text,
	"owner" text,
	"end_user" text,
	"procedure" text,
	"scopes" text[],
	"outcome" text,
	"reason" text,
	"input" text,
	"output" text,
	"redactions" text[],
	"flags" text[],
	"model" text,
	"input_tokens" integer,
	"output_tokens" integer,
	"latency_ms" integer,
	"client_address" text,
	"count" integer DEFAULT 1 NOT NULL,
	"details" jsonb,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "documents" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"source" text NOT NULL,
	"title" text NOT NULL,
	"body" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "key_limits" (
	"id" text PRIMARY KEY NOT NULL,
	"rpm" integer,
	"daily_tokens" bigint,
	"max_uses" bigint,
	"uses" bigint DEFAULT 0 NOT NULL,
	"tat" double precision DEFAULT 0 NOT NULL,
	"token_day" text,
	"tokens_used" bigint DEFAULT 0 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "api_keys" ADD CONSTRAINT "api_keys_parent_id_api_keys_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."api_keys"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "api_keys_parent_id_idx" ON "api_keys" USING btree ("parent_id") WHERE "api_keys"."parent_id" is not null;--> statement-breakpoint
CREATE INDEX "api_keys_owner_idx" ON "api_keys" USING btree ("owner");--> statement-breakpoint
CREATE INDEX "api_keys_rotated_from_idx" ON "api_keys" USING btree ("rotated_from_id") WHERE "api_keys"."rotated_from_id" is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "audit_log_writer_seq_idx" ON "audit_log" USING btree ("writer_id","seq");--> statement-breakpoint
CREATE INDEX "audit_log_key_id_idx" ON "audit_log" USING btree ("key_id","id");--> statement-breakpoint
CREATE INDEX "audit_log_owner_idx" ON "audit_log" USING btree ("owner","id");--> statement-breakpoint
CREATE INDEX "audit_log_ts_idx" ON "audit_log" USING btree ("ts");--> statement-breakpoint
CREATE INDEX "audit_log_call_id_idx" ON "audit_log" USING btree ("call_id");--> statement-breakpoint
CREATE INDEX "documents_source_idx" ON "documents" USING btree ("source","created_at");