CREATE TABLE "audit_checkpoints" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"writer_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"kind" text NOT NULL,
	"body" text NOT NULL,
	"signature" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "audit_log_key_id_idx";--> statement-breakpoint
DROP INDEX "audit_log_owner_idx";--> statement-breakpoint
DROP INDEX "audit_log_ts_idx";--> statement-breakpoint
CREATE INDEX "audit_checkpoints_writer_seq_idx" ON "audit_checkpoints" USING btree ("writer_id","seq");--> statement-breakpoint
CREATE INDEX "audit_log_key_ts_idx" ON "audit_log" USING btree ("key_id","ts","id");--> statement-breakpoint
CREATE INDEX "audit_log_owner_ts_idx" ON "audit_log" USING btree ("owner","ts","id");--> statement-breakpoint
CREATE INDEX "audit_log_ts_idx" ON "audit_log" USING btree ("ts","id");