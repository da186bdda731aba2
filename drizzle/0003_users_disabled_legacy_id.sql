ALTER TABLE "users" ADD COLUMN "disabled_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "legacy_id" text;--> statement-breakpoint
CREATE INDEX "users_legacy_id_idx" ON "users" USING btree ("legacy_id");